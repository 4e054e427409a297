"""`parley migrate` (schema) and `parley migrate-data` (a whole SQLite store into PostgreSQL)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
import msgspec

from parley.cli.options import announce, database_option, describe, exists, plural
from parley.errors import ParleyError
from parley.search import item_text
from parley.store import parse_url
from parley.store.migrations import SchemaTooNew, migrations

# Items copied per transaction (a conversation is never split, so one batch may hold more).
BATCH_ITEMS = 5_000
_SCAN = 500


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _is_postgres(url: str) -> bool:
    return parse_url(url).backend == "postgres"


def _sqlite_path(url: str) -> str:
    return parse_url(url).location


@click.command("migrate")
@database_option
def migrate(database: str) -> None:
    """Bring the database's schema up to this parley's version (safe to run again).

    \b
    Example:
      parley migrate --database postgresql://parley@db.internal/parley
    """
    announce(database, created=not exists(database))
    try:
        if _is_postgres(database):
            from parley.store import postgres

            applied = asyncio.run(postgres.migrate(database))
        else:
            from parley.store import sqlite

            applied = sqlite.migrate(_sqlite_path(database))
    except (SchemaTooNew, ParleyError) as exc:
        raise click.ClickException(str(exc)) from None
    for name in applied:
        click.echo(f"applied {name}")
    if not applied:
        click.echo("schema is up to date")


@dataclass
class CopyReport:
    """What one run of migrate-data did."""

    projects: int = 0
    keys: int = 0
    conversations: int = 0
    skipped: int = 0
    items: int = 0


def _source(path: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        row = conn.execute("SELECT max(version) FROM parley_migrations").fetchone()
    except sqlite3.Error as exc:
        raise click.ClickException(f"{path} is not a parley SQLite database ({exc})") from None
    newest = migrations("sqlite")[-1][0]
    if (row[0] or 0) != newest:
        conn.close()
        raise click.ClickException(
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
    import asyncpg

    from parley.store import postgres

    report = CopyReport()
    await postgres.migrate(target_url)
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
                (projects[row[2]], _utf8(key), _utf8(value), seq, row[3])
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
        marks = ",".join("?" * len(by_source))
        items = [
            (
                by_source[conversation],
                position,
                item_id,
                item_type,
                created_at,
                bytes(data),
                item_text(bytes(data)) or None,
            )
            for conversation, position, item_id, item_type, created_at, data in source.execute(
                "SELECT conversation, position, id, type, created_at, data FROM items "
                f"WHERE conversation IN ({marks}) ORDER BY created_at, seq",
                list(by_source),
            )
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
                ],
            )
        report.conversations += len(fresh)
        report.items += len(items)


@click.command("migrate-data")
@click.option(
    "--from", "source_url", required=True, help="The SQLite store: sqlite:///parley.db or a path."
)
@click.option(
    "--to",
    "target_url",
    required=True,
    envvar="PARLEY_DATABASE_URL",
    help="The PostgreSQL database: postgresql://user@host/db (migrated first if needed).",
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def migrate_data(source_url: str, target_url: str, progress: bool) -> None:
    """Copy a whole SQLite store into PostgreSQL: ids, order, metadata and keys, losslessly.

    Stop the servers writing to the SQLite file first. Safe to interrupt and run again: it
    resumes where it stopped, skipping conversations already copied.

    \b
    Example:
      parley migrate-data --from sqlite:///parley.db --to postgresql://parley@db/parley
    """
    from rich.progress import Progress

    if not _is_postgres(target_url):
        raise click.ClickException("--to must be a postgresql:// URL")
    source = _source(_sqlite_path(source_url))
    click.echo(f"parley: copying {describe(source_url)} into {describe(target_url)}", err=True)
    try:
        total = source.execute("SELECT count(*) FROM conversations").fetchone()[0]
        with Progress(disable=not progress, transient=False) as bar:
            task = bar.add_task("conversations", total=total)
            try:
                report = asyncio.run(copy_store(source, target_url, lambda n: bar.advance(task, n)))
            except (SchemaTooNew, ParleyError) as exc:
                raise click.ClickException(str(exc)) from None
    finally:
        source.close()
    click.echo(
        f"copied {plural(report.conversations, 'conversation')} and "
        f"{plural(report.items, 'item')} ({report.skipped} already there), "
        f"{plural(report.keys, 'key')}, {plural(report.projects, 'project')}"
    )
