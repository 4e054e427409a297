"""The upstreams a server runs with, from its settings: ``[[upstreams]]`` tables of the
``--config`` file first, then ``--upstream`` as the catch-all.

    [[upstreams]]
    name = "local"
    url = "http://127.0.0.1:11434/v1"   # an OpenAI-compatible base URL
    api = "chat"                         # or "responses" (its own /v1/responses, store: false)
    models = ["llama3*", "qwen2.5:7b"]   # names or glob patterns; default: every model
    api_key_env = "OLLAMA_API_KEY"       # or api_key = "..."
    timeout = 120                        # seconds for a whole call
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from parley.settings import Settings, SettingsError, UpstreamTable
from parley.upstreams.http import UpstreamConfig


def _url(url: str, where: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"{where}: expected an http(s) base URL ending in /v1, not {url!r}")
    return url


def _table(table: UpstreamTable, number: int, environ: Mapping[str, str]) -> UpstreamConfig:
    where = f"upstreams → {number}"
    if not table.models or not all(table.models):
        raise SettingsError(f"{where}: 'models' must list names or glob patterns")
    key = table.api_key
    if table.api_key_env is not None:
        if key is not None:
            raise SettingsError(f"{where}: give 'api_key' or 'api_key_env', not both")
        if table.api_key_env not in environ:
            raise SettingsError(f"{where}: environment variable {table.api_key_env!r} is not set")
        key = environ[table.api_key_env]
    return UpstreamConfig(
        url=_url(table.url, where),
        name=table.name,
        api=table.api,
        models=table.models,
        api_key=key,
        timeout=table.timeout,
        connect_timeout=table.connect_timeout,
    )


def upstream_configs(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> list[UpstreamConfig]:
    """The upstreams of ``settings``, in the order they are tried; SettingsError if unusable."""
    env = os.environ if environ is None else environ
    configs = [_table(t, n, env) for n, t in enumerate(settings.upstreams, 1)]
    if settings.upstream:
        configs.append(
            UpstreamConfig(
                url=_url(settings.upstream, "upstream"),
                api=settings.upstream_api,
                api_key=settings.upstream_api_key,
                timeout=settings.upstream_timeout,
            )
        )
    return configs
