"""`parley migrate-data`'s copy: a whole SQLite store into PostgreSQL, resumable.

Read from the SQLite file directly (read-only) and written with asyncpg's COPY, batch by
batch, each batch of conversations with all its items in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from parley.search import item_text
from parley.store.migrations import migrations
from parley.store.postgres_core import utf8
from parley.store.postgres_schema import migrate

# Items copied per transaction (a conversation is never split, so one batch may hold more).
BATCH_ITEMS = 5_000
_SCAN = 500


class CopyRefused(Exception):
    """The source is not a parley SQLite store this parley can copy."""


@dataclass
class CopyReport:
    """What one run of migrate-data did."""

    projects: int = 0
    keys: int = 0
    conversations: int = 0
    skipped: int = 0
    items: int = 0


def open_source(path: str) -> sqlite3.Connection:
    """The SQLite store at ``path``, opened read-only, if it has this parley's schema version."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        row = conn.execute("SELECT max(version) FROM parley_migrations").fetchone()
    except sqlite3.Error as exc:
        raise CopyRefused(f"{path} is not a parley SQLite database ({exc})") from None
    newest = migrations("sqlite")[-1][0]
    if (row[0] or 0) != newest:
        conn.close()
        raise CopyRefused(
            f"{path} has schema version {row[0]}, this parley copies version {newest}: "
            f"run `parley migrate --database {path}` first."
        )
    return conn


async def copy_store(
    source: sqlite3.Connection, target_url: str, advance: Callable[[int], None]
) -> CopyReport:
    """Copy every project, key, conversation and item from ``source`` into ``target_url``.

    Each batch of conversations is copied with all its items in one transaction, and a
    conversation already in the target is skipped: a run cut short resumes where it stopped.
    """
    report = CopyReport()
    await migrate(target_url)
    conn = await asyncpg.connect(target_url)
    try:
        projects = await _copy_projects(source, conn, report)
        await _copy_keys(source, conn, projects, report)
        last = 0
        while True:
            rows = source.execute(
                "SELECT seq, id, project_id, created_at, updated_at, metadata, next_position, "
                "item_count FROM conversations WHERE seq > ? ORDER BY seq LIMIT ?",
                (last, _SCAN),
            ).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            batch: list[Any] = []
            for row in rows:
                batch.append(row)
                if sum(r[7] for r in batch) >= BATCH_ITEMS:
                    await _copy_batch(source, conn, projects, batch, report)
                    advance(len(batch))
                    batch = []
            if batch:
                await _copy_batch(source, conn, projects, batch, report)
                advance(len(batch))
    finally:
        await conn.close()
    return report


async def _copy_projects(
    source: sqlite3.Connection, conn: Any, report: CopyReport
) -> dict[str, str]:
    """Source project id → target project id. A project whose name the target already has
    (a server that ran on it minted `default`) is merged into that one."""
    mapping: dict[str, str] = {}
    for project_id, name, created_at in source.execute(
        "SELECT id, name, created_at FROM projects ORDER BY created_at, id"
    ):
        inserted = await conn.fetchval(
            "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING id",
            project_id,
            name,
            created_at,
        )
        report.projects += inserted is not None
        mapping[project_id] = await conn.fetchval("SELECT id FROM projects WHERE name = $1", name)
    return mapping


async def _copy_keys(
    source: sqlite3.Connection, conn: Any, projects: dict[str, str], report: CopyReport
) -> None:
    rows = source.execute(
        "SELECT id, project_id, name, hint, key_hash, created_at, revoked_at FROM api_keys"
    ).fetchall()
    for key_id, project_id, name, hint, key_hash, created_at, revoked_at in rows:
        status = await conn.execute(
            "INSERT INTO api_keys (id, project_id, name, hint, key_hash, created_at, revoked_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            key_id,
            projects[project_id],
            name,
            hint,
            bytes(key_hash),
            created_at,
            revoked_at,
        )
        report.keys += status == "INSERT 0 1"


async def _copy_batch(
    source: sqlite3.Connection,
    conn: Any,
    projects: dict[str, str],
    batch: list[Any],
    report: CopyReport,
) -> None:
    async with conn.transaction():
        inserted = await conn.fetch(
            "INSERT INTO conversations (id, project_id, created_at, updated_at, metadata, "
            "next_position, item_count) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], "
            "$5::bytea[], $6::bigint[], $7::bigint[]) "
            "ON CONFLICT (id) DO NOTHING RETURNING id, seq",
            [row[1] for row in batch],
            [projects[row[2]] for row in batch],
            [row[3] for row in batch],
            [row[4] for row in batch],
            [bytes(row[5]) for row in batch],
            [row[6] for row in batch],
            [row[7] for row in batch],
        )
        target_seq = {record["id"]: record["seq"] for record in inserted}
        report.skipped += len(batch) - len(target_seq)
        fresh = [row for row in batch if row[1] in target_seq]
        if not fresh:
            return
        pairs = []
        for row in fresh:
            metadata: dict[str, str] = msgspec.json.decode(bytes(row[5]))
            seq = target_seq[row[1]]
            pairs += [
                (projects[row[2]], utf8(key), utf8(value), seq, row[3])
                for key, value in metadata.items()
            ]
        if pairs:
            # created_at rides along: metadata-filtered lists walk this index in time order.
            await conn.copy_records_to_table(
                "conversation_metadata",
                records=pairs,
                columns=["project_id", "key", "value", "conversation", "created_at"],
            )
        # Items go in their creation order (created_at, then row key: SQLite's keys run by
        # conversation and position), so positions and "newest item" both carry over.
        by_source = {row[0]: target_seq[row[1]] for row in fresh}
        # Each item with text is scoped to its project in the search index (migration 0010).
        owner = {row[0]: projects[row[2]] for row in fresh}
        marks = ",".join("?" * len(by_source))
        items = [
            (
                by_source[conversation],
                position,
                item_id,
                item_type,
                created_at,
                bytes(data),
                text,
                owner[conversation] if text else None,
            )
            for conversation, position, item_id, item_type, created_at, data in source.execute(
                "SELECT conversation, position, id, type, created_at, data FROM items "
                f"WHERE conversation IN ({marks}) ORDER BY created_at, seq",
                list(by_source),
            )
            for text in [item_text(bytes(data)) or None]
        ]
        if items:
            await conn.copy_records_to_table(
                "items",
                records=items,
                columns=[
                    "conversation",
                    "position",
                    "id",
                    "type",
                    "created_at",
                    "data",
                    "search_text",
                    "search_scope",
                ],
            )
            # COPY cannot compute the search vector (migration 0012): the batch's items with
            # text get it in the same transaction; those without keep NULL, which matches
            # nothing, as the empty vector would.
            await conn.execute(
                "UPDATE items SET search = parley_search_vector(search_text, search_scope) "
                "WHERE conversation = ANY($1::bigint[]) AND search_text IS NOT NULL",
                list(by_source.values()),
            )
        report.conversations += len(fresh)
        report.items += len(items)
