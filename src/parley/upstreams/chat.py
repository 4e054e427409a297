"""A Chat Completions upstream (vLLM, Ollama, llama.cpp's server, LM Studio, OpenAI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import msgspec

from parley.upstreams.base import ModelCall, ModelEvent
from parley.upstreams.http import HTTPUpstream, broken, cut_off, mid_stream, sse_data, stalled
from parley.upstreams.translate import ChunkReader, chat_body, completion_events

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


class _Whole:
    """A non-streamed completion, already read, replayed as events."""

    def __init__(self, events: Iterator[ModelEvent]) -> None:
        self._events = events

    async def __aiter__(self) -> AsyncIterator[ModelEvent]:
        for event in self._events:
            yield event

    async def aclose(self) -> None:
        return None


class _Chunks:
    """A streamed completion: events as the chunks arrive."""

    def __init__(self, name: str, response: httpx.Response) -> None:
        self._name = name
        self._response = response

    async def __aiter__(self) -> AsyncIterator[ModelEvent]:
        reader = ChunkReader()
        done = False
        try:
            async for data in sse_data(self._response):
                if data == "[DONE]":
                    done = True
                    break
                try:
                    chunk = _decode(data)
                except msgspec.DecodeError:
                    raise broken(self._name, "a stream chunk is not JSON") from None
                if not isinstance(chunk, dict):
                    raise broken(self._name, "a stream chunk is not a JSON object")
                if "error" in chunk:
                    raise mid_stream(self._name, chunk["error"])
                try:
                    events = list(reader.feed(chunk))
                except (AttributeError, TypeError, ValueError):
                    raise broken(
                        self._name, "a stream chunk is not a chat completion chunk"
                    ) from None
                for event in events:
                    yield event
        except httpx.TimeoutException:
            raise stalled(self._name) from None
        except httpx.HTTPError as exc:
            raise cut_off(self._name, exc) from None
        finally:
            await self._response.aclose()
        if not done and reader.reason is None:
            raise broken(self._name, "the stream ended before the answer did")
        for event in reader.close():
            yield event

    async def aclose(self) -> None:
        await self._response.aclose()


class ChatUpstream(HTTPUpstream):
    """Calls ``POST {url}/chat/completions`` with the context translated to messages."""

    async def start(self, call: ModelCall) -> _Whole | _Chunks:
        """Send the call; for a stream, return once the upstream's headers arrived."""
        body = _encode(chat_body(call))
        response = await self.open("/chat/completions", body, stream=call.stream)
        if call.stream:
            return _Chunks(self.name, response)
        try:
            completion = _decode(response.content)
        except msgspec.DecodeError:
            raise broken(self.name, "its answer is not JSON") from None
        if not isinstance(completion, dict):
            raise broken(self.name, "its answer is not a JSON object")
        try:
            events = list(completion_events(completion))
        except (AttributeError, TypeError, ValueError):
            raise broken(self.name, "its answer is not a chat completion") from None
        return _Whole(iter(events))
