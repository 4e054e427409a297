"""Store backends behind one protocol; :func:`open_store` picks one from a URL or path."""

from __future__ import annotations

from parley.settings import DEFAULTS, PostgresOptions, SQLiteOptions
from parley.store.base import Order, Store

__all__ = ["MissingDriver", "Order", "Store", "open_store"]


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
    if url.startswith(("postgresql://", "postgres://")):
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
            url,
            pool_size=postgres.pool_size,
            statement_timeout=statement_timeout,
            migrate=migrate,
        )
    from parley.store.sqlite import SQLiteStore

    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    path = path.removeprefix("sqlite://")
    return SQLiteStore(
        path, synchronous=sqlite.synchronous, statement_timeout=statement_timeout, migrate=migrate
    )
