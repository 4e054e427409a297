"""`parley stats`: a project's usage figures (parley's GET /v1/usage) as a table."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from parley import credentials
from parley.node import Node
from parley.sdk import NodeError


@click.command("stats")
@click.option(
    "--credential",
    "-c",
    "credential",
    default=None,
    help="A stored credential. Else $PARLEY_CREDENTIAL, else $OPENAI_API_KEY and $OPENAI_BASE_URL.",
)
@click.option("--json", "as_json", is_flag=True, help="The JSON object instead of a table.")
def stats(credential: str | None, as_json: bool) -> None:
    """Print what the credential's project stores: conversations, items, bytes.

    \b
    Example:
      parley stats --credential local
    """
    try:
        cred = credentials.resolve(credential)
    except credentials.CredentialError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        with Node(cred) as node:
            figures = node.usage()
    except NodeError as exc:
        raise click.ClickException(exc.explain()) from None
    if as_json:
        click.echo(json.dumps(figures))
        return
    table = Table("figure", "value", title=f"usage at {cred.base_url}")
    for name, value in figures.items():
        if name != "object":
            table.add_row(
                name.replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value)
            )
    Console().print(table)
