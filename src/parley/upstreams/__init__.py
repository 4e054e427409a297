"""Model upstreams behind POST /v1/responses: which server answers which model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from parley.errors import NotFound, ParleyError
from parley.upstreams.base import ModelCall, ModelStream, Upstream, UpstreamError
from parley.upstreams.chat import ChatUpstream
from parley.upstreams.http import UpstreamConfig
from parley.upstreams.metered import MeteredUpstream, UpstreamMeter

__all__ = [
    "ModelCall",
    "ModelStream",
    "NoUpstream",
    "Upstream",
    "UpstreamConfig",
    "UpstreamError",
    "Upstreams",
    "open_upstream",
]

_MODELS_TTL = 30.0


class NoUpstream(ParleyError):
    """501: parley has no model server configured, so it cannot answer a response."""

    status = 501
    type = "server_error"


def open_upstream(config: UpstreamConfig) -> Upstream:
    """The upstream for one configuration (its ``api``: ``chat`` or ``responses``)."""
    if config.api == "chat":
        return ChatUpstream(config)
    if config.api == "responses":
        from parley.upstreams.responses import ResponsesUpstream

        return ResponsesUpstream(config)
    raise ValueError(f"unknown upstream api {config.api!r}: use 'chat' or 'responses'")


class Upstreams:
    """The configured upstreams, tried in order: the first that serves a model answers it."""

    def __init__(
        self, configs: Sequence[UpstreamConfig] = (), meter: UpstreamMeter | None = None
    ) -> None:
        self.upstreams = [open_upstream(config) for config in configs]
        if meter is not None:
            self.upstreams = [
                MeteredUpstream(upstream, config.api, meter)
                for upstream, config in zip(self.upstreams, configs, strict=True)
            ]
        self._models: list[tuple[str, str]] = []
        self._models_at = 0.0
        self._lock = asyncio.Lock()

    def __bool__(self) -> bool:
        return bool(self.upstreams)

    def for_model(self, model: str) -> Upstream:
        """The upstream serving ``model``; 501 with none configured, 404 for no match."""
        if not self.upstreams:
            raise NoUpstream(
                "This parley server has no model upstream configured, so it cannot create "
                "responses. Start it with `parley serve --upstream http://HOST:PORT/v1` (an "
                "OpenAI-compatible model server such as vLLM, Ollama or llama.cpp's server).",
                code="no_upstream",
                # A configuration fault: the SDK's retries would only repeat it.
                headers={"x-should-retry": "false"},
            )
        for upstream in self.upstreams:
            if upstream.serves(model):
                return upstream
        raise model_not_found(model)

    async def models(self) -> list[tuple[str, str]]:
        """(model, upstream name) for every model served, asked of the upstreams (cached)."""
        async with self._lock:
            if time.monotonic() - self._models_at > _MODELS_TTL:
                lists = await asyncio.gather(*(u.list_models() for u in self.upstreams))
                seen: set[str] = set()
                found = []
                for upstream, names in zip(self.upstreams, lists, strict=True):
                    for name in names:
                        # The first upstream serving a name answers it, so it alone lists it.
                        if name not in seen and self.for_model(name) is upstream:
                            seen.add(name)
                            found.append((name, upstream.name))
                self._models = found
                self._models_at = time.monotonic()
            return self._models

    async def close(self) -> None:
        """Close every upstream's connections."""
        for upstream in self.upstreams:
            await upstream.close()


def model_not_found(model: str) -> NotFound:
    """OpenAI's 404 for a model it does not serve."""
    return NotFound(
        f"The model '{model}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )
