"""`parley keys`: create, list and revoke API keys; each key belongs to one project."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import click

from parley import auth
from parley.cli import tables
from parley.cli.options import announce, database_option, exists, require_existing
from parley.store import Store, open_store

T = TypeVar("T")


def _with_store(database: str, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(database)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


@click.group()
def keys() -> None:
    """Manage API keys and the projects they belong to."""


@keys.command("create")
@database_option
@click.option("--project", "-p", default=auth.DEFAULT_PROJECT, show_default=True)
@click.option("--name", "-n", default="", help="A label to recognise the key by.")
def create(database: str, project: str, name: str) -> None:
    """Mint a key for PROJECT (created if new); the key is printed once, here.

    \b
    Example:
      parley keys create --project acme --name "n8n production"
    """
    # Minting into a database no server reads is the classic first-hour mistake: say where.
    announce(database, created=not exists(database))
    plain, info = _with_store(database, lambda s: auth.create_key(s, project, name))
    click.echo(plain)
    click.echo(f"key id {info.id} for project '{project}' (shown only now)", err=True)


@keys.command("list")
@database_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
def list_keys(database: str, as_json: bool) -> None:
    """List keys (never the keys themselves: a short hint only)."""
    import msgspec

    require_existing(database)
    announce(database)
    infos = _with_store(database, lambda s: s.list_api_keys())
    if as_json:
        for info in infos:
            click.echo(msgspec.json.encode(info))
        return
    rows = []
    for info in infos:
        created = datetime.fromtimestamp(info.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        status = "active" if info.revoked_at is None else "revoked"
        rows.append([info.id, info.project_name, info.name, info.hint, created, status])
    tables.show(["id", "project", "name", "key", "created", "status"], rows)


@keys.command("revoke")
@database_option
@click.argument("key_id")
def revoke(database: str, key_id: str) -> None:
    """Revoke the key KEY_ID (see `parley keys list`); effective at once."""
    require_existing(database)
    announce(database)
    if not _with_store(database, lambda s: s.revoke_api_key(key_id)):
        raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked {key_id}")
