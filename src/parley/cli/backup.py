"""`parley backup` and `parley restore`: a consistent online copy of a SQLite store, and back."""

from __future__ import annotations

import click

from parley.backup import BackupError, Summary
from parley.backup import backup as take_backup
from parley.backup import restore as put_back
from parley.cli.options import database_option


def _describe(summary: Summary) -> str:
    return (
        f"{summary.conversations} conversations, {summary.items} items, {summary.keys} keys, "
        f"schema {summary.schema_version}, {summary.bytes} bytes, {summary.seconds:.2f} s"
    )


@click.command("backup")
@database_option
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.argument("file", type=click.Path(dir_okay=False))
def backup(database: str, force: bool, file: str) -> None:
    """Copy the SQLite database to FILE while the server keeps serving; the copy is checked.

    \b
    Example:
      parley backup --database ./parley.db ./parley-$(date +%F).db
    """
    try:
        summary = take_backup(database, file, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up to {file}: {_describe(summary)}")


@click.command("restore")
@database_option
@click.option("--force", is_flag=True, help="Replace the contents of an existing database.")
@click.argument("file", type=click.Path(dir_okay=False))
def restore(database: str, force: bool, file: str) -> None:
    """Check the backup FILE, then restore it as the database. Stop the server first.

    \b
    Example:
      parley restore --database ./parley.db --force ./parley-2025-01-31.db
    """
    try:
        summary = put_back(file, database, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {file} into {database}: {_describe(summary)}")
