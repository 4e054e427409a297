"""`parley serve`: the HTTP server (granian) over SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import os

import click

from parley import auth
from parley.cli.options import database_option
from parley.store import open_store


async def _bootstrap(database: str, api_key: str | None, project: str) -> str | None:
    """Migrate; register the fixed key, or mint a first key on an empty database."""
    store = open_store(database)
    await store.open()
    try:
        if api_key:
            await auth.ensure_key(store, api_key, project)
            return None
        if await store.count_api_keys() == 0:
            plain, _ = await auth.create_key(store, project, name="first key")
            return plain
        return None
    finally:
        await store.close()


@click.command()
@click.option("--host", envvar="PARLEY_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="PARLEY_PORT", default=8080, show_default=True, type=int)
@database_option
@click.option(
    "--api-key",
    envvar="PARLEY_API_KEY",
    default=None,
    help="Accept this fixed key (added to --project if new). Env: PARLEY_API_KEY.",
)
@click.option(
    "--project",
    envvar="PARLEY_PROJECT",
    default=auth.DEFAULT_PROJECT,
    show_default=True,
    help="Project of the first or fixed key.",
)
@click.option(
    "--workers",
    envvar="PARLEY_WORKERS",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes. Keep 1 on SQLite (one writer); scale out on PostgreSQL.",
)
@click.option(
    "--max-body-bytes",
    envvar="PARLEY_MAX_BODY_BYTES",
    default=4 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1024),
    help="Larger request bodies get 413.",
)
@click.option(
    "--sqlite-synchronous",
    envvar="PARLEY_SQLITE_SYNCHRONOUS",
    type=click.Choice(["FULL", "NORMAL"], case_sensitive=False),
    default="FULL",
    show_default=True,
    help="FULL: every acknowledged write survives power loss. NORMAL: faster; a power "
    "loss (not a crash) may lose the last commits.",
)
@click.option("--access-log/--no-access-log", envvar="PARLEY_ACCESS_LOG", default=False)
def serve(
    host: str,
    port: int,
    database: str,
    api_key: str | None,
    project: str,
    workers: int,
    max_body_bytes: int,
    sqlite_synchronous: str,
    access_log: bool,
) -> None:
    """Serve OpenAI's Conversations API on HOST:PORT (base URL http://HOST:PORT/v1).

    \b
    Example:
      parley serve --port 8080 --database ./parley.db
      curl -H "Authorization: Bearer $KEY" -d '{}' http://127.0.0.1:8080/v1/conversations
    """
    from granian import Granian
    from granian.constants import Interfaces

    first_key = asyncio.run(_bootstrap(database, api_key, project))
    if first_key is not None:
        click.echo(
            "\nparley: this database had no API key, so one was minted for project "
            f"'{project}'.\nIt is shown only this once; keep it:\n\n    {first_key}\n",
            err=True,
        )
    os.environ["PARLEY_DATABASE"] = database
    os.environ["PARLEY_MAX_BODY_BYTES"] = str(max_body_bytes)
    os.environ["PARLEY_SQLITE_SYNCHRONOUS"] = sqlite_synchronous.upper()
    os.environ["PARLEY_MIGRATE"] = "0"
    click.echo(f"parley: serving on http://{host}:{port}/v1 (database: {database})", err=True)
    server = Granian(
        "parley.app:app_from_env",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        log_access=access_log,
    )
    server.serve()
