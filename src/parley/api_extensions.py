"""parley's own routes beyond OpenAI's API: fork and usage. Parse, call the store, answer."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from parley import ids
from parley.api import MAX_ID_LENGTH, authed, ok, read_json, reject_unknown
from parley.errors import NUL, invalid_type, item_not_found
from parley.metadata import encode_metadata
from parley.store import Store


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
