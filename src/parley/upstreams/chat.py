"""A Chat Completions upstream (vLLM, Ollama, llama.cpp's server, LM Studio, OpenAI)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from parley.upstreams.base import Finish, ModelCall, ModelEvent
from parley.upstreams.http import HTTPUpstream, broken, mid_stream, sse_data
from parley.upstreams.streams import Replay, Streamed, whole_answer
from parley.upstreams.translate import ChunkReader, chat_body, completion_events

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


class _Chunks(Streamed):
    """A streamed completion: events as the chunks arrive."""

    async def __aiter__(self) -> AsyncIterator[ModelEvent]:
        reader = ChunkReader()
        done = False
        finish: Finish | None = None
        async with self.reading():
            async for data in sse_data(self._response):
                if data == b"[DONE]":
                    done = True
                    break
                chunk = self.decode(data, "a stream chunk")
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
                    if isinstance(event, Finish):
                        # Held until the body is drained (the [DONE] and the chunked end
                        # after the usage chunk): a consumer stops at the finish, and the
                        # connection goes back to the pool only once read to its end.
                        finish = event
                        continue
                    yield event
        if not done and reader.reason is None:
            raise broken(self._name, "the stream ended before the answer did")
        if finish is not None:
            yield finish
        for event in reader.close():
            yield event


class ChatUpstream(HTTPUpstream):
    """Calls ``POST {url}/chat/completions`` with the context translated to messages."""

    async def start(self, call: ModelCall) -> Replay | _Chunks:
        """Send the call; for a stream, return once the upstream's headers arrived."""
        body = _encode(chat_body(call))
        if call.stream:
            return _Chunks(self.name, await self.post("/chat/completions", body))
        completion = whole_answer(self.name, await self.post_whole("/chat/completions", body))
        try:
            events = list(completion_events(completion))
        except (AttributeError, TypeError, ValueError):
            raise broken(self.name, "its answer is not a chat completion") from None
        return Replay(iter(events))
