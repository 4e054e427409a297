"""The /v1 routes: parse the request, call the store, answer JSON bytes. No SQL here."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from parley import auth, ids, inbound
from parley.errors import (
    InvalidRequest,
    above_maximum,
    below_minimum,
    invalid_value,
    json_type_name,
    missing_parameter,
    unknown_parameter,
)
from parley.items import check_items_array, parse_items, prepare_items
from parley.metadata import encode_metadata, metadata_filter
from parley.models import (
    DEFAULT_LIMIT,
    INCLUDE_VALUES,
    MAX_LIMIT,
    MIN_LIMIT,
    ConversationList,
    DeletedConversation,
    Health,
    ItemList,
    NewItem,
    TimeFilter,
)
from parley.store import Order, Store

_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder()
_ORDERS: tuple[Order, ...] = ("asc", "desc")

_UNPARSEABLE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The API expects a JSON payload, but what was sent was "
    "not valid JSON.)"
)


class JSONBytes(Response):
    """A 200 whose body is JSON bytes already encoded.

    Its two headers are written straight out instead of through Starlette's ``init_headers``
    (which looks for given headers, a charset and a body to measure): with the Edge's
    safety headers added in one go, the response path of a retrieve fell from about 11 to
    4 µs (bench/README.md, "Steps").
    """

    media_type = "application/json"

    def __init__(self, content: bytes) -> None:
        self.status_code = 200
        self.body = content
        self.background = None
        self.raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(content)),
        ]


def ok(payload: Any) -> Response:
    """A 200 answer with ``payload`` encoded by msgspec."""
    return JSONBytes(_encode(payload))


_HEALTHY = _encode(Health("ok"))


async def healthz(request: Request) -> Response:
    """Liveness: answers without touching the database."""
    return JSONBytes(_HEALTHY)


# -- request parsing ----------------------------------------------------------------------


async def read_json(request: Request, *, required: bool) -> dict[str, Any]:
    """The body as a JSON object. Empty body: ``{}``, or 400 when ``required``."""
    body = await inbound.read_body(request)
    if not body.strip():
        if required:
            raise InvalidRequest(
                "The request needs a JSON body, but none was sent.", code="missing_body"
            )
        return {}
    content_type = request.headers.get("content-type", "application/json")
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise InvalidRequest(
            f"Unsupported content type '{media}'. Send the body as JSON with "
            "'Content-Type: application/json'.",
            code="unsupported_content_type",
        )
    try:
        value = _decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest(_UNPARSEABLE) from None
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"The request body must be a JSON object, but got {json_type_name(value)} instead.",
            code="invalid_type",
        )
    return value


def reject_unknown(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """400 ``unknown_parameter`` for any top-level field outside ``allowed``."""
    for key in body:
        if key not in allowed:
            raise unknown_parameter(key)


def parse_include(request: Request) -> list[str]:
    """``include[]`` (as the SDK sends it) or bare ``include``; each value checked."""
    return check_include(request.query_params)


def check_include(params: QueryParams) -> list[str]:
    """:func:`parse_include` for query parameters already parsed."""
    values = params.getlist("include[]") + params.getlist("include")
    for index, value in enumerate(values):
        if value not in INCLUDE_VALUES:
            raise invalid_value(f"include[{index}]", value, list(INCLUDE_VALUES))
    return values


def parse_limit(raw: str | None) -> int:
    """The page size: 1–100, default 20."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequest(
            f"Invalid type for 'limit': expected an integer, but got a string instead ('{raw}').",
            param="limit",
            code="invalid_type",
        ) from None
    if limit < MIN_LIMIT:
        raise below_minimum("limit", MIN_LIMIT, limit, "integer")
    if limit > MAX_LIMIT:
        raise above_maximum("limit", MAX_LIMIT, limit, "integer")
    return limit


def parse_order(raw: str | None) -> Order:
    """``asc`` or ``desc`` (the default)."""
    if raw is None or raw == "":
        return "desc"
    if raw == "asc":
        return "asc"
    if raw == "desc":
        return "desc"
    raise invalid_value("order", raw, list(_ORDERS))


# -- handlers -----------------------------------------------------------------------------

Handler = Callable[[Request, Store, str], Awaitable[Response]]


