"""Options shared by several commands, and how a command names the database it used."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import click

from parley.settings import DEFAULTS

database_option = click.option(
    "--database",
    "-d",
    envvar=["PARLEY_DATABASE", "PARLEY_DATABASE_URL"],
    default=DEFAULTS.database,
    show_default=True,
    help="SQLite file (or sqlite:///path), or a postgresql:// URL. "
    "Env: PARLEY_DATABASE or PARLEY_DATABASE_URL.",
)


def is_postgres(database: str) -> bool:
    """Whether ``database`` names a PostgreSQL server rather than a SQLite file."""
    return database.startswith(("postgresql://", "postgres://"))


def sqlite_file(database: str) -> str:
    """The file of a SQLite database given as a path or a sqlite:// URL (as open_store reads it)."""
    path = database.removeprefix("sqlite:///") if database.startswith("sqlite:///") else database
    return path.removeprefix("sqlite://")


def describe(database: str) -> str:
    """The database as a person should see it: an absolute path, or a URL without password."""
    if not is_postgres(database):
        return os.path.abspath(sqlite_file(database))
    parts = urlsplit(database)
    if parts.password is None:
        return database
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def exists(database: str) -> bool:
    """False only for a SQLite file that is not there (a PostgreSQL URL is taken as existing)."""
    return is_postgres(database) or os.path.isfile(sqlite_file(database))


def require_existing(database: str) -> None:
    """Refuse to go on with a SQLite file that does not exist: a reading command never makes one."""
    if not exists(database):
        raise click.ClickException(
            f"no database at {describe(database)}. Run the command where the server's database "
            "is, or name it with --database PATH (or PARLEY_DATABASE)."
        )


def announce(database: str, *, created: bool = False) -> None:
    """Say on stderr which database a command used (stdout stays the command's output)."""
    if created:
        click.echo(f"parley: created a new database at {describe(database)}", err=True)
    else:
        click.echo(f"parley: database {describe(database)}", err=True)


def plural(count: int, noun: str) -> str:
    """``1 conversation``, ``2 conversations``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
