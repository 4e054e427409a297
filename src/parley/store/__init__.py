"""Store backends behind one protocol; :func:`open_store` picks one from a URL or path."""

from __future__ import annotations

from typing import Literal, NamedTuple

from parley.settings import DEFAULTS, PostgresOptions, SQLiteOptions
from parley.store.base import Order, Store

__all__ = ["DatabaseURL", "MissingDriver", "Order", "Store", "open_store", "parse_url"]


class DatabaseURL(NamedTuple):
    """Which backend a ``--database`` value names, and where: a file path or a server URL."""

    backend: Literal["sqlite", "postgres"]
    location: str


def parse_url(url: str) -> DatabaseURL:
    """``postgresql://…`` / ``postgres://…`` → PostgreSQL; ``sqlite:///path``, ``sqlite://path``
    or a bare path → that SQLite file (``sqlite:////abs`` is the absolute ``/abs``)."""
    if url.startswith(("postgresql://", "postgres://")):
        return DatabaseURL("postgres", url)
    for prefix in ("sqlite:///", "sqlite://"):
        if url.startswith(prefix):
            return DatabaseURL("sqlite", url.removeprefix(prefix))
    return DatabaseURL("sqlite", url)


class MissingDriver(RuntimeError):
    """A database URL whose driver (an optional dependency) is not installed."""


def open_store(
    url: str,
    *,
    migrate: bool = True,
    statement_timeout: float = DEFAULTS.statement_timeout,
    sqlite: SQLiteOptions = DEFAULTS.sqlite,
    postgres: PostgresOptions = DEFAULTS.postgres,
) -> Store:
    """A store for ``url``: a file path or ``sqlite:///path`` → SQLite; ``postgresql://`` → PG.

    Each backend takes its own options; ``statement_timeout`` (seconds, 0: none) bounds a
    query on both.
    """
    backend, location = parse_url(url)
    if backend == "postgres":
        try:
            from parley.store.postgres import PostgresStore
        except ModuleNotFoundError as exc:
            if exc.name != "asyncpg":
                raise
            raise MissingDriver(
                "PostgreSQL needs asyncpg, which is not installed: pip install asyncpg "
                "(or install parley with its extra: pip install 'conversations-server[postgres]')"
            ) from None
        return PostgresStore(
            location,
            pool_size=postgres.pool_size,
            pgbouncer=postgres.pgbouncer,
            statement_timeout=statement_timeout,
            migrate=migrate,
        )
    from parley.store.sqlite import SQLiteStore

    return SQLiteStore(
        location,
        synchronous=sqlite.synchronous,
        statement_timeout=statement_timeout,
        migrate=migrate,
    )
