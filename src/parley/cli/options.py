"""Options shared by several commands."""

from __future__ import annotations

import click

database_option = click.option(
    "--database",
    "-d",
    envvar=["PARLEY_DATABASE", "PARLEY_DATABASE_URL"],
    default="parley.db",
    show_default=True,
    help="SQLite file (or sqlite:///path), or a postgresql:// URL. "
    "Env: PARLEY_DATABASE or PARLEY_DATABASE_URL.",
)
