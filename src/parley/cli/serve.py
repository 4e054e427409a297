"""`parley serve`: the HTTP server (granian) over SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import os

import click

from parley import auth
from parley.cli.options import database_option
from parley.errors import ParleyError
from parley.store import open_store
from parley.store.sqlite import SchemaTooNew


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
@click.option(
    "--access-log/--no-access-log",
    envvar="PARLEY_ACCESS_LOG",
    default=False,
    help="One JSON line per request on stderr: request id, route, status, duration, project.",
)
@click.option(
    "--rate-limit",
    envvar="PARLEY_RATE_LIMIT",
    default=0.0,
    type=click.FloatRange(0),
    help="Requests per second allowed per API key (0: no limit). Excess gets 429.",
)
@click.option(
    "--rate-burst",
    envvar="PARLEY_RATE_BURST",
    default=None,
    type=click.IntRange(1),
    help="Requests a key may make at once above --rate-limit. Default: max(1, rate).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    envvar="PARLEY_CORS_ORIGINS",
    multiple=True,
    help="Allow browser calls from this origin (repeatable; '*' for any). Default: CORS off.",
)
@click.option(
    "--body-timeout",
    envvar="PARLEY_BODY_TIMEOUT",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a client may take to send its request body; slower gets 408.",
)
@click.option(
    "--max-connections",
    envvar="PARLEY_MAX_CONNECTIONS",
    default=10_000,
    show_default=True,
    type=click.IntRange(16),
    help="Open connections each worker holds; idle ones count too.",
)
@click.option(
    "--pool-size",
    envvar="PARLEY_POOL_SIZE",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="PostgreSQL connections per worker process (workers x pool size in total).",
)
@click.option(
    "--statement-timeout",
    envvar="PARLEY_STATEMENT_TIMEOUT",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds one database query may run before it is cancelled with a 503 (0: no "
    "limit). On SQLite a read past 20 ms leaves the event loop, so others are still served.",
)
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
    rate_limit: float,
    rate_burst: int | None,
    cors_origins: tuple[str, ...],
    body_timeout: float,
    max_connections: int,
    pool_size: int,
    statement_timeout: float,
) -> None:
    """Serve OpenAI's Conversations API on HOST:PORT (base URL http://HOST:PORT/v1).

    \b
    Example:
      parley serve --port 8080 --database ./parley.db
      curl -H "Authorization: Bearer $KEY" -d '{}' http://127.0.0.1:8080/v1/conversations
    """
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    try:
        first_key = asyncio.run(_bootstrap(database, api_key, project))
    except (SchemaTooNew, ParleyError) as exc:
        # A schema from a newer parley, or a database that cannot be reached: say so plainly.
        raise click.ClickException(f"cannot start: {exc}") from None
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
    os.environ["PARLEY_POOL_SIZE"] = str(pool_size)
    os.environ["PARLEY_STATEMENT_TIMEOUT"] = str(statement_timeout)
    os.environ["PARLEY_ACCESS_LOG"] = "1" if access_log else "0"
    os.environ["PARLEY_RATE_LIMIT"] = str(rate_limit)
    if rate_burst is not None:
        os.environ["PARLEY_RATE_BURST"] = str(rate_burst)
    os.environ["PARLEY_CORS_ORIGINS"] = " ".join(cors_origins)
    os.environ["PARLEY_BODY_TIMEOUT"] = str(body_timeout)
    click.echo(f"parley: serving on http://{host}:{port}/v1 (database: {database})", err=True)
    server = Granian(
        "parley.app:app_from_env",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        # parley writes its own structured access log (parley.accesslog); granian's would
        # print raw paths in its own format.
        log_access=False,
        # granian counts idle connections against this bound; its default (1024) let a
        # client holding idle sockets starve everyone else.
        backpressure=max_connections,
        http1_settings=HTTP1Settings(header_read_timeout=10_000),
    )
    server.serve()


# `--help` names each option's PARLEY_* fallback (the shared --database option says it itself).
for _option in serve.params:
    if isinstance(_option, click.Option) and _option.envvar and "Env:" not in (_option.help or ""):
        _option.show_envvar = True
