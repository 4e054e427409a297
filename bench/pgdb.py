"""A fresh PostgreSQL database for one benchmark run, created and dropped on the given server."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new empty database next to ``url``'s, dropped afterwards; ``url`` itself when the role
    may not create databases (then the run's data stays, in a project of its own)."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        sys.exit("bench: PostgreSQL needs asyncpg: pip install -e '.[postgres]'")
    name = f"parley_bench_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(url, f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no CREATEDB privilege, or the like
        print(f"bench: could not create a fresh database ({exc}); using {url} as given")
        yield url
        return
    try:
        yield _with_database(url, name)
    finally:
        asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
