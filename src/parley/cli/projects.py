"""`parley projects`: list projects (keys, usage, retention) and set a project's retention."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.console import Console
from rich.table import Table

from parley import retention
from parley.cli.keys import _with_store
from parley.cli.options import database_option


@click.group()
def projects() -> None:
    """Projects: what each stores, its keys, and how long it keeps conversations."""


@projects.command("list")
@database_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per project.")
def list_projects(database: str, as_json: bool) -> None:
    """List projects with their active keys, usage and retention."""
    import msgspec

    infos = _with_store(database, lambda s: s.list_projects())
    if as_json:
        for info in infos:
            click.echo(msgspec.json.encode(info))
        return
    table = Table("project", "created", "keys", "conversations", "items", "bytes", "retention")
    for info in infos:
        created = datetime.fromtimestamp(info.created_at, UTC).strftime("%Y-%m-%d")
        table.add_row(
            info.name,
            created,
            str(info.active_keys),
            f"{info.usage.conversations:,}",
            f"{info.usage.items:,}",
            f"{info.usage.stored_bytes:,}",
            retention.describe(info.retention_seconds),
        )
    Console().print(table)


@projects.command("set")
@database_option
@click.argument("project")
@click.option(
    "--retention",
    "keep",
    required=True,
    help="Delete conversations not updated for this long: 30d, 12h, 90m, 2w; off to keep all.",
)
def set_project(database: str, project: str, keep: str) -> None:
    """Set PROJECT's retention; the server's sweeper applies it within --sweep-interval.

    \b
    Example:
      parley projects set acme --retention 30d
      parley projects set acme --retention off
    """
    try:
        seconds = retention.parse_duration(keep)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--retention") from None
    if not _with_store(database, lambda s: s.set_retention(project, seconds)):
        raise click.ClickException(f"no project named '{project}' (see `parley projects list`)")
    click.echo(f"project '{project}': retention {retention.describe(seconds)}")
