"""Opening and migrating a SQLite file: the connection settings every parley connection
uses, and the numbered migrations applied in one transaction."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from parley.store.migrations import check_version, migrations


def connect(path: str) -> sqlite3.Connection:
    """A connection as parley opens them: autocommit, waits for locks, foreign keys on."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def migrate(path: str) -> list[str]:
    """Apply pending migrations to the SQLite file at ``path``; return the names applied."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS parley_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            row = conn.execute("SELECT max(version) FROM parley_migrations").fetchone()
            current = row[0] or 0
            known = migrations("sqlite")
            newest = known[-1][0] if known else 0
            check_version(path, current, newest)
            applied = []
            for version, name, sql in known:
                if version <= current:
                    continue
                for statement in _statements(sql):
                    conn.execute(statement)
                if name.endswith("_search.sql"):
                    # Items stored before the search index existed are indexed in the same
                    # transaction (the extraction is Python, parley.search.item_text).
                    from parley.store.sqlite_extensions import backfill_search

                    backfill_search(conn)
                conn.execute(
                    "INSERT INTO parley_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, int(time.time())),
                )
                applied.append(name)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return applied
    finally:
        conn.close()


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (our migrations hold no ';' inside literals)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
