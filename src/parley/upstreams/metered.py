"""An upstream that reports its calls to /metrics: duration, time to first chunk, errors.

It wraps any :class:`~parley.upstreams.base.Upstream` (``--metrics`` only), so neither the
upstream kinds nor the Responses code know about metrics. Labels are the upstream's configured
name and API only: never a model name, a key or anything an upstream or a client sent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Protocol

from parley.upstreams.base import (
    Finish,
    ModelCall,
    ModelEvent,
    ModelStream,
    Upstream,
    UpstreamError,
)


class UpstreamMeter(Protocol):
    """Where a metered upstream reports (parley.metrics.Metrics)."""

    def observe_upstream_call(self, upstream: str, api: str, outcome: str, seconds: float) -> None:
        """One finished call: ``ok``, ``error`` or ``cancelled``, start to end."""

    def observe_first_chunk(self, upstream: str, api: str, seconds: float) -> None:
        """A streamed call's first model event, that long after the call started."""

    def count_upstream_error(self, upstream: str, api: str, kind: str) -> None:
        """One failed call, by what failed (:attr:`UpstreamError.kind`)."""


class MeteredUpstream:
    """``inner`` with every call reported to ``meter``."""

    def __init__(self, inner: Upstream, api: str, meter: UpstreamMeter) -> None:
        self.inner = inner
        self.name = inner.name
        self.api = api
        self.meter = meter

    def serves(self, model: str) -> bool:
        """Whether requests for ``model`` go here."""
        return self.inner.serves(model)

    async def list_models(self) -> list[str]:
        """The inner upstream's models."""
        return await self.inner.list_models()

    async def close(self) -> None:
        """Release the inner upstream's connections."""
        await self.inner.close()

    async def start(self, call: ModelCall) -> ModelStream:
        """Start the call; its status, and later its stream's end, are reported."""
        call_meter = _Call(self, call.stream)
        try:
            stream = await self.inner.start(call)
        except UpstreamError as exc:
            call_meter.failed(exc)
            raise
        except BaseException:
            # Cancelled (the client went away) before the upstream answered.
            call_meter.end("cancelled")
            raise
        return _MeteredStream(stream, call_meter)


class _Call:
    """One call's clock; reports its end once."""

    def __init__(self, upstream: MeteredUpstream, streamed: bool) -> None:
        self.upstream = upstream
        self.streamed = streamed
        self.began = time.perf_counter()
        self.first = True
        self.ended = False

    def chunk(self) -> None:
        if self.first:
            self.first = False
            if self.streamed:
                up = self.upstream
                up.meter.observe_first_chunk(up.name, up.api, time.perf_counter() - self.began)

    def end(self, outcome: str) -> None:
        if not self.ended:
            self.ended = True
            up = self.upstream
            seconds = time.perf_counter() - self.began
            up.meter.observe_upstream_call(up.name, up.api, outcome, seconds)

    def failed(self, exc: UpstreamError) -> None:
        if not self.ended:
            up = self.upstream
            up.meter.count_upstream_error(up.name, up.api, exc.kind)
            self.end("error")


class _MeteredStream:
    """The inner stream's events, timed; the call ends at the finish, an error, or a close."""

    def __init__(self, inner: ModelStream, call: _Call) -> None:
        self._inner = inner
        self._call = call

    async def __aiter__(self) -> AsyncIterator[ModelEvent]:
        try:
            async for event in self._inner:
                self._call.chunk()
                if isinstance(event, Finish):
                    # The consumer stops reading at the finish: the call is done here.
                    self._call.end("ok")
                yield event
        except UpstreamError as exc:
            self._call.failed(exc)
            raise
        self._call.end("ok")

    async def aclose(self) -> None:
        """Close the inner stream; a call not finished by now was cancelled."""
        try:
            await self._inner.aclose()
        finally:
            self._call.end("cancelled")
