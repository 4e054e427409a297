"""create_app(): the route table, error envelopes, request ids; the lifespan opens the store."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parley import auth, ids, keycheck, retention
from parley.accesslog import AccessLog
from parley.api import Hot
from parley.errors import InternalError, MethodNotAllowed, NotFound, ParleyError
from parley.metrics import METRICS_ROUTE, Metrics, watch_store
from parley.openapi import openapi_document
from parley.ratelimit import FailureLimiter, default_burst
from parley.routes import ROUTES
from parley.routing import RouteTable
from parley.settings import DEFAULTS, Settings, from_env
from parley.settings import build as build_settings
from parley.store import Store, open_store
from parley.upstreams import Upstreams
from parley.upstreams.config import upstream_configs

log = logging.getLogger("parley")

_SLASHES = re.compile(r"/{2,}")
# On every answer: no cache (pages and JSON carry a project's data), no MIME sniffing, no
# framing of the dashboard by another site (both the CSP form and the older header).
_SAFETY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
]
_INTERNAL = InternalError(
    "The server had an error while processing your request. Sorry about that! "
    "You can retry your request; the request id identifies it in the server log."
)


_SAFETY_NAMES = frozenset(name for name, _ in _SAFETY_HEADERS)


def _add_safety_headers(headers: list[tuple[bytes, bytes]]) -> None:
    # A response may set its own (the dashboard's static files are cacheable). Header names
    # in raw headers are lower case already (Starlette's and ours).
    if _SAFETY_NAMES.isdisjoint([name for name, _ in headers]):
        headers.extend(_SAFETY_HEADERS)  # the usual case: none of them set
        return
    present = {name.lower() for name, _ in headers}
    headers.extend(header for header in _SAFETY_HEADERS if header[0] not in present)


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


def _unknown_url(request: Request) -> NotFound:
    return NotFound(
        f"Unknown request URL: {request.method} {request.url.path}. Please check the URL for "
        "typos.",
        code="unknown_url",
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        return _error_response(_unknown_url(request))
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


class AppState(State):
    """``app.state`` whose attributes are plain instance attributes.

    Starlette's ``State`` answers each attribute through ``__getattr__`` and a dict lookup,
    about 0.3 µs apiece; a hot retrieve reads seven of them (bench/README.md, "Issue 12 on
    SQLite, the reads"). Values are also kept in ``_state``, so ``state["name"]`` still works.
    """

    def __setattr__(self, key: Any, value: Any) -> None:
        object.__setattr__(self, key, value)
        self._state[key] = value

    def __delattr__(self, key: Any) -> None:
        object.__delattr__(self, key)
        del self._state[key]


class Edge:
    """The outermost layer: a request id on every answer, `//` folded, no trace ever leaks.

    Requests the route table matches run their handler straight away (behind CORS when it is
    on); the rest go to Starlette, which answers 404, 405 and HEAD from the same table.
    """

    def __init__(
        self,
        app: Starlette,
        table: RouteTable,
        access_log: AccessLog | None = None,
        cors: Callable[[ASGIApp], ASGIApp] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.state = app.state
        self.table = table
        self.access_log = access_log
        self.metrics = metrics
        self.direct: ASGIApp = self._run if cors is None else cors(self._run)
        self.unknown: ASGIApp = self._not_found if cors is None else cors(self._not_found)
        self.fallback: ASGIApp = app if cors is None else cors(app)

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
        scope["parley.request_id"] = request_id
        found = self.table.match(scope["method"], scope["path"])
        try:
            if found is not None:
                scope["app"] = self.app
                scope["route"], scope["path_params"] = found
                await self.direct(scope, receive, send)
            elif scope["method"] != "OPTIONS" and not self.table.knows(scope["path"]):
                # No route has this path: the 404 needs no trip through Starlette's router
                # (OPTIONS still goes there, for CORS preflights).
                await self.unknown(scope, receive, send)
            else:
                await self._fallback(scope, receive, send)
        finally:
            status = scope.get("parley.status", 0)  # 0: the client left before an answer
            if self.access_log is not None:
                self.access_log.record(scope, request_id.decode(), status, began)
            if self.metrics is not None:
                self.metrics.observe(scope, status, began)

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the matched handler without Starlette's router and middleware layers."""
        handler = scope["route"].handler
        try:
            if type(handler) is Hot:
                # A hot read answers bytes, sent from here: no Request or Response object
                # is built (measured in bench/README.md, "Issue 12 on SQLite: steps").
                body = await handler.answer(scope)
            else:
                response = await handler(Request(scope, receive))
        except ParleyError as exc:
            response = _error_response(exc)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            response = _error_response(_INTERNAL)
        else:
            if type(handler) is Hot:
                await self._send_json(scope, send, body)
                return
        response.raw_headers.append((b"x-request-id", scope["parley.request_id"]))
        _add_safety_headers(response.raw_headers)
        scope["parley.status"] = response.status_code
        await response(scope, receive, send)

    @staticmethod
    async def _send_json(scope: Scope, send: Send, body: bytes) -> None:
        # The messages a JSONBytes answer sends, with its headers, the request id and the
        # safety headers in the order the other answers carry them.
        scope["parley.status"] = 200
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                    (b"x-request-id", scope["parley.request_id"]),
                    *_SAFETY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        """OpenAI's 404 for a URL no route has, as Starlette's fallback words it."""
        scope["app"] = self.app
        response = _error_response(_unknown_url(Request(scope, receive)))
        response.raw_headers.append((b"x-request-id", scope["parley.request_id"]))
        scope["parley.status"] = response.status_code
        await response(scope, receive, send)

    async def _fallback(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        request_id: bytes = scope["parley.request_id"]

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                scope["parley.status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id))
                _add_safety_headers(headers)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.fallback(scope, receive, send_with_id)
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
    settings: Settings = DEFAULTS,
    *,
    store: Store | None = None,
    routes: RouteTable = ROUTES,
    **fields: Any,
) -> ASGIApp:
    """The parley ASGI application for ``settings``, over ``store`` or one they open.

    ``routes`` is what is served: parley's own table unless a test extends it. ``fields``
    replace single settings, checked like any other: ``create_app(database="x.db")``.
    """
    if fields:
        settings = build_settings(msgspec.to_builtins(settings), fields)
    meter = Metrics() if settings.metrics else None
    models = Upstreams(upstream_configs(settings), meter)
    backend = store or open_store(
        settings.database,
        migrate=settings.migrate,
        statement_timeout=settings.statement_timeout,
        sqlite=settings.sqlite,
        postgres=settings.postgres,
    )
    rate = settings.rate_limit
    burst = settings.rate_burst or default_burst(rate)
    limiter = backend.rate_limiter(rate, burst) if rate > 0 else None
    # The same budget, per client address, for failed API authentications.
    failures = FailureLimiter(rate, burst) if rate > 0 else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await backend.open()
        try:
            async with retention.sweeper(backend, settings.sweep_interval):
                yield
        finally:
            if limiter is not None:
                await limiter.close()
            await models.close()
            await backend.close()

    cors = None
    if settings.cors_origins:
        cors = functools.partial(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            # The openai JS SDK sends its own x-stainless-* and openai-* headers.
            allow_headers=["*"],
            expose_headers=["x-request-id", "retry-after", "retry-after-ms"],
            max_age=600,
        )
    if meter is not None:
        watch_store(meter, backend)
        routes = RouteTable([*routes.routes, METRICS_ROUTE])
    app = Starlette(
        routes=routes.starlette_routes(),
        exception_handlers={
            ParleyError: _parley_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state = AppState()
    app.state.settings = settings
    app.state.store = backend
    app.state.max_body_bytes = settings.max_body_bytes
    app.state.body_timeout = settings.body_timeout
    app.state.rate_limiter = limiter
    app.state.key_use = auth.KeyUse()
    app.state.key_cache = keycheck.KeyCache()
    app.state.upstreams = models
    app.state.tool_loop_dedupe = settings.tool_loop_dedupe
    app.state.auth_failures = failures
    app.state.openapi = msgspec.json.encode(openapi_document(routes.routes))
    app.state.metrics = meter
    return Edge(app, routes, AccessLog() if settings.access_log else None, cors, meter)


def app_from_env() -> ASGIApp:
    """The app configured by ``PARLEY_*`` variables alone (``granian --factory`` can run it)."""
    return create_app(build_settings(from_env(os.environ), strict=False))
