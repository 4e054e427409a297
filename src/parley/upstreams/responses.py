"""An upstream's own Responses API, called statelessly: parley sends the whole context with
``store: false`` and keeps the state itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec

from parley.upstreams.base import (
    Finish,
    ModelCall,
    ModelEvent,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from parley.upstreams.http import HTTPUpstream, broken, mid_stream, sse_data
from parley.upstreams.streams import Replay, Streamed, whole_answer
from parley.upstreams.translate import logprob_entries

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


def responses_body(call: ModelCall) -> dict[str, Any]:
    """The upstream request: the expanded context as input, nothing stored upstream."""
    # Ids are parley's: an upstream would look them up (and not find them) with store: false.
    items = [{k: v for k, v in item.items() if k != "id"} for item in call.items]
    body: dict[str, Any] = {"model": call.model, "input": items, "store": False}
    if call.stream:
        body["stream"] = True
    for key, value in (
        ("instructions", call.instructions),
        ("tools", call.tools or None),
        ("tool_choice", call.tool_choice),
        ("parallel_tool_calls", call.parallel_tool_calls if call.tools else None),
        ("temperature", call.temperature),
        ("top_p", call.top_p),
        ("max_output_tokens", call.max_output_tokens),
        ("user", call.user),
    ):
        if value is not None:
            body[key] = value
    if call.logprobs:
        body["include"] = ["message.output_text.logprobs"]
        if call.top_logprobs is not None:
            body["top_logprobs"] = call.top_logprobs
    if call.text_format is not None:
        body["text"] = {"format": {k: v for k, v in call.text_format.items() if v is not None}}
    return body


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=int((raw.get("input_tokens_details") or {}).get("cached_tokens") or 0),
        reasoning_tokens=int((raw.get("output_tokens_details") or {}).get("reasoning_tokens") or 0),
    )


def _finish(response: dict[str, Any]) -> Finish:
    reason = "stop"
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details") or {}
        reason = "content_filter" if details.get("reason") == "content_filter" else "length"
    return Finish(reason, _usage(response.get("usage")))


def response_events(response: dict[str, Any]) -> Iterator[ModelEvent]:
    """The events of a whole upstream Response: text (with logprobs), refusals and function
    calls. Its reasoning is not relayed: without the upstream's store it cannot go back."""
    for index, item in enumerate(response.get("output") or []):
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text" and part.get("text"):
                    yield TextDelta(part["text"], logprob_entries(part.get("logprobs")))
                elif part.get("type") == "refusal" and part.get("refusal"):
                    yield RefusalDelta(part["refusal"])
        elif kind == "function_call":
            yield ToolCallStart(index, item.get("call_id", ""), item.get("name", ""))
            yield ToolCallDelta(index, item.get("arguments", ""))
    yield _finish(response)


class _Events(Streamed):
    """A streamed Response: events as they arrive."""

    async def __aiter__(self) -> AsyncIterator[ModelEvent]:
        finish = None
        async with self.reading():
            async for data in sse_data(self._response):
                event = self.decode(data, "a stream event")
                kind = event.get("type") if isinstance(event, dict) else None
                if kind == "response.output_text.delta":
                    yield TextDelta(event.get("delta", ""), logprob_entries(event.get("logprobs")))
                elif kind == "response.refusal.delta":
                    yield RefusalDelta(event.get("delta", ""))
                elif kind == "response.output_item.added":
                    item = event.get("item") or {}
                    if item.get("type") == "function_call":
                        index = int(event.get("output_index", 0))
                        yield ToolCallStart(index, item.get("call_id", ""), item.get("name", ""))
                elif kind == "response.function_call_arguments.delta":
                    yield ToolCallDelta(int(event.get("output_index", 0)), event.get("delta", ""))
                elif kind in ("response.completed", "response.incomplete"):
                    # Yielded once the body is read to its end: the connection is reused.
                    finish = _finish(event.get("response") or {})
                    break
                elif kind in ("response.failed", "error"):
                    error = (event.get("response") or {}).get("error") or event
                    raise mid_stream(self._name, error)
        if finish is None:
            raise broken(self._name, "the stream ended before the answer did")
        yield finish


class ResponsesUpstream(HTTPUpstream):
    """Calls ``POST {url}/responses`` with ``store: false``."""

    async def start(self, call: ModelCall) -> Replay | _Events:
        """Send the call; for a stream, return once the upstream's headers arrived."""
        body = _encode(responses_body(call))
        if call.stream:
            return _Events(self.name, await self.post("/responses", body))
        return Replay(
            response_events(whole_answer(self.name, await self.post_whole("/responses", body)))
        )
