"""The /v1 dispatcher: the API's routes matched by path shape, not by regex list.

Starlette's router tries each route's regex in turn and wraps the call in three middleware
layers; for the eight conversation routes a split on "/" and one dict lookup do the same job.
The py-spy profiles in bench/ put routing and those layers near a fifth of a keyed GET.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from parley import api, api_extensions

Endpoint = Callable[[Request], Awaitable[Response]]

# (number of path segments after /v1/conversations, method) → endpoint; two-segment routes
# are told apart by their second segment (`items`, parley's `fork`).
_SUBROUTES: dict[tuple[str, str], Endpoint] = {
    ("fork", "POST"): api_extensions.fork_conversation,
}
_TABLE: dict[tuple[int, str], Endpoint] = {
    (0, "POST"): api.create_conversation,
    (0, "GET"): api.list_conversations,
    (1, "GET"): api.retrieve_conversation,
    (1, "POST"): api.update_conversation,
    (1, "DELETE"): api.delete_conversation,
    (2, "POST"): api.create_items,
    (2, "GET"): api.list_items,
    (3, "GET"): api.retrieve_item,
    (3, "DELETE"): api.delete_item,
}
_PREFIX = "/v1/conversations"


def match(method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
    """The endpoint and path parameters for a /v1 conversation route, or None.

    None sends the request on to Starlette, which answers unknown URLs (404) and wrong methods
    (405) with the error envelope.
    """
    if not path.startswith(_PREFIX):
        return None
    rest = path[len(_PREFIX) :]
    if not rest:
        parts: list[str] = []
    elif rest[0] == "/":
        parts = rest[1:].split("/")
    else:
        return None
    count = len(parts)
    if count > 3 or "" in parts:
        return None
    if count == 2 and parts[1] != "items":
        endpoint = _SUBROUTES.get((parts[1], method))
        return None if endpoint is None else (endpoint, {"conversation_id": parts[0]})
    if count == 3 and parts[1] != "items":
        return None
    endpoint = _TABLE.get((count, method))
    if endpoint is None:
        return None
    params: dict[str, str] = {}
    if count:
        params["conversation_id"] = parts[0]
    if count == 3:
        params["item_id"] = parts[2]
    return endpoint, params
