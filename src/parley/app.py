"""create_app(): routes, auth, error envelopes, request ids; the lifespan opens the store."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley import api, api_extensions, dashboard, ids, routing
from parley.accesslog import AccessLog
from parley.errors import InternalError, MethodNotAllowed, NotFound, ParleyError
from parley.openapi import openapi_document
from parley.ratelimit import default_burst, limiter_for
from parley.store import Store, open_store

log = logging.getLogger("parley")

DEFAULT_MAX_BODY = 4 * 1024 * 1024
DEFAULT_BODY_TIMEOUT = 30.0
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
        Route(conv + "/fork", api_extensions.fork_conversation, methods=["POST"]),
        Route("/v1/usage", api_extensions.usage, methods=["GET"]),
        *dashboard.routes(),
    ]


class Edge:
    """The outermost layer: a request id on every answer, `//` folded, no trace ever leaks."""

    def __init__(
        self, app: Starlette, access_log: AccessLog | None = None, *, direct: bool = True
    ) -> None:
        self.app = app
        self.state = app.state
        self.access_log = access_log
        # With CORS on, every request must pass Starlette's middleware stack.
        self.direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        request_id = ids.request_id().encode()
        path: str = scope["path"]
        if "//" in path:
            # n8n joins base URL and path verbatim: `.../v1/` + `/conversations` → `//`.
            scope = {**scope, "path": _SLASHES.sub("/", path)}
        if self.direct:
            found = routing.match(scope["method"], scope["path"])
            if found is not None:
                await self._direct(found, scope, receive, send, request_id, began)
                return
        started = False
        status = 0  # stays 0 when the client left before any answer

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
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
        finally:
            if self.access_log is not None:
                self.access_log.record(scope, request_id.decode(), status, began)

    async def _direct(
        self,
        found: tuple[routing.Endpoint, dict[str, str]],
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: bytes,
        began: float,
    ) -> None:
        """Run an API endpoint without Starlette's router and middleware layers."""
        endpoint, params = found
        scope["app"] = self.app
        scope["path_params"] = params
        status = 0
        try:
            try:
                response = await endpoint(Request(scope, receive))
            except ParleyError as exc:
                response = _error_response(exc)
            except Exception:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                response = _error_response(_INTERNAL)
            response.raw_headers.append((b"x-request-id", request_id))
            status = response.status_code
            await response(scope, receive, send)
        finally:
            if self.access_log is not None:
                self.access_log.record(scope, request_id.decode(), status, began)


def create_app(
    store: Store | None = None,
    *,
    database: str = "parley.db",
    max_body_bytes: int = DEFAULT_MAX_BODY,
    store_options: dict[str, Any] | None = None,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    rate_limit: float = 0.0,
    rate_burst: int | None = None,
    cors_origins: Sequence[str] = (),
    access_log: bool = False,
) -> ASGIApp:
    """The parley ASGI application over ``store`` (or a store opened from ``database``).

    ``rate_limit`` is requests per second per API key (0: none), ``cors_origins`` the browser
    origins allowed (none: CORS off), ``access_log`` one JSON line per request on stderr.
    """
    backend = store if store is not None else open_store(database, **(store_options or {}))
    limiter = (
        limiter_for(backend, rate_limit, rate_burst or default_burst(rate_limit))
        if rate_limit > 0
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await backend.open()
        try:
            yield
        finally:
            if limiter is not None:
                await limiter.close()
            await backend.close()

    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "DELETE"],
                # The openai JS SDK sends its own x-stainless-* and openai-* headers.
                allow_headers=["*"],
                expose_headers=["x-request-id", "retry-after", "retry-after-ms"],
                max_age=600,
            )
        )
    app = Starlette(
        routes=_routes(),
        middleware=middleware,
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
    app.state.body_timeout = body_timeout
    app.state.rate_limiter = limiter
    app.state.openapi = msgspec.json.encode(openapi_document())
    return Edge(app, AccessLog() if access_log else None, direct=not cors_origins)


def app_from_env() -> ASGIApp:
    """The app configured by ``PARLEY_*`` environment variables (what `parley serve` runs)."""
    options: dict[str, Any] = {}
    database = os.environ.get("PARLEY_DATABASE", "parley.db")
    # `parley serve` migrated already; workers only open the database.
    options["migrate"] = os.environ.get("PARLEY_MIGRATE", "1") == "1"
    if database.startswith(("postgres://", "postgresql://")):
        options["pool_size"] = int(os.environ.get("PARLEY_POOL_SIZE") or 10)
        options["statement_timeout"] = float(os.environ.get("PARLEY_STATEMENT_TIMEOUT") or 30)
    else:
        options["synchronous"] = os.environ.get("PARLEY_SQLITE_SYNCHRONOUS", "FULL")
    return create_app(
        database=database,
        max_body_bytes=int(os.environ.get("PARLEY_MAX_BODY_BYTES", DEFAULT_MAX_BODY)),
        store_options=options,
        body_timeout=float(os.environ.get("PARLEY_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT)),
        rate_limit=float(os.environ.get("PARLEY_RATE_LIMIT") or 0),
        rate_burst=int(os.environ.get("PARLEY_RATE_BURST") or 0) or None,
        cors_origins=os.environ.get("PARLEY_CORS_ORIGINS", "").replace(",", " ").split(),
        access_log=os.environ.get("PARLEY_ACCESS_LOG", "0").lower() in ("1", "true", "yes"),
    )
