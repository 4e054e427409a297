"""`parley serve`: the HTTP server (granian) over SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec
from click.core import ParameterSource

from parley import auth, settings
from parley.cli import startup
from parley.cli.options import database_option, describe
from parley.errors import ParleyError
from parley.settings import Settings, SettingsError
from parley.store import open_store
from parley.store.migrations import SchemaTooNew
from parley.upstreams.config import upstream_configs


async def _bootstrap(chosen: Settings) -> str | None:
    """Migrate; register the fixed key, or mint a first key on an empty database."""
    store = open_store(
        chosen.database,
        statement_timeout=chosen.statement_timeout,
        sqlite=chosen.sqlite,
        postgres=chosen.postgres,
    )
    await store.open()
    try:
        if chosen.api_key:
            await auth.ensure_key(store, chosen.api_key, chosen.project)
            return None
        if await store.count_api_keys() == 0:
            plain, _ = await auth.create_key(store, chosen.project, name="first key")
            return plain
        return None
    finally:
        await store.close()


def _read_key(path: str) -> str:
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(
            f"cannot read {path}: {exc}", param_hint="--api-key-file"
        ) from None
    if not key:
        raise click.BadParameter(f"{path} holds no key", param_hint="--api-key-file")
    return key


def granian_server(chosen: Settings, target: str) -> Any:
    """The granian server `parley serve` runs, serving the ASGI app at ``target``.

    bench/bare.py serves its bare app through this too, so the floor the benchmark compares
    parley with runs under the very same server settings.
    """
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    return Granian(
        target,
        address=chosen.host,
        port=chosen.port,
        interface=Interfaces.ASGI,
        workers=chosen.workers,
        # parley writes its own structured access log (parley.accesslog); granian's would
        # print raw paths in its own format.
        log_access=False,
        # granian counts idle connections against this bound; its default (1024) let a
        # client holding idle sockets starve everyone else.
        backpressure=_connection_bound(chosen.max_connections),
        # HTTP/1 only: in auto mode granian first waits, with no time limit, for the bytes
        # that tell HTTP/2 from HTTP/1, so a socket that sent nothing was never closed (50
        # still open after 60 s). Pinned to HTTP/1, the header timeout runs from accept.
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=int(chosen.header_timeout * 1000)),
    )


def _connection_bound(wanted: int) -> int:
    """``wanted`` connections per worker, within the file descriptors the process may open.

    The soft limit is raised to the hard one first (often 1,024 → far more): each idle socket
    holds a descriptor, and running out would refuse everyone, not just the idle.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    # Each worker is a process of its own with this limit; keep room for the database files,
    # the listening socket and the PostgreSQL pool.
    return max(16, min(wanted, soft - 256))


F = TypeVar("F", bound=Callable[..., Any])


def _option(flag: str, *declarations: str, **options: Any) -> Callable[[F], F]:
    """An option whose default and ``PARLEY_*`` fallback are the ones `parley.settings` holds."""
    options.setdefault("default", settings.default(flag))
    options.setdefault("show_default", options["default"] not in (None, (), False))
    return click.option(
        *(declarations or ["--" + flag.replace("_", "-")]),
        flag,
        envvar=settings.ENV[flag],
        show_envvar=True,
        **options,
    )


