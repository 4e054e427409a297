"""Options shared by several commands."""

from __future__ import annotations

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
