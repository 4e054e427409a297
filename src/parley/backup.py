"""Online backup and checked restore of a SQLite store, through SQLite's backup API.

A backup copies every page in one step of the backup API, inside one read transaction: in WAL
mode that is a consistent snapshot of the last commit, and the server's writer goes on
committing meanwhile (readers never block the WAL writer). The copy is switched to a rollback
journal so it is one self-contained file, checked, and only then renamed into place.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path

from parley.store.sqlite import migrations


class BackupError(RuntimeError):
    """A backup or restore that was refused or failed; the message says why."""


@dataclass(frozen=True)
class Summary:
    """What a checked SQLite file holds."""

    schema_version: int
    conversations: int
    items: int
    keys: int
    bytes: int
    seconds: float = 0.0


def _is_postgres(database: str) -> bool:
    return database.startswith(("postgres://", "postgresql://"))


def sqlite_path(database: str) -> str:
    """The file path of a SQLite database given as a path or a sqlite:// URL."""
    if _is_postgres(database):
        raise BackupError(
            "parley backup/restore handle SQLite files; for PostgreSQL use pg_dump and "
            "pg_restore (or your provider's snapshots)."
        )
    path = database.removeprefix("sqlite:///") if database.startswith("sqlite:///") else database
    return path.removeprefix("sqlite://")


def check(path: str) -> Summary:
    """Open ``path`` read-only and check it is a sound parley database; raise BackupError if not."""
    if not Path(path).is_file():
        raise BackupError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open: {exc}") from None
    try:
        try:
            verdict = conn.execute("PRAGMA integrity_check").fetchall()
            if verdict != [("ok",)]:
                problems = "; ".join(str(row[0]) for row in verdict[:5])
                raise BackupError(f"{path}: integrity check failed: {problems}")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if "parley_migrations" not in tables:
                raise BackupError(f"{path}: not a parley database (no parley_migrations table)")
            version = conn.execute("SELECT max(version) FROM parley_migrations").fetchone()[0]
            newest = migrations("sqlite")[-1][0]
            if version is None or version > newest:
                raise BackupError(
                    f"{path}: schema version {version} is not one this parley knows (1 to {newest})"
                )
            counts = [
                conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("conversations", "items", "api_keys")
            ]
        except sqlite3.DatabaseError as exc:  # not a database, or damaged past reading
            raise BackupError(f"{path}: not a readable SQLite database: {exc}") from None
    finally:
        conn.close()
    conversations, items, keys = counts
    return Summary(int(version), conversations, items, keys, Path(path).stat().st_size)


def _copy(source: sqlite3.Connection, target_path: str) -> None:
    target = sqlite3.connect(target_path, isolation_level=None)
    try:
        source.backup(target)  # pages=-1: the whole database in one step, one snapshot
        target.execute("PRAGMA journal_mode = DELETE")
    finally:
        target.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(database: str, destination: str, *, force: bool = False) -> Summary:
    """Copy the live SQLite ``database`` to ``destination`` consistently; return its summary."""
    source_path = sqlite_path(database)
    if not Path(source_path).is_file():
        raise BackupError(f"{source_path}: no such database")
    target = Path(destination)
    if target.exists() and not force:
        raise BackupError(f"{destination} exists; pass --force to overwrite it")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    began = time.perf_counter()
    source = sqlite3.connect(source_path, isolation_level=None)
    try:
        source.execute("PRAGMA busy_timeout = 10000")
        _copy(source, str(partial))
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup failed: {exc}") from None
    finally:
        source.close()
    try:
        summary = check(str(partial))
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    _fsync(partial)
    os.replace(partial, target)
    _fsync(target.parent)
    return replace(summary, seconds=time.perf_counter() - began)


def restore(backup_file: str, database: str, *, force: bool = False) -> Summary:
    """Check ``backup_file``, then copy it over ``database`` (stop the server first)."""
    target_path = sqlite_path(database)
    summary = check(backup_file)
    target = Path(target_path)
    if target.exists() and target.stat().st_size > 0 and not force:
        raise BackupError(
            f"{target_path} exists; stop the server and pass --force to replace its contents"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        destination = sqlite3.connect(target_path, isolation_level=None)
        try:
            destination.execute("PRAGMA busy_timeout = 10000")
            # Through the backup API rather than a file copy: it takes SQLite's locks and
            # writes through the target's own journal, so a stale WAL cannot resurrect
            # old pages.
            source.backup(destination)
            destination.execute("PRAGMA journal_mode = WAL")
        finally:
            destination.close()
    except sqlite3.Error as exc:
        raise BackupError(f"restore failed: {exc}") from None
    finally:
        source.close()
    restored = check(target_path)
    if (restored.conversations, restored.items) != (summary.conversations, summary.items):
        raise BackupError(f"{target_path}: the restored copy does not match the backup")
    return replace(restored, seconds=time.perf_counter() - began)