@click.command()
@click.option(
    "--config",
    envvar="PARLEY_CONFIG",
    show_envvar=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A TOML file of these settings under the flags' names (max_body_bytes = 4194304); "
    "flags and PARLEY_* variables win over it.",
)
@_option("host")
@_option("port", type=click.IntRange(0, 65535))
@database_option
@_option(
    "api_key",
    help="Accept this fixed key (added to --project if new). A flag shows in every user's "
    "process listing (ps): --api-key-file or PARLEY_API_KEY keeps the key out of it.",
)
@_option(
    "api_key_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the fixed key from this file (surrounding whitespace dropped), so it stays out "
    "of process listings.",
)
@_option("project", help="Project of the first or fixed key.")
@_option(
    "workers",
    type=click.IntRange(1, 64),
    help="Server processes. Keep 1 on SQLite (one writer); scale out on PostgreSQL.",
)
@_option("max_body_bytes", type=click.IntRange(1024), help="Larger request bodies get 413.")
@_option(
    "sqlite_synchronous",
    type=click.Choice(["FULL", "NORMAL"], case_sensitive=False),
    help="FULL: every acknowledged write survives power loss. NORMAL: faster; a power "
    "loss (not a crash) may lose the last commits.",
)
@_option(
    "access_log",
    "--access-log/--no-access-log",
    help="One JSON line per request on stderr: request id, route, status, duration, project.",
)
@_option(
    "metrics",
    "--metrics/--no-metrics",
    help="Serve GET /metrics in Prometheus' text format (no key needed; no ids in it).",
)
@_option(
    "sweep_interval",
    type=click.FloatRange(0),
    help="Seconds between retention sweeps (see `parley projects set --retention`; 0: none).",
)
@_option(
    "rate_limit",
    type=click.FloatRange(0),
    help="Requests per second allowed per API key (0: no limit). Excess gets 429.",
)
@_option(
    "rate_burst",
    type=click.IntRange(1),
    help="Requests a key may make at once above --rate-limit. Default: max(1, rate).",
)
@_option(
    "cors_origins",
    "--cors-origin",
    multiple=True,
    help="Allow browser calls from this origin (repeatable; '*' for any). Default: CORS off.",
)
@_option(
    "body_timeout",
    type=click.FloatRange(0.1),
    help="Seconds a client may take to send its request body; slower gets 408.",
)
@_option(
    "max_connections",
    type=click.IntRange(16),
    help="Open connections each worker holds; idle ones count too (bounded by the process's "
    "file descriptor limit).",
)
@_option(
    "header_timeout",
    type=click.FloatRange(0.1),
    help="Seconds a connection may take to send a request's headers, or sit idle between "
    "requests, before it is closed.",
)
@_option(
    "pool_size",
    type=click.IntRange(1, 1000),
    help="PostgreSQL connections per worker process (workers x pool size in total).",
)
@_option(
    "pgbouncer",
    "--pgbouncer/--no-pgbouncer",
    help="The PostgreSQL URL is a PgBouncer in transaction mode: prepare no named statements "
    "(each query goes as one Parse/Bind/Execute round trip) and send no session settings.",
)
@_option(
    "statement_timeout",
    type=click.FloatRange(0),
    help="Seconds one database query may run before it is cancelled with a 503 (0: no "
    "limit). On SQLite a read past 20 ms leaves the event loop, so others are still served.",
)
@_option(
    "upstream",
    metavar="URL",
    help="The model server behind /v1/responses: an OpenAI-compatible base URL ending in /v1 "
    "(vLLM, Ollama, llama.cpp's server, LM Studio, OpenAI). More in the --config file's "
    "[[upstreams]] tables.",
)
@_option(
    "upstream_api_key",
    metavar="KEY",
    help="The key parley sends to --upstream (never a client's parley key).",
)
@_option(
    "upstream_api",
    type=click.Choice(["chat", "responses"]),
    help="What --upstream speaks: Chat Completions, or its own Responses API (called with "
    "store: false).",
)
@_option(
    "upstream_timeout",
    type=click.FloatRange(0.1),
    help="Seconds a model call may take before it answers 504.",
)
@_option(
    "tool_loop_dedupe",
    "--tool-loop-dedupe/--no-tool-loop-dedupe",
    show_default=True,
    help="Drop the messages n8n's tool loop sends again with each function_call_output "
    "(n8n-io/n8n#22987), so a conversation stores and shows them once.",
)
@click.pass_context
def serve(ctx: click.Context, /, config: str | None, **values: Any) -> None:
    """Serve OpenAI's Conversations API on HOST:PORT (base URL http://HOST:PORT/v1).

    \b
    Example:
      parley serve --port 8080 --database ./parley.db --api-key "$KEY"
      curl -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
        -d '{}' http://127.0.0.1:8080/v1/conversations
    """
    from parley.app import create_app

    given = {
        name: value
        for name, value in values.items()
        if ctx.get_parameter_source(name)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }
    try:
        chosen = settings.build(settings.read_file(config) if config else {}, given)
        # Checked now, so a bad upstream stops the start instead of every worker.
        upstream_configs(chosen)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    if chosen.api_key_file is not None:
        if chosen.api_key:
            raise click.UsageError("give --api-key or --api-key-file, not both")
        chosen = msgspec.structs.replace(chosen, api_key=_read_key(chosen.api_key_file))
    try:
        # Everything that would fail after "serving on" is tried first, each a one-line refusal.
        startup.check(chosen)
        first_key = asyncio.run(_bootstrap(chosen))
    except startup.StartupError as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    except (SchemaTooNew, ParleyError) as exc:
        # A schema from a newer parley, or a database that cannot be reached: say so plainly.
        raise click.ClickException(f"cannot start: {exc}") from None
    if first_key is not None:
        click.echo(
            "\nparley: this database had no API key, so one was minted for project "
            f"'{chosen.project}'.\nIt is shown only this once; keep it:\n\n    {first_key}\n",
            err=True,
        )
    # The workers get the settings whole; the database is migrated already, and the fixed
    # key, registered now, need not travel further.
    workers = msgspec.structs.replace(chosen, migrate=False, api_key=None)
    where = f"http://{chosen.host}:{chosen.port}/v1"
    database = describe(chosen.database)
    click.echo(f"parley: serving on {where} (database: {database})", err=True)
    if chosen.upstream or chosen.upstreams:
        count = len(chosen.upstreams) + (1 if chosen.upstream else 0)
        click.echo(f"parley: {count} model upstream(s) behind /v1/responses", err=True)
    server = granian_server(chosen, "parley.app:create_app")
    server.serve(target_loader=functools.partial(create_app, workers), wrap_loader=False)
