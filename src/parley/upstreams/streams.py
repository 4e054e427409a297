"""What both upstream kinds do with an answer: read it whole, or read it as it streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import msgspec

from parley.upstreams.base import ModelEvent
from parley.upstreams.http import broken, reading_body, stalled

_decode = msgspec.json.decode
# After a stream's last event ([DONE], response.completed) the body's end follows at once from
# every server we know; waiting this long for it lets the connection go back to the pool. A
# server that keeps the body open longer loses its connection (closed), it is not waited for.
_DRAIN_SECONDS = 0.5


def whole_answer(name: str, raw: bytes) -> dict[str, Any]:
    """The JSON object of a non-streamed answer; 502 when it is not one."""
    try:
        answer = _decode(raw)
    except msgspec.DecodeError:
        raise broken(name, "its answer is not JSON") from None
    if not isinstance(answer, dict):
        raise broken(name, "its answer is not a JSON object")
    return answer


class Replay:
    """A non-streamed answer, already read, replayed as events."""

    def __init__(self, events: Iterator[ModelEvent]) -> None:
        self._events = events

    async def __aiter__(self) -> AsyncIterator[ModelEvent]:
        for event in self._events:
            yield event

    async def aclose(self) -> None:
        return None


class Streamed:
    """A streamed answer, read as its events arrive; the kinds differ in what the events say."""

    def __init__(self, name: str, response: aiohttp.ClientResponse) -> None:
        self._name = name
        self._response = response

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """While the stream is read: a stall is a 504, a broken connection a 502. Read to its
        last event, the rest of the body is drained so that the connection is reused; ended
        any other way (an error, the client gone), the connection is closed."""
        response = self._response
        with reading_body(self._name, response, stalled):
            yield
            with contextlib.suppress(TimeoutError, aiohttp.ClientError):
                async with asyncio.timeout(_DRAIN_SECONDS):
                    await response.content.read()

    def decode(self, data: bytes, what: str) -> Any:
        """One event's JSON; 502 when ``what`` (a chunk, an event) is not JSON."""
        try:
            return _decode(data)
        except msgspec.DecodeError:
            raise broken(self._name, f"{what} is not JSON") from None

    async def aclose(self) -> None:
        # Closes the connection unless the body was read to its end (then it is pooled).
        self._response.close()
