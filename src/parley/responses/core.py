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
    ModelEvent,
    ModelStream,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallStart,
    UpstreamError,
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
        # OpenAI's Response shows its defaults for what was not sent (the spec's examples);
        # the model server applies its own defaults to what parley does not send it.
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": request.safety_identifier,
        "store": request.store,
        "service_tier": "default",
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "text": {"format": {k: v for k, v in text_format.items() if v is not None}},
        "tool_choice": request.tool_choice,
        "tools": request.tools,
        "top_logprobs": request.top_logprobs or 0,
        "top_p": 1.0 if request.top_p is None else request.top_p,
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


# ResponseError's codes (openai.types.responses.ResponseError): a failed response's code is
# one of them; the message says what exactly failed.
_FAILED_CODES = ("server_error", "rate_limit_exceeded", "invalid_prompt")


def failed_error(error: ParleyError) -> dict[str, Any]:
    """A failed response's ``error``: the upstream's own code when OpenAI's list has it, else
    ``rate_limit_exceeded`` for a 429, ``invalid_prompt`` for another 4xx (the model server
    refused what it was given), ``server_error`` for the rest (timeout, 5xx, broken stream, a
    turn that could not be stored)."""
    if error.code in _FAILED_CODES:
        code = error.code
    elif error.status == 429:
        code = "rate_limit_exceeded"
    elif isinstance(error, UpstreamError) and 400 <= error.status < 500:
        code = "invalid_prompt"
    else:
        code = "server_error"
    return {"code": code, "message": error.message}


def _delta_logprobs(logprobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The events' ResponseLogProb has no bytes (the output_text part's Logprob has them).
    return [
        {
            "token": entry["token"],
            "logprob": entry["logprob"],
            "top_logprobs": [
                {"token": top["token"], "logprob": top["logprob"]} for top in entry["top_logprobs"]
            ],
        }
        for entry in logprobs
    ]


# A content part's kind → (the field holding its text, its delta event, its done event).
_PARTS = {
    "output_text": ("text", "response.output_text.delta", "response.output_text.done"),
    "refusal": ("refusal", "response.refusal.delta", "response.refusal.done"),
    "reasoning_text": ("text", "response.reasoning_text.delta", "response.reasoning_text.done"),
}


