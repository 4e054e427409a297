"""parley's own routes beyond OpenAI's API: fork, search, usage. Parse, call the store, answer."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from parley import ids
from parley.api import (
    authed,
    ok,
    parse_limit,
    parse_metadata_filter,
    parse_time_filter,
    read_json,
    reject_unknown,
)
from parley.errors import (
    NUL,
    InvalidRequest,
    invalid_type,
    item_not_found,
    missing_parameter,
)
from parley.ids import MAX_ID_LENGTH
from parley.metadata import encode_metadata
from parley.models import SearchHit, SearchItem, SearchPage
from parley.search import decode_cursor, encode_cursor
from parley.store import Store

# Search text longer than this is not a query but a paste; refuse it before the index sees it.
MAX_QUERY_LENGTH = 1000


@authed
async def fork_conversation(request: Request, store: Store, project: str) -> Response:
    """POST /v1/conversations/{conversation_id}/fork: copy a conversation into a new one.

    The copies get new ids; with ``after_item`` only the items up to and including it.
    """
    body = await read_json(request, required=False)
    reject_unknown(body, ("after_item", "metadata"))
    after_item = body.get("after_item")
    if after_item is not None and not isinstance(after_item, str):
        raise invalid_type("after_item", "a string", after_item)
    if after_item is not None and (len(after_item) > MAX_ID_LENGTH or NUL in after_item):
        raise item_not_found(after_item[:32].replace(NUL, "\\u0000"))
    given = body.get("metadata")
    record = await store.fork_conversation(
        project,
        request.path_params["conversation_id"],
        new_id=ids.conversation_id(),
        created_at=int(time.time()),
        after_item=after_item,
        metadata=None if given is None else encode_metadata(given),
    )
    return ok(record.wire())


@authed
async def usage(request: Request, store: Store, project: str) -> Response:
    """GET /v1/usage: what the caller's project stores."""
    return ok(await store.usage(project))


@authed
async def search_conversations(request: Request, store: Store, project: str) -> Response:
    """GET /v1/conversations/search: find the project's conversations by what was said in them.

    Searches message text parts, function and custom tool call arguments and outputs, best
    first, each hit with its best matching items and a snippet; combinable with the metadata
    and time filters; paged with `page`. The index is written in the same transaction as
    every item write and delete, so a hit is never stale.
    """
    params = request.query_params
    query = (params.get("q") or "").strip()
    if not query:
        raise missing_parameter("q")
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidRequest(
            f"Invalid 'q': string too long. Expected at most {MAX_QUERY_LENGTH} characters, "
            f"but got {len(query)}.",
            param="q",
            code="string_above_max_length",
        )
    raw_page = params.get("page")
    rows, has_more = await store.search_conversations(
        project,
        query,
        metadata=parse_metadata_filter(request),
        times=parse_time_filter(request),
        page=decode_cursor(raw_page) if raw_page else None,
        limit=parse_limit(params.get("limit")),
    )
    hits = [
        SearchHit(
            conversation=row.record.wire(),
            # Shown as a relevance (higher is better); stores rank lower-is-better.
            score=-row.rank,
            items=[SearchItem(item_id, snippet) for item_id, snippet in row.items],
        )
        for row in rows
    ]
    cursor = encode_cursor(rows[-1].rank, rows[-1].key) if has_more and rows else None
    return ok(SearchPage(data=hits, has_more=has_more, next_page=cursor))
