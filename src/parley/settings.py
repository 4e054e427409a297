"""Every setting of `parley serve` in one frozen, typed object, each default written once.

:class:`Settings` is filled from, in rising precedence: its defaults, a TOML file
(``--config``), ``PARLEY_*`` environment variables and command-line flags. The server's
workers receive it whole. The file uses the flags' names (``max_body_bytes = 4194304``);
each backend's options may also sit in their own table (``[postgres] pool_size = 20``), as
later nested settings will.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

DEFAULT_PROJECT = "default"


class SettingsError(ValueError):
    """Settings that cannot be used; the message says which one and why."""


class SQLiteOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the SQLite store writes."""

    # FULL: every acknowledged write survives power loss. NORMAL: a power loss (not a
    # crash) may lose the last commits.
    synchronous: Literal["FULL", "NORMAL"] = "FULL"


class PostgresOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the PostgreSQL store connects."""

    pool_size: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10  # per worker process
    # Behind PgBouncer in transaction (or statement) mode: no named prepared statements and
    # no session settings, which the bouncer cannot keep for one client.
    pgbouncer: bool = False


class UpstreamTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[upstreams]]`` table: a model server behind /v1/responses and its models."""

    url: str
    name: str = ""
    # chat: Chat Completions; responses: the server's own Responses API, with store: false.
    api: Literal["chat", "responses"] = "chat"
    # Names or glob patterns; the first upstream whose patterns match a model answers it.
    models: tuple[str, ...] = ("*",)
    api_key: str | None = None
    # The name of an environment variable holding the key (read where the server runs).
    api_key_env: str | None = None
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 600.0
    connect_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a parley server runs with."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    database: str = "parley.db"
    api_key: str | None = None
    # A file holding the fixed key: unlike a flag, it stays out of process listings.
    api_key_file: str | None = None
    project: str = DEFAULT_PROJECT
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 4 * 1024 * 1024
    body_timeout: Annotated[float, msgspec.Meta(ge=0.1)] = 30.0
    max_connections: Annotated[int, msgspec.Meta(ge=16)] = 16_384
    # Seconds a connection may take to send a request's headers, or sit idle between requests.
    header_timeout: Annotated[float, msgspec.Meta(ge=0.1)] = 10.0
    access_log: bool = False
    rate_limit: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    rate_burst: Annotated[int, msgspec.Meta(ge=1)] | None = None
    cors_origins: tuple[str, ...] = ()
    # GET /metrics in Prometheus' text format (no key needed; no ids in it).
    metrics: bool = False
    # Seconds between retention sweeps (`parley projects set --retention`; 0: none).
    sweep_interval: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    # Seconds one database query may run before it is cancelled with a 503 (0: no limit).
    statement_timeout: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    # `parley serve` migrates once before its workers start; they only open the database.
    migrate: bool = True
    # The model server behind /v1/responses for every model no [[upstreams]] table names.
    upstream: str | None = None
    upstream_api_key: str | None = None
    upstream_api: Literal["chat", "responses"] = "chat"
    upstream_timeout: Annotated[float, msgspec.Meta(gt=0)] = 600.0
    # Drop the messages n8n's tool loop sends again (parley.responses.context).
    tool_loop_dedupe: bool = True
    sqlite: SQLiteOptions = SQLiteOptions()
    postgres: PostgresOptions = PostgresOptions()
    upstreams: tuple[UpstreamTable, ...] = ()

    def __repr__(self) -> str:
        # A fixed API key, or an upstream's, must not reach a log through a repr.
        shown = msgspec.structs.replace(
            self,
            api_key="…" if self.api_key else None,
            upstream_api_key="…" if self.upstream_api_key else None,
            upstreams=tuple(
                msgspec.structs.replace(u, api_key="…" if u.api_key else None)
                for u in self.upstreams
            ),
        )
        fields = ", ".join(f"{f}={getattr(shown, f)!r}" for f in self.__struct_fields__)
        return f"Settings({fields})"


DEFAULTS = Settings()

_TABLES = ("sqlite", "postgres")
# Settings only a file holds (arrays of tables): no flag, no variable.
_FILE_ONLY = ("upstreams",)

# Flags (and file keys) that live in a backend's table, by flag name.
NESTED: dict[str, tuple[str, str]] = {
    "sqlite_synchronous": ("sqlite", "synchronous"),
    "pool_size": ("postgres", "pool_size"),
    "pgbouncer": ("postgres", "pgbouncer"),
}

# The PARLEY_* variable of each flag.
ENV: dict[str, str] = {
    name: "PARLEY_" + name.upper()
    for name in [
        *(f for f in Settings.__struct_fields__ if f not in _TABLES + _FILE_ONLY),
        *NESTED,
    ]
}


def default(flag: str) -> Any:
    """The default of a flag (a field of :class:`Settings` or of a backend's table)."""
    if flag in NESTED:
        table, field = NESTED[flag]
        return getattr(getattr(DEFAULTS, table), field)
    return getattr(DEFAULTS, flag)


def build(*layers: Mapping[str, Any], strict: bool = True) -> Settings:
    """Settings from ``layers`` of flag-named values, later ones winning over earlier ones.

    ``strict=False`` accepts text for numbers and booleans, as environment variables hold.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in NESTED:
                table, field = NESTED[key]
                merged.setdefault(table, {})[field] = value
            elif key in _TABLES and isinstance(value, Mapping):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    try:
        return msgspec.convert(merged, Settings, strict=strict)
    except msgspec.ValidationError as exc:
        raise SettingsError(_explain(str(exc))) from None


def read_file(path: str) -> dict[str, Any]:
    """The settings of the TOML file at ``path``, checked but not yet merged."""
    try:
        with open(path, "rb") as file:
            values = tomllib.load(file)
    except OSError as exc:
        raise SettingsError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None
    try:
        build(values)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    return values


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The flag-named values set by ``PARLEY_*`` variables in ``environ`` (empty ones skipped)."""
    values: dict[str, Any] = {}
    for flag, name in ENV.items():
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        if flag == "cors_origins":
            values[flag] = raw.replace(",", " ").split()
        elif isinstance(default(flag), bool):
            values[flag] = raw.lower() in ("1", "true", "yes", "on")
        else:
            values[flag] = raw
    if "database" not in values and environ.get("PARLEY_DATABASE_URL"):
        values["database"] = environ["PARLEY_DATABASE_URL"]
    return values


def _explain(message: str) -> str:
    # msgspec says "Expected `int` >= 1024 - at `$.max_body_bytes`": name the setting first.
    text, found, where = message.rpartition(" - at `$.")
    if not found:
        return message
    return f"{where.rstrip('`').replace('.', ' → ')}: {text}"
