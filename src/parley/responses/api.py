"""The /v1/responses and /v1/models routes: parse, build the context, call the model, store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any, Literal, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from parley import ids, inbound
from parley.api import (
    JSONBytes,
    authed,
    authed_in_store,
    ok,
    parse_include,
    parse_limit,
    parse_order,
    read_json,
)
from parley.errors import InvalidRequest, NotFound, ParleyError, duplicate_item, item_not_found
from parley.models import NewItem, ResponseRecord
from parley.responses.context import build_context
from parley.responses.core import Event, Turn, generate, new_response
from parley.responses.request import parse_create
from parley.store import Store
from parley.upstreams import ModelCall, Upstreams
from parley.upstreams import model_not_found as _model_not_found

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


class _ClientGone(Exception):
    """The client disconnected before the answer was ready."""


class Watch:
    """Notices the client leaving: one pending ``receive()`` for the whole request.

    Only one watcher may exist per request: granian ends a request's transport when a pending
    ``receive()`` is cancelled, so the watcher is left to finish when the request does.
    """

    def __init__(self, receive: Receive) -> None:
        self.gone = asyncio.Event()
        # The task inside run(), which the watcher cancels when the client leaves.
        self._target: asyncio.Task[Any] | None = None
        self._cancelled = False
        self._task = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        with contextlib.suppress(Exception):
            while (await receive())["type"] != "http.disconnect":
                pass
        self.gone.set()
        target = self._target
        if target is not None and not self._cancelled:
            self._cancelled = True
            target.cancel()

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """``work``'s result; cancelled (and _ClientGone raised) when the client leaves first.

        ``work`` runs in the calling task, which the watcher cancels: no task of its own and
        no waiter beside it (two tasks and an ``asyncio.wait`` per call before: ~8 % of a
        whole call's CPU, bench/responses_inproc.py). The cancellation is taken back with
        ``Task.uncancel``, so one that came from elsewhere (the server stopping) still
        propagates, and a task this cancelled carries no pending cancellation on.
        """
        if self.gone.is_set():
            work.close()
            raise _ClientGone
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - run() is always awaited inside a task
            raise RuntimeError("Watch.run outside a task")
        self._target = task
        try:
            result = await work
        except asyncio.CancelledError:
            if self._take_back(task):
                raise _ClientGone from None
            raise
        finally:
            self._target = None
        if self._take_back(task):
            # The work swallowed the cancellation and finished anyway: nobody is listening.
            raise _ClientGone
        return result

    def _take_back(self, task: asyncio.Task[Any]) -> bool:
        """Whether this watch cancelled ``task`` and nothing else did (the request ends)."""
        if not self._cancelled:
            return False
        self._cancelled = False
        return task.uncancel() == 0


def _sse(events: list[Event]) -> bytes:
    """Server-Sent Events, one per event (``event:`` names its type), as one chunk."""
    return b"".join(
        b"event: " + event["type"].encode() + b"\ndata: " + _encode(event) + b"\n\n"
        for event in events
    )


# A turn's stream ends with one of these (core.generate yields nothing after it).
_LAST_EVENTS = frozenset(("response.completed", "response.incomplete", "response.failed"))


class EventStream(Response):
    """Server-Sent Events from a turn's generator; a client that leaves cancels the turn."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[list[Event], None], watch: Watch) -> None:
        # No body: Response.__init__ would declare content-length: 0.
        self.status_code = 200
        self.background = None
        self.init_headers({"cache-control": "no-cache", "x-accel-buffering": "no"})
        self._events = events
        self._watch = watch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def pump() -> None:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            # One write per batch of events that arose together, the last one ending the body:
            # a three-word answer's 11 events go out in 5 writes instead of 12.
            ended = False
            async for events in self._events:
                ended = events[-1]["type"] in _LAST_EVENTS
                body = {"type": "http.response.body", "body": _sse(events), "more_body": not ended}
                await send(body)
            if not ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        with contextlib.suppress(_ClientGone, OSError):
            await self._watch.run(pump())


def _metadata_field(record: ResponseRecord) -> Any:
    return _decode(record.data)


# The key check rides in the context read on PostgreSQL (respond settles it before the model).
@authed_in_store
async def create_response(request: Request, store: Store, project: str) -> Response:
    """Create a model response (OpenAI's Responses API), in a conversation when one is given.

    The model server configured for the model answers; the turn's input and output items are
    appended to the conversation in one transaction. With `stream: true` the answer is
    Server-Sent Events in OpenAI's shapes.
    """
    return await respond(request, store, project, await read_json(request, required=True))


DEDUPE_HEADER = "x-parley-tool-loop-dedupe"
_SWITCH = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def tool_loop_dedupe(request: Request) -> bool:
    """Whether n8n's tool-loop repeats are dropped for this request: the
    ``X-Parley-Tool-Loop-Dedupe`` header (``on``/``off``) when sent, else the server's setting.

    A header, not a body field: OpenAI's route answers 400 to unknown fields, and n8n's OpenAI
    credential can add a header to every call of a workflow.
    """
    value = request.headers.get(DEDUPE_HEADER)
    if value is None:
        default: bool = request.app.state.tool_loop_dedupe
        return default
    switch = _SWITCH.get(value.strip().lower())
    if switch is None:
        raise InvalidRequest(
            f"Invalid 'X-Parley-Tool-Loop-Dedupe' header: '{value[:32]}'. Expected 'on' or 'off'.",
            param=DEDUPE_HEADER,
            code="invalid_value",
        )
    return switch


async def respond(request: Request, store: Store, project: str, body: dict[str, Any]) -> Response:
    """Answer a create-response ``body`` for ``project`` (the API route and the dashboard's
    reply box both come here, so a turn is stored the same way from either)."""
    parsed = parse_create(body)
    upstreams: Upstreams = request.app.state.upstreams
    upstream = upstreams.for_model(parsed.model)
    context = await build_context(
        store,
        project,
        conversation=parsed.conversation,
        previous_response_id=parsed.previous_response_id,
        parsed=parsed.input,
        dedupe=tool_loop_dedupe(request),
        max_bytes=request.app.state.max_body_bytes,
    )
    # On PostgreSQL a conversation's read checked the key (one round trip for both); else
    # the check is made now: a revoked key never reaches the model.
    await inbound.settle_owed(store)
    call = ModelCall(
        model=parsed.model,
        instructions=parsed.instructions,
        items=context.model_items(),
        stream=parsed.stream,
        history=len(context.history),
        history_param="conversation" if parsed.conversation else "previous_response_id",
        tools=parsed.tools,
        tool_choice=None
        if parsed.tool_choice == "auto" and not parsed.tools
        else parsed.tool_choice,
        parallel_tool_calls=parsed.parallel_tool_calls,
        temperature=parsed.temperature,
        top_p=parsed.top_p,
        max_output_tokens=parsed.max_output_tokens,
        text_format=parsed.text_format,
        user=parsed.user,
        logprobs=parsed.logprobs,
        top_logprobs=parsed.top_logprobs,
    )
    created_at = int(time.time())
    turn = Turn(new_response(parsed, ids.new_id("resp_"), created_at), logprobs=parsed.logprobs)
    input_blob = b"[" + b",".join(item.data for item in context.inputs) + b"]"

    async def commit(response: dict[str, Any], output: list[NewItem]) -> None:
        record = None
        if parsed.store:
            record = ResponseRecord(
                response["id"],
                created_at,
                _encode(response),
                input_blob,
                parsed.previous_response_id,
            )
        if parsed.conversation is None and record is None:
            return
        try:
            await store.commit_response(
                project, parsed.conversation, context.fresh + output, created_at, record
            )
        except InvalidRequest as exc:
            # A turn that raced this one stored an id of this input first: name it as the
            # context's check would have (the store counts from the items it was given).
            raise _as_input(exc, context.fresh + output, context.inputs) from None

    watch = Watch(request.receive)
    if parsed.stream:
        # The upstream's status is known before the first byte: an error is still an HTTP error.
        try:
            model_stream = await watch.run(upstream.start(call))
        except _ClientGone:
            return Response(status_code=499)
        return EventStream(generate(turn, model_stream, commit), watch)

    async def whole() -> dict[str, Any]:
        model_stream = await upstream.start(call)
        async for _ in generate(turn, model_stream, commit):
            pass
        if turn.error is not None:
            raise turn.error
        return turn.response

    try:
        response = await watch.run(whole())
    except _ClientGone:
        # Nobody is listening; the status only shows in the access log.
        return Response(status_code=499)
    return ok(response)


def _as_input(exc: InvalidRequest, stored: list[NewItem], inputs: list[NewItem]) -> InvalidRequest:
    """A store's duplicate-id error (``items[i].id`` of the ``stored`` list) named by the
    request's ``input`` index instead; any other error as it is."""
    if exc.code == "duplicate_item" and exc.param and exc.param.startswith("items["):
        taken = stored[int(exc.param[6 : exc.param.index("]")])].id
        for index, item in enumerate(inputs):
            if item.id == taken:
                return duplicate_item(taken, index, "input")
    return exc


@authed
async def retrieve_response(request: Request, store: Store, project: str) -> Response:
    """A stored response, as it was answered."""
    if request.query_params.get("stream") in ("true", "1"):
        raise InvalidRequest(
            "Streaming a stored response again is not supported by this server.",
            param="stream",
            code="unsupported_parameter",
        )
    # Checked as on the conversation routes; what was stored is returned whole.
    parse_include(request)
    record = await store.retrieve_response(project, request.path_params["response_id"])
    return JSONBytes(record.data)


class DeletedResponse(msgspec.Struct):
    """What deleting a response answers."""

    id: str
    object: str = "response"
    deleted: bool = True


@authed
async def delete_response(request: Request, store: Store, project: str) -> Response:
    """Delete a stored response (its conversation's items stay)."""
    response_id = request.path_params["response_id"]
    await store.delete_response(project, response_id)
    return ok(DeletedResponse(response_id))


class InputItemList(msgspec.Struct):
    """A page of a response's input items."""

    data: list[Any]
    first_id: str | None
    last_id: str | None
    has_more: bool
    object: str = "list"


@authed
async def list_input_items(request: Request, store: Store, project: str) -> Response:
    """A page of a stored response's input items (newest first by default)."""
    params = request.query_params
    limit = parse_limit(params.get("limit"))
    order = parse_order(params.get("order"))
    parse_include(request)
    record = await store.retrieve_response(project, request.path_params["response_id"])
    items: list[dict[str, Any]] = _decode(record.input_items)
    if order == "desc":
        items.reverse()
    after = params.get("after")
    if after:
        position = next((i for i, item in enumerate(items) if item.get("id") == after), None)
        if position is None:
            raise item_not_found(after)
        items = items[position + 1 :]
    page = items[:limit]
    return ok(
        InputItemList(
            data=page,
            first_id=page[0]["id"] if page else None,
            last_id=page[-1]["id"] if page else None,
            has_more=len(items) > limit,
        )
    )


class Model(msgspec.Struct):
    """A model an upstream serves (OpenAI's ``Model``)."""

    id: str
    owned_by: str
    created: int = 0
    object: Literal["model"] = "model"


class ListModelsResponse(msgspec.Struct):
    """OpenAI's list of models."""

    data: list[Model]
    object: Literal["list"] = "list"


@authed
async def list_models(request: Request, store: Store, project: str) -> Response:
    """The models the configured model servers serve."""
    upstreams: Upstreams = request.app.state.upstreams
    models = await upstreams.models()
    return ok(ListModelsResponse([Model(name, owner) for name, owner in models]))


@authed
async def retrieve_model(request: Request, store: Store, project: str) -> Response:
    """One model the configured model servers serve."""
    name = request.path_params["model"]
    upstreams: Upstreams = request.app.state.upstreams
    for model, owner in await upstreams.models():
        if model == name:
            return ok(Model(model, owner))
    raise _model_not_found(name)


Endpoint = Callable[[Request], Awaitable[Response]]
__all__ = [
    "NotFound",
    "ParleyError",
    "create_response",
    "delete_response",
    "list_input_items",
    "list_models",
    "retrieve_model",
    "retrieve_response",
]
