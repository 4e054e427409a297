"""What both upstream kinds do with an answer: read it whole, or read it as it streams."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec

from parley.upstreams.base import ModelEvent
from parley.upstreams.http import broken, cut_off, stalled

_decode = msgspec.json.decode


def whole_answer(name: str, response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a non-streamed answer; 502 when it is not one."""
    try:
        answer = _decode(response.content)
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

    def __init__(self, name: str, response: httpx.Response) -> None:
        self._name = name
        self._response = response

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """While the stream is read: a stall is a 504, a broken connection a 502, and the
        response is closed however the reading ends."""
        try:
            yield
        except httpx.TimeoutException:
            raise stalled(self._name) from None
        except httpx.HTTPError as exc:
            raise cut_off(self._name, exc) from None
        finally:
            await self._response.aclose()

    def decode(self, data: str, what: str) -> Any:
        """One event's JSON; 502 when ``what`` (a chunk, an event) is not JSON."""
        try:
            return _decode(data)
        except msgspec.DecodeError:
            raise broken(self._name, f"{what} is not JSON") from None

    async def aclose(self) -> None:
        await self._response.aclose()
