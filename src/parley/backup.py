"""Online backup and checked restore of a SQLite store, through SQLite's backup API.

A backup copies every page in one step of the backup API, inside one read transaction: in WAL
mode that is a consistent snapshot of the last commit, and the server's writer goes on
committing meanwhile (readers never block the WAL writer). The copy is switched to a rollback
journal so it is one self-contained file, checked, and only then renamed into place.

A restore puts back the backup's API keys too, so a key revoked after the backup would work
again: restore refuses that unless told which keys table to keep (``keys="keep"``: the
current database's, ``keys="backup"``: the backup's).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from parley import ids
from parley.store import parse_url
from parley.store.migrations import migrations


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
    # Keys as (id, project name), filled in by restore: what its choice of keys table changed.
    revived_keys: list[tuple[str, str]] = field(default_factory=list)
    dropped_keys: list[tuple[str, str]] = field(default_factory=list)
    kept_keys: bool = False


KeysChoice = Literal["ask", "keep", "backup"]
_KEY_COLUMNS = "k.id, p.name, p.created_at, k.name, k.hint, k.key_hash, k.created_at, k.revoked_at"


def sqlite_path(database: str) -> str:
    """The file path of a SQLite database given as a path or a sqlite:// URL."""
    backend, path = parse_url(database)
    if backend == "postgres":
        raise BackupError(
            "parley backup/restore handle SQLite files; for PostgreSQL use pg_dump and "
            "pg_restore (or your provider's snapshots)."
        )
    return path


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


def _keys(path: str) -> list[tuple[object, ...]] | None:
    """Every key of the parley database at ``path`` with its project; None if it has none."""
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys k JOIN projects p ON p.id = k.project_id"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None  # not a parley database: it holds no keys to lose or revive


def _key_changes(
    current: list[tuple[object, ...]], restored: list[tuple[object, ...]]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Keys the backup's table would revive (revoked now, active then) and drop (newer)."""
    now = {row[0]: row for row in current}
    then = {row[0] for row in restored}
    revived = [
        (str(row[0]), str(row[1]))
        for row in restored
        if row[0] in now and now[row[0]][7] is not None and row[7] is None
    ]
    dropped = [(str(row[0]), str(row[1])) for row in current if row[0] not in then]
    return revived, dropped


def _put_keys(conn: sqlite3.Connection, keys: list[tuple[object, ...]]) -> None:
    """Replace the restored keys table by ``keys`` (the current database's), by project name."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        _replace_keys(conn, keys)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _replace_keys(conn: sqlite3.Connection, keys: list[tuple[object, ...]]) -> None:
    conn.execute("DELETE FROM api_keys")
    for key_id, project, project_created, name, hint, key_hash, created, revoked in keys:
        row = conn.execute("SELECT id FROM projects WHERE name = ?", (project,)).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)",
                (ids.new_id("proj_"), project, project_created),
            )
            row = conn.execute("SELECT id FROM projects WHERE name = ?", (project,)).fetchone()
        conn.execute(
            "INSERT INTO api_keys (id, project_id, name, hint, key_hash, created_at, revoked_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key_id, row[0], name, hint, key_hash, created, revoked),
        )


def restore(
    backup_file: str, database: str, *, force: bool = False, keys: KeysChoice = "ask"
) -> Summary:
    """Check ``backup_file``, then copy it over ``database`` (stop the server first).

    ``keys`` says whose API keys survive: "keep" the current database's, "backup" the
    backup's; "ask" refuses when the backup's would make a revoked key work again.
    """
    target_path = sqlite_path(database)
    summary = check(backup_file)
    target = Path(target_path)
    if target.exists() and target.stat().st_size > 0 and not force:
        raise BackupError(
            f"{target_path} exists; stop the server and pass --force to replace its contents"
        )
    current = _keys(target_path)
    if keys == "keep" and current is None:
        raise BackupError(f"{target_path} holds no keys table to keep; drop --keep-keys")
    revived, dropped = _key_changes(current or [], _keys(backup_file) or [])
    if keys == "ask" and revived:
        shown = ", ".join(f"{key_id} ({project})" for key_id, project in revived[:5])
        more = f" and {len(revived) - 5} more" if len(revived) > 5 else ""
        raise BackupError(
            f"the backup's keys table would make {len(revived)} key(s) revoked since the "
            f"backup work again: {shown}{more}. Pass --keep-keys to keep {target_path}'s "
            "keys (revocations and newer keys stay), or --backup-keys to take the backup's."
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
            if keys == "keep" and current is not None:
                _put_keys(destination, current)
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
    if keys == "keep":
        revived, dropped = [], []
    return replace(
        restored,
        seconds=time.perf_counter() - began,
        revived_keys=revived,
        dropped_keys=dropped,
        kept_keys=keys == "keep",
    )