class Turn:
    """The state of one response while its events are generated."""

    def __init__(self, response: dict[str, Any], *, logprobs: bool = False) -> None:
        self.response = response
        self.sequence = 0
        self.error: ParleyError | None = None
        self.logprobs = logprobs
        # The open message or reasoning item (at most one), and its open content part.
        self._item: dict[str, Any] | None = None
        self._part: dict[str, Any] | None = None
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

    def _open_item(self, kind: str) -> list[Event]:
        item: dict[str, Any]
        if kind == "message":
            item = {
                "id": ids.new_id("msg_"),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
        else:
            # As OpenAI shows a reasoning model's text (gpt-oss): no summary, no status.
            item = {"id": ids.new_id("rs_"), "type": "reasoning", "summary": [], "content": []}
        self.response["output"].append(item)
        self._item = item
        return [
            self.event(
                "response.output_item.added",
                output_index=len(self.response["output"]) - 1,
                item={**item, "content": []},
            )
        ]

    def _open_part(self, kind: str) -> list[Event]:
        item = self._item
        assert item is not None
        part: dict[str, Any] = {"type": kind, _PARTS[kind][0]: ""}
        if kind == "output_text":
            part.update(annotations=[], logprobs=[])
        item["content"].append(part)
        self._part = part
        return [
            self.event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=self._index(item),
                content_index=len(item["content"]) - 1,
                part=dict(part),
            )
        ]

    def _close_part(self) -> list[Event]:
        item, part, self._part = self._item, self._part, None
        if item is None or part is None:
            return []
        field, _, done = _PARTS[part["type"]]
        where = {
            "item_id": item["id"],
            "output_index": self._index(item),
            "content_index": item["content"].index(part),
        }
        extra: dict[str, Any] = {field: part[field]}
        if part["type"] == "output_text":
            extra["logprobs"] = _delta_logprobs(part["logprobs"])
        return [
            self.event(done, **where, **extra),
            self.event("response.content_part.done", **where, part=dict(part)),
        ]

    def _close_item(self, status: str) -> list[Event]:
        events = self._close_part()
        item, self._item = self._item, None
        if item is None:
            return events
        if item["type"] == "message":
            item["status"] = status
        events.append(
            self.event(
                "response.output_item.done", output_index=self._index(item), item=_copy(item)
            )
        )
        return events

    def _piece(
        self, item_kind: str, part_kind: str, text: str, logprobs: list[dict[str, Any]]
    ) -> list[Event]:
        events: list[Event] = []
        if self._item is not None and self._item["type"] != item_kind:
            events += self._close_item("completed")
        if self._item is None:
            events += self._open_item(item_kind)
        if self._part is not None and self._part["type"] != part_kind:
            events += self._close_part()
        if self._part is None:
            events += self._open_part(part_kind)
        item, part = self._item, self._part
        assert item is not None and part is not None
        field, delta, _ = _PARTS[part_kind]
        part[field] += text
        extra: dict[str, Any] = {}
        if part_kind == "output_text":
            # Only what was asked for: a server that sends logprobs unasked shows none.
            kept = logprobs if self.logprobs else []
            part["logprobs"].extend(kept)
            extra["logprobs"] = _delta_logprobs(kept)
        events.append(
            self.event(
                delta,
                item_id=item["id"],
                output_index=self._index(item),
                content_index=len(item["content"]) - 1,
                delta=text,
                **extra,
            )
        )
        return events

    def feed(self, event: ModelEvent) -> list[Event]:
        """The Responses events one model event makes."""
        if isinstance(event, TextDelta):
            return self._piece("message", "output_text", event.text, event.logprobs)
        if isinstance(event, RefusalDelta):
            return self._piece("message", "refusal", event.text, [])
        if isinstance(event, ReasoningDelta):
            return self._piece("reasoning", "reasoning_text", event.text, [])
        if isinstance(event, ToolCallStart):
            events = self._close_item("completed")
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
        if isinstance(event, Finish):
            return self.finish(event)
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
        events = self._close_item(status)
        for call in self._calls.values():
            index = self._index(call)
            call["status"] = status
            events.append(
                self.event(
                    "response.function_call_arguments.done",
                    item_id=call["id"],
                    name=call["name"],
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
        self.response["error"] = failed_error(error)
        return self.event("response.failed", response=self.snapshot())


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "content": [dict(part) for part in item.get("content", [])]}


def output_items(response: dict[str, Any]) -> list[NewItem]:
    """The response's output as conversation items (the same ids)."""
    return [NewItem(item["id"], item["type"], _encode(item)) for item in response["output"]]


async def generate(
    turn: Turn, stream: ModelStream, commit: Commit
) -> AsyncGenerator[list[Event], None]:
    """Every event of the turn, in order, in batches: the events that arise together (the
    start, what one model event makes, the end) come in one list, so a stream sends them in
    one write. The turn is committed before its last event."""
    yield [
        turn.event("response.created", response=turn.snapshot()),
        turn.event("response.in_progress", response=turn.snapshot()),
    ]
    finished = False
    closing: list[Event] = []
    try:
        async for model_event in stream:
            if isinstance(model_event, Finish):
                # The closing events go out with response.completed, after the commit.
                closing = turn.feed(model_event)
                finished = True
                break
            events = turn.feed(model_event)
            if events:
                yield events
    except ParleyError as exc:
        yield [turn.fail(exc)]
        return
    finally:
        await stream.aclose()
    if not finished:
        closing = turn.finish(Finish(None))
    response = turn.response
    if response["status"] == "completed":
        response["completed_at"] = int(time.time())
    try:
        await commit(response, output_items(response))
    except ParleyError as exc:
        yield [*closing, turn.fail(exc)]
        return
    kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
    yield [*closing, turn.event(kind, response=turn.snapshot())]
