"""create_app(): routes, auth, error envelopes, request ids; the lifespan opens the store."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley import api, ids
from parley.errors import InternalError, MethodNotAllowed, NotFound, ParleyError
from parley.openapi import openapi_document
from parley.store import Store, open_store

log = logging.getLogger("parley")

DEFAULT_MAX_BODY = 4 * 1024 * 1024
_SLASHES = re.compile(r"/{2,}")
_INTERNAL = InternalError(
    "The server had an error while processing your request. Sorry about that! "
    "You can retry your request; the request id identifies it in the server log."
)


def _error_response(exc: ParleyError) -> Response:
    return Response(
        exc.to_json(),
        status_code=exc.status,
        media_type="application/json",
        headers=exc.headers or None,
    )


async def _parley_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ParleyError)
    return _error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        return _error_response(
            NotFound(
                f"Unknown request URL: {where}. Please check the URL for typos.",
                code="unknown_url",
            )
        )
    if exc.status_code == 405:
        return _error_response(
            MethodNotAllowed(
                f"Invalid method for URL ({where}).",
                code="method_not_allowed",
                headers=dict(exc.headers or {}),
            )
        )
    return _error_response(ParleyError(str(exc.detail), status=exc.status_code))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error_response(_INTERNAL)


async def healthz(request: Request) -> Response:
    """Liveness: answers without touching the database."""
    return api.JSONBytes(b'{"status":"ok"}')


async def openapi_json(request: Request) -> Response:
    """parley's own OpenAPI document."""
    return api.JSONBytes(request.app.state.openapi)


def _routes() -> list[Route]:
    conv = "/v1/conversations/{conversation_id}"
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/v1/conversations", api.create_conversation, methods=["POST"]),
        Route("/v1/conversations", api.list_conversations, methods=["GET"]),
        Route(conv, api.retrieve_conversation, methods=["GET"]),
        Route(conv, api.update_conversation, methods=["POST"]),
        Route(conv, api.delete_conversation, methods=["DELETE"]),
        Route(conv + "/items", api.create_items, methods=["POST"]),
        Route(conv + "/items", api.list_items, methods=["GET"]),
        Route(conv + "/items/{item_id}", api.retrieve_item, methods=["GET"]),
        Route(conv + "/items/{item_id}", api.delete_item, methods=["DELETE"]),
    ]


class Edge:
    """The outermost layer: a request id on every answer, `//` folded, no trace ever leaks."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ids.request_id().encode()
        path: str = scope["path"]
        if "//" in path:
            # n8n joins base URL and path verbatim: `.../v1/` + `/conversations` → `//`.
            scope = {**scope, "path": _SLASHES.sub("/", path)}
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Starlette already answered 500 through `_unexpected` and logged; this only
            # stops the exception from reaching the server, which would log it twice.
            if not started:
                body = _INTERNAL.to_json()
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send_with_id({"type": "http.response.body", "body": body})


def create_app(
    store: Store | None = None,
    *,
    database: str = "parley.db",
    max_body_bytes: int = DEFAULT_MAX_BODY,
    store_options: dict[str, Any] | None = None,
) -> ASGIApp:
    """The parley ASGI application over ``store`` (or a store opened from ``database``)."""
    backend = store if store is not None else open_store(database, **(store_options or {}))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await backend.open()
        try:
            yield
        finally:
            await backend.close()

    app = Starlette(
        routes=_routes(),
        exception_handlers={
            ParleyError: _parley_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.store = backend
    app.state.max_body_bytes = max_body_bytes
    app.state.openapi = msgspec.json.encode(openapi_document())
    return Edge(app)


def app_from_env() -> ASGIApp:
    """The app configured by ``PARLEY_*`` environment variables (what `parley serve` runs)."""
    options: dict[str, Any] = {}
    database = os.environ.get("PARLEY_DATABASE", "parley.db")
    if not database.startswith(("postgres://", "postgresql://")):
        options["synchronous"] = os.environ.get("PARLEY_SQLITE_SYNCHRONOUS", "FULL")
        # `parley serve` migrated already; workers only open the file.
        options["migrate"] = os.environ.get("PARLEY_MIGRATE", "1") == "1"
    return create_app(
        database=database,
        max_body_bytes=int(os.environ.get("PARLEY_MAX_BODY_BYTES", DEFAULT_MAX_BODY)),
        store_options=options,
    )
