"""`parley migrate` (schema) and `parley migrate-data` (a whole SQLite store into PostgreSQL)."""

from __future__ import annotations

import asyncio

import click

from parley.cli.options import announce, database_option, describe, exists, plural
from parley.errors import ParleyError
from parley.store import parse_url
from parley.store.migrations import SchemaTooNew


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
    from parley.store.sqlite_to_postgres import CopyRefused, copy_store, open_source

    try:
        source = open_source(_sqlite_path(source_url))
    except CopyRefused as exc:
        raise click.ClickException(str(exc)) from None
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
