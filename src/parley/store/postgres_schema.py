"""Reaching and preparing the PostgreSQL database: which failures mean "unavailable" (a
503 clients may retry), the schema version, and the migrations."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from parley.errors import ParleyError, ServiceUnavailable, query_timeout
from parley.store.migrations import check_version, migrations

log = logging.getLogger("parley.postgres")

# pg_advisory_xact_lock key for migrations: "parley" in ASCII. Two processes migrating an
# empty database at once queue on it; the second then finds nothing left to do.
MIGRATION_LOCK = 0x7061726C6579

UNAVAILABLE_MESSAGE = "The database is unavailable right now. Please retry your request shortly."


# -- availability ----------------------------------------------------------------------------


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot serve right now (down, restarting, dropped)."""
    if isinstance(
        exc,
        OSError
        | TimeoutError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.InsufficientResourcesError
        | asyncpg.exceptions.CannotConnectNowError,
    ):
        return True
    # asyncpg reports a connection the server already closed as a plain InterfaceError.
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


def unavailable() -> ServiceUnavailable:
    """The 503 answered while the database is unreachable; clients may retry."""
    return ServiceUnavailable(UNAVAILABLE_MESSAGE, headers={"retry-after": "1"})


def translate(exc: BaseException, budget: float = 0.0) -> BaseException | None:
    """What to raise instead of ``exc`` (None: ``exc`` itself): a 503 for an unavailable
    database or a statement past its budget."""
    if isinstance(exc, ParleyError):
        return None
    if isinstance(exc, asyncpg.QueryCanceledError):
        # statement_timeout: the same 503 as a SQLite read past its budget.
        return query_timeout(budget)
    if isinstance(exc, Exception) and is_unavailable(exc):
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return unavailable()
    return None


@contextlib.asynccontextmanager
async def translated(budget: float = 0.0) -> AsyncIterator[None]:
    try:
        yield
    except Exception as exc:
        instead = translate(exc, budget)
        if instead is None:
            raise
        raise instead from None


# -- migrations ------------------------------------------------------------------------------


async def schema_version(conn: Any) -> int:
    """The newest migration recorded in the database, 0 for an empty one."""
    if await conn.fetchval("SELECT to_regclass('parley_migrations')") is None:
        return 0
    version: int = await conn.fetchval("SELECT coalesce(max(version), 0) FROM parley_migrations")
    return version


async def migrate_connection(conn: Any) -> list[str]:
    """Apply pending migrations over ``conn`` in one transaction; return the names applied."""
    known = migrations("postgres")
    newest = known[-1][0] if known else 0
    async with conn.transaction():
        # Taken before anything is read, so concurrent starters queue here instead of racing
        # on CREATE TABLE; released by COMMIT.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS parley_migrations ("
            "version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)"
        )
        current = await schema_version(conn)
        check_version("the PostgreSQL database", current, newest)
        applied = []
        for version, name, sql in known:
            if version <= current:
                continue
            await conn.execute(sql)
            if name.endswith("_search.sql"):
                # Items stored before the search index existed get their text in the same
                # transaction (the extraction is Python, parley.search.item_text).
                from parley.store.postgres_extensions import backfill_search

                await backfill_search(conn)
            await conn.execute(
                "INSERT INTO parley_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                version,
                name,
                int(time.time()),
            )
            applied.append(name)
        return applied


async def migrate(url: str, *, pgbouncer: bool = False) -> list[str]:
    """Apply pending migrations to the database at ``url``; return the names applied.

    ``pgbouncer``: ``url`` is a PgBouncer in transaction mode, where a named prepared
    statement would stay behind on a server connection that other clients get next.
    """
    async with translated():
        conn = await asyncpg.connect(url, timeout=10, statement_cache_size=0 if pgbouncer else 100)
    try:
        async with translated():
            return await migrate_connection(conn)
    finally:
        await conn.close()
