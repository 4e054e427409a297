"""One generator of typed Responses events per turn; the streamed answer relays them as SSE,
the non-streamed answer is the response the same generator finished with."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import msgspec

from parley import ids
from parley.errors import ParleyError
from parley.models import NewItem
from parley.responses.request import CreateRequest
from parley.upstreams.base import (
    Finish,
    ModelStream,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

_encode = msgspec.json.Encoder().encode
Event = dict[str, Any]
# Called with the finished response and its output items; stores the turn (one transaction).
Commit = Callable[[dict[str, Any], list[NewItem]], Awaitable[None]]


def new_response(request: CreateRequest, response_id: str, created_at: int) -> dict[str, Any]:
    """The Response object as it starts: in progress, no output yet."""
    text_format = request.text_format or {"type": "text"}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "background": False,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": None,
        "model": request.model,
        "output": [],
        "parallel_tool_calls": request.parallel_tool_calls,
        "previous_response_id": request.previous_response_id,
        "conversation": {"id": request.conversation} if request.conversation else None,
        "prompt_cache_key": request.prompt_cache_key,
        "reasoning": None,
        "safety_identifier": request.safety_identifier,
        "store": request.store,
        "temperature": request.temperature,
        "text": {"format": {k: v for k, v in text_format.items() if v is not None}},
        "tool_choice": request.tool_choice,
        "tools": request.tools,
        "top_p": request.top_p,
        "truncation": "disabled",
        "usage": None,
        "user": request.user,
        "metadata": msgspec.Raw(request.metadata),
    }


def _usage(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


class Turn:
    """The state of one response while its events are generated."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response
        self.sequence = 0
        self.error: ParleyError | None = None
        self._message: dict[str, Any] | None = None
        self._calls: dict[int, dict[str, Any]] = {}

    def event(self, kind: str, **fields: Any) -> Event:
        """The next event of the stream, numbered."""
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def snapshot(self) -> dict[str, Any]:
        """The response as it is now (events carry a copy, not the live object)."""
        return {**self.response, "output": list(self.response["output"])}

    def _index(self, item: dict[str, Any]) -> int:
        output: list[dict[str, Any]] = self.response["output"]
        return output.index(item)

    def _open_message(self) -> list[Event]:
        item: dict[str, Any] = {
            "id": ids.new_id("msg_"),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self.response["output"].append(item)
        self._message = item
        index = len(self.response["output"]) - 1
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        item["content"].append(part)
        return [
            self.event(
                "response.output_item.added", output_index=index, item={**item, "content": []}
            ),
            self.event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=dict(part),
            ),
        ]

    def _close_message(self, status: str) -> list[Event]:
        item, self._message = self._message, None
        if item is None:
            return []
        index = self._index(item)
        part = item["content"][0]
        item["status"] = status
        return [
            self.event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=part["text"],
                logprobs=[],
            ),
            self.event(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=dict(part),
            ),
            self.event("response.output_item.done", output_index=index, item=_copy(item)),
        ]

    def feed(self, event: TextDelta | ToolCallStart | ToolCallDelta) -> list[Event]:
        """The Responses events one model event makes."""
        if isinstance(event, TextDelta):
            events = self._open_message() if self._message is None else []
            item = self._message
            assert item is not None
            item["content"][0]["text"] += event.text
            events.append(
                self.event(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=self._index(item),
                    content_index=0,
                    delta=event.text,
                    logprobs=[],
                )
            )
            return events
        if isinstance(event, ToolCallStart):
            events = self._close_message("completed")
            item = {
                "id": ids.new_id("fc_"),
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": event.call_id,
                "name": event.name,
            }
            self.response["output"].append(item)
            self._calls[event.index] = item
            events.append(
                self.event(
                    "response.output_item.added", output_index=self._index(item), item=dict(item)
                )
            )
            return events
        call = self._calls.get(event.index)
        if call is None:  # arguments before a name: the upstream skipped the call's start
            return []
        call["arguments"] += event.arguments
        return [
            self.event(
                "response.function_call_arguments.delta",
                item_id=call["id"],
                output_index=self._index(call),
                delta=event.arguments,
            )
        ]

    def finish(self, finish: Finish) -> list[Event]:
        """Close every open item; set status, incomplete details and usage."""
        incomplete = finish.reason in ("length", "content_filter")
        status = "incomplete" if incomplete else "completed"
        events = self._close_message(status)
        for call in self._calls.values():
            index = self._index(call)
            call["status"] = status
            events.append(
                self.event(
                    "response.function_call_arguments.done",
                    item_id=call["id"],
                    output_index=index,
                    arguments=call["arguments"],
                )
            )
            events.append(
                self.event("response.output_item.done", output_index=index, item=dict(call))
            )
        self._calls = {}
        self.response["status"] = status
        if incomplete:
            reason = "max_output_tokens" if finish.reason == "length" else "content_filter"
            self.response["incomplete_details"] = {"reason": reason}
        self.response["usage"] = _usage(finish.usage)
        return events

    def fail(self, error: ParleyError) -> Event:
        """The turn failed: nothing is stored; the stream ends with ``response.failed``."""
        self.error = error
        self.response["status"] = "failed"
        code = "rate_limit_exceeded" if error.status == 429 else "server_error"
        self.response["error"] = {"code": code, "message": error.message}
        return self.event("response.failed", response=self.snapshot())


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "content": [dict(part) for part in item.get("content", [])]}


def output_items(response: dict[str, Any]) -> list[NewItem]:
    """The response's output as conversation items (the same ids)."""
    return [NewItem(item["id"], item["type"], _encode(item)) for item in response["output"]]


async def generate(turn: Turn, stream: ModelStream, commit: Commit) -> AsyncGenerator[Event, None]:
    """Every event of the turn, in order; the turn is committed before its last event."""
    yield turn.event("response.created", response=turn.snapshot())
    yield turn.event("response.in_progress", response=turn.snapshot())
    finished = False
    try:
        async for model_event in stream:
            if isinstance(model_event, Finish):
                for event in turn.finish(model_event):
                    yield event
                finished = True
                break
            for event in turn.feed(model_event):
                yield event
    except ParleyError as exc:
        yield turn.fail(exc)
        return
    finally:
        await stream.aclose()
    if not finished:
        for event in turn.finish(Finish(None)):
            yield event
    response = turn.response
    if response["status"] == "completed":
        response["completed_at"] = int(time.time())
    try:
        await commit(response, output_items(response))
    except ParleyError as exc:
        yield turn.fail(exc)
        return
    kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
    yield turn.event(kind, response=turn.snapshot())
