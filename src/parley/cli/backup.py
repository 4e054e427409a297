"""`parley backup` and `parley restore`: a consistent online copy of a SQLite store, and back."""

from __future__ import annotations

import click

from parley.backup import BackupError, KeysChoice, Summary
from parley.backup import backup as take_backup
from parley.backup import restore as put_back
from parley.cli.options import announce, database_option, exists, plural
from parley.cli.startup import server_holding


def _describe(summary: Summary) -> str:
    return (
        f"{plural(summary.conversations, 'conversation')}, {plural(summary.items, 'item')}, "
        f"{plural(summary.keys, 'key')}, "
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
    announce(database)
    try:
        summary = take_backup(database, file, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up to {file}: {_describe(summary)}")


@click.command("restore")
@database_option
@click.option("--force", is_flag=True, help="Replace the contents of an existing database.")
@click.option(
    "--keep-keys",
    "keys",
    flag_value="keep",
    help="Keep this database's API keys (revocations and newer keys) instead of the backup's.",
)
@click.option(
    "--backup-keys",
    "keys",
    flag_value="backup",
    help="Take the backup's API keys, even if that makes keys revoked since work again.",
)
@click.argument("file", type=click.Path(dir_okay=False))
def restore(database: str, force: bool, keys: KeysChoice | None, file: str) -> None:
    """Check the backup FILE, then restore it as the database. Stop the server first.

    The backup holds its own API keys: a key revoked after the backup would work again. When
    it would, restore refuses unless told --keep-keys (this database's keys stay) or
    --backup-keys.

    \b
    Example:
      parley restore --database ./parley.db --force --keep-keys ./parley-2025-01-31.db
    """
    announce(database, created=not exists(database))
    holder = server_holding(database)
    if holder is not None:
        raise click.ClickException(
            f"a parley serve ({holder}) has this database open: stop it before restoring."
        )
    try:
        summary = put_back(file, database, force=force, keys=keys or "ask")
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {file} into {database}: {_describe(summary)}")
    if summary.kept_keys:
        click.echo(f"kept this database's API keys ({plural(summary.keys, 'key')})")
    for key_id, project in summary.revived_keys:
        click.echo(f"warning: key {key_id} ({project}) was revoked and works again", err=True)
    for key_id, project in summary.dropped_keys:
        click.echo(
            f"note: key {key_id} ({project}) was newer than the backup and is gone", err=True
        )
