"""Store backends behind one protocol; :func:`open_store` picks one from a URL or path."""

from __future__ import annotations

from parley.store.base import Order, Store

__all__ = ["Order", "Store", "open_store"]


def open_store(url: str, **options: object) -> Store:
    """A store for ``url``: a file path or ``sqlite:///path`` → SQLite; ``postgresql://`` → PG."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from parley.store.postgres import PostgresStore
        except ModuleNotFoundError as exc:
            if exc.name != "asyncpg":
                raise
            raise RuntimeError("PostgreSQL needs asyncpg: pip install 'parley[postgres]'") from None
        return PostgresStore(url, **options)  # type: ignore[arg-type]
    from parley.store.sqlite import SQLiteStore

    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    path = path.removeprefix("sqlite://")
    return SQLiteStore(path, **options)  # type: ignore[arg-type]
