"""The floor under parley: a bare ASGI app and a bare RSGI app that answer /healthz only.

Served by granian directly (bench/variants.py), they show what granian alone costs per request
on this machine, so parley's own share of a request can be told apart from the server's.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"15")]


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI: answer every HTTP request with the /healthz body."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


async def rsgi(scope: Any, protocol: Any) -> None:
    """RSGI (granian's native interface): the same answer."""
    protocol.response_bytes(200, [("content-type", "application/json")], BODY)