def authed(
    handler: Handler, *, checked_in_store: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """Resolve the caller's project from its key, then run ``handler`` with it.

    ``checked_in_store``: the handler's store calls check the key themselves (on PostgreSQL
    the check rides in the route's statement, parley.keycheck: one round trip, not two).
    """

    async def endpoint(request: Request) -> Response:
        state = request.app.state
        store: Store = state.store
        scope = request.scope
        token = auth.bearer_token(request.headers.get("authorization"))
        if not (checked_in_store and store.checks_keys_in_statements):
            # The key is checked up front (SQLite, or a route whose statements do not check
            # it): no context manager around the handler, which cost a SQLite retrieve about
            # 9 % of its instructions (callgrind, bench/inproc.py).
            project = await inbound.authorize(state, scope, token)
            inbound.check_path_ids(request.path_params)
            inbound.check_query(request)
            return await handler(request, store, project)
        async with inbound.authorized(state, scope, token, in_store=True) as project:
            inbound.check_path_ids(request.path_params)
            inbound.check_query(request)
            return await handler(request, store, project)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def authed_in_store(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """:func:`authed` for a hot route whose store calls check the key themselves."""
    return authed(handler, checked_in_store=True)


# -- hot routes ---------------------------------------------------------------------------

HotHandler = Callable[[Scope, Store, str], Awaitable[bytes]]
_NO_QUERY = QueryParams(b"")


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the (lower-case) header ``name`` in an ASGI scope, as Starlette's
    ``request.headers.get`` gives it."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def query(scope: Scope) -> QueryParams:
    """The scope's query parameters, as Starlette's ``request.query_params``."""
    raw: bytes = scope.get("query_string", b"")
    return QueryParams(raw) if raw else _NO_QUERY


class Hot:
    """A hot read route: answers 200 JSON bytes from the ASGI scope, without Starlette.

    The Edge (`app.py`) calls :meth:`answer` and sends the bytes itself; no ``Request``, no
    ``Response``, no ``authed`` layers. Called as a Starlette endpoint (``HEAD``, or a test
    app without the Edge) it answers the same through a ``Request``. The key check, path ids,
    query and the owed check on PostgreSQL are exactly those of :func:`authed`.
    """

    def __init__(self, handler: HotHandler) -> None:
        self.handler = handler
        self.__name__ = handler.__name__
        self.__doc__ = handler.__doc__

    async def __call__(self, request: Request) -> Response:
        return JSONBytes(await self.answer(request.scope))

    async def answer(self, scope: Scope) -> bytes:
        """The 200 body for the request of ``scope``; raises ParleyError for anything else."""
        state = scope["app"].state
        store: Store = state.store
        token = auth.bearer_token(header(scope, b"authorization"))
        if not store.checks_keys_in_statements:
            project = await inbound.authorize(state, scope, token)
            inbound.check_path_ids(scope["path_params"])
            inbound.check_query_string(scope.get("query_string", b""))
            return await self.handler(scope, store, project)
        async with inbound.authorized(state, scope, token, in_store=True) as project:
            inbound.check_path_ids(scope["path_params"])
            inbound.check_query_string(scope.get("query_string", b""))
            return await self.handler(scope, store, project)


@authed_in_store
async def create_conversation(request: Request, store: Store, project: str) -> Response:
    """POST /v1/conversations"""
    body = await read_json(request, required=False)
    reject_unknown(body, ("items", "metadata"))
    metadata = encode_metadata(body.get("metadata"))
    raw_items = body.get("items")
    items: list[NewItem] = []
    if raw_items is not None:
        parsed = parse_items(check_items_array(raw_items))
        items = await prepare_items(
            store, project, parsed, max_bytes=request.app.state.max_body_bytes
        )
    record = await store.create_conversation(
        project, ids.conversation_id(), int(time.time()), metadata, items
    )
    return ok(record.wire())


def parse_metadata_filter(request: Request) -> list[tuple[str, str]]:
    """``metadata[key]=value`` query pairs (all must match), checked like metadata itself."""
    pairs: list[tuple[str, str]] = []
    for key, value in request.query_params.multi_items():
        if key.startswith("metadata[") and key.endswith("]"):
            pairs.append((key[9:-1], value))
        elif key.startswith("metadata"):
            raise InvalidRequest(
                f"Invalid query parameter '{key}': filter by metadata as metadata[KEY]=VALUE.",
                param=key,
                code="invalid_value",
            )
    return metadata_filter(pairs)


def parse_time_filter(request: Request) -> TimeFilter:
    """``created_after``, ``created_before``, ``updated_after``: Unix seconds, exclusive."""
    params = request.query_params
    return TimeFilter(
        created_after=parse_seconds(params.get("created_after"), "created_after"),
        created_before=parse_seconds(params.get("created_before"), "created_before"),
        updated_after=parse_seconds(params.get("updated_after"), "updated_after"),
    )


def parse_seconds(raw: str | None, name: str) -> int | None:
    """A Unix time in whole seconds, or None when absent."""
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(
            f"Invalid type for '{name}': expected an integer (Unix seconds), but got a string "
            f"instead ('{raw[:32]}').",
            param=name,
            code="invalid_type",
        ) from None
    if not 0 <= value < 1 << 53:
        raise InvalidRequest(
            f"Invalid '{name}': expected Unix seconds between 0 and 2^53, but got {value}.",
            param=name,
            code="invalid_value",
        )
    return value


@authed
async def list_conversations(request: Request, store: Store, project: str) -> Response:
    """GET /v1/conversations: list the project's conversations, filtered by metadata and time.

    Newest first (order=desc) or oldest first, by created_at then creation in this store;
    keyset pages through `after`.
    """
    params = request.query_params
    limit = parse_limit(params.get("limit"))
    order = parse_order(params.get("order"))
    page = await store.list_conversations(
        project,
        metadata=parse_metadata_filter(request),
        after=params.get("after") or None,
        limit=limit,
        order=order,
        times=parse_time_filter(request),
    )
    records = page.conversations
    return ok(
        ConversationList(
            data=[record.wire() for record in records],
            first_id=records[0].id if records else None,
            last_id=records[-1].id if records else None,
            has_more=page.has_more,
        )
    )


@Hot
async def retrieve_conversation(scope: Scope, store: Store, project: str) -> bytes:
    """GET /v1/conversations/{conversation_id}"""
    record = await store.retrieve_conversation(project, scope["path_params"]["conversation_id"])
    return _encode(record.wire())


@authed_in_store
async def update_conversation(request: Request, store: Store, project: str) -> Response:
    """POST /v1/conversations/{conversation_id}: replaces the metadata."""
    conversation_id = request.path_params["conversation_id"]
    body = await read_json(request, required=True)
    reject_unknown(body, ("metadata",))
    if "metadata" not in body:
        raise missing_parameter("metadata")
    metadata = encode_metadata(body["metadata"])
    record = await store.update_conversation(project, conversation_id, metadata)
    return ok(record.wire())


@authed_in_store
async def delete_conversation(request: Request, store: Store, project: str) -> Response:
    """DELETE /v1/conversations/{conversation_id}: the conversation and all its items."""
    conversation_id = request.path_params["conversation_id"]
    await store.delete_conversation(project, conversation_id)
    return ok(DeletedConversation(conversation_id))


@authed_in_store
async def create_items(request: Request, store: Store, project: str) -> Response:
    """POST /v1/conversations/{conversation_id}/items"""
    conversation_id = request.path_params["conversation_id"]
    parse_include(request)
    body = await read_json(request, required=True)
    reject_unknown(body, ("items",))
    if "items" not in body:
        raise missing_parameter("items")
    parsed = parse_items(check_items_array(body["items"], allow_empty=False))
    items = await prepare_items(store, project, parsed, max_bytes=request.app.state.max_body_bytes)
    await store.create_items(project, conversation_id, items, int(time.time()))
    return ok(
        ItemList(
            data=[msgspec.Raw(item.data) for item in items],
            first_id=items[0].id,
            last_id=items[-1].id,
            has_more=False,
        )
    )


@Hot
async def list_items(scope: Scope, store: Store, project: str) -> bytes:
    """GET /v1/conversations/{conversation_id}/items"""
    params = query(scope)
    limit = parse_limit(params.get("limit"))
    order = parse_order(params.get("order"))
    check_include(params)
    after = params.get("after") or None
    page = await store.list_items(
        project, scope["path_params"]["conversation_id"], after=after, limit=limit, order=order
    )
    rows = page.items
    return _encode(
        ItemList(
            data=[msgspec.Raw(data) for _, data in rows],
            first_id=rows[0][0] if rows else None,
            last_id=rows[-1][0] if rows else None,
            has_more=page.has_more,
        )
    )


@authed_in_store
async def retrieve_item(request: Request, store: Store, project: str) -> Response:
    """GET /v1/conversations/{conversation_id}/items/{item_id}"""
    parse_include(request)
    path = request.path_params
    data = await store.retrieve_item(project, path["conversation_id"], path["item_id"])
    return JSONBytes(data)


@authed_in_store
async def delete_item(request: Request, store: Store, project: str) -> Response:
    """DELETE /v1/conversations/{conversation_id}/items/{item_id}: answers the conversation."""
    path = request.path_params
    record = await store.delete_item(project, path["conversation_id"], path["item_id"])
    return ok(record.wire())
