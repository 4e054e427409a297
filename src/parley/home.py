"""`GET /`: where a person or a client that opens the server's root should go instead."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from parley.dashboard.web import render

# What `GET /` tells a client that is not a browser: the way in, instead of a bare 404.
_HOME = msgspec.json.encode(
    {
        "object": "parley",
        "message": "OpenAI's Conversations API is under /v1; the dashboard is at /dashboard.",
        "api": "/v1",
        "dashboard": "/dashboard",
        "openapi": "/openapi.json",
        "health": "/healthz",
        "docs": "parley's README; OpenAI's Conversations API reference for the wire format",
    }
)


async def home(request: Request) -> Response:
    """GET /: the way to the API, the dashboard and the docs (a page for browsers)."""
    if "text/html" in request.headers.get("accept", ""):
        return render("home.html", base=f"{request.url.scheme}://{request.url.netloc}")
    return Response(_HOME, media_type="application/json")
