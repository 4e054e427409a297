"""A fresh PostgreSQL database per use, on the server named by PARLEY_TEST_POSTGRES_URL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def server_url() -> str:
    """The maintenance URL of the test server; only call when PostgreSQL is configured."""
    url = os.environ.get("PARLEY_TEST_POSTGRES_URL")
    if not url:
        raise RuntimeError("PARLEY_TEST_POSTGRES_URL is not set")
    return url


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(server_url())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create a uniquely named empty database, yield its URL, drop it (and its sessions) after."""
    name = f"parley_test_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_url(), name)
    finally:
        # FORCE terminates whatever sessions a test left behind before dropping.
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def migrate_until(conn: asyncpg.Connection, last: int) -> None:
    """Apply parley's PostgreSQL migrations up to and including ``last`` on ``conn``, recorded
    as ``parley migrate`` records them: an older schema for an upgrade test to seed."""
    from parley.store.migrations import migrations

    await conn.execute(
        "CREATE TABLE parley_migrations (version integer PRIMARY KEY, "
        "name text NOT NULL, applied_at bigint NOT NULL)"
    )
    for version, name, sql in migrations("postgres"):
        if version > last:
            break
        await conn.execute(sql)
        await conn.execute("INSERT INTO parley_migrations VALUES ($1, $2, 0)", version, name)
