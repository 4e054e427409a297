"""The dashboard's plumbing: templates, the session behind the cookie, forms and CSRF.

The browser holds only a random session token (HttpOnly, SameSite=Strict, Secure over HTTPS);
the store keeps its SHA-256. Every form that changes something carries a CSRF token derived
from the session token, so a page that cannot read the cookie cannot forge one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from parley import inbound
from parley.errors import ParleyError, PayloadTooLarge
from parley.models import DashboardSession
from parley.ratelimit import RateLimiter, rate_limited
from parley.store import Store

COOKIE = "parley_session"
COOKIE_PATH = "/dashboard"
SESSION_SECONDS = 8 * 3600
# The largest form the dashboard takes: a metadata edit (16 pairs of 64 + 512 characters) or
# a reply fits many times over; anything bigger is refused before it is read in full.
MAX_FORM_BYTES = 64 * 1024

_env = Environment(
    loader=PackageLoader("parley", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(timestamp: int | None) -> str:
    """A Unix time as a UTC date and time."""
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_env.filters["when"] = when


def token_hash(token: str) -> bytes:
    """The digest stored for a session token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def csrf_token(token: str) -> str:
    """The CSRF token of the session whose cookie holds ``token``."""
    return hmac.new(token.encode("utf-8", "surrogatepass"), b"parley-csrf", "sha256").hexdigest()


@dataclass(frozen=True)
class Visit:
    """A signed-in request: its session and the CSRF token its forms carry."""

    session: DashboardSession
    csrf: str


def render(name: str, visit: Visit | None = None, status: int = 200, **context: Any) -> Response:
    """A template rendered as a page; pages never go to shared caches."""
    html = _env.get_template(name).render(visit=visit, **context)
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def store_of(request: Request) -> Store:
    """The app's store."""
    store: Store = request.app.state.store
    return store


async def current(request: Request) -> Visit | None:
    """The live session behind the request's cookie, if any."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 128:
        return None
    session = await store_of(request).find_session(token_hash(token), int(time.time()))
    return None if session is None else Visit(session, csrf_token(token))


class FormTooLarge(Exception):
    """The form body passed MAX_FORM_BYTES."""


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form, first value per field, refused past MAX_FORM_BYTES.

    Read like an API body: a client trickling it in gets the API's 408 at `--body-timeout`
    (a sign-in body sent a byte a second was once held for as long as it lasted).
    """
    try:
        body = await inbound.read_body(request, MAX_FORM_BYTES)
    except PayloadTooLarge:
        raise FormTooLarge from None
    # A plain urlencoded form: parsed here rather than pulling in a multipart parser.
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def to_sign_in() -> Response:
    """Back to the sign-in page."""
    return RedirectResponse("/dashboard", status_code=303)


def error_page(visit: Visit | None, status: int, message: str) -> Response:
    """A page that says what went wrong."""
    return render("error.html", visit, status=status, message=message)


def failed(visit: Visit | None, exc: ParleyError) -> Response:
    """The error page for ``exc``, with its headers (a 429's Retry-After)."""
    response = error_page(visit, exc.status, exc.message)
    response.headers.update(exc.headers)
    return response


async def admit(request: Request, visit: Visit) -> None:
    """The API's rules for a signed-in request: ids and query values checked like the API's
    (a NUL in a path id was a 500 on PostgreSQL), and the key's rate budget spent."""
    inbound.check_path_ids(request.path_params)
    inbound.check_query(request)
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is not None:
        # The dashboard's bucket of the session's key: the same budget as on the API.
        wait = await limiter.acquire(b"dashboard:" + visit.session.key_id.encode())
        if wait > 0:
            raise rate_limited(wait)


def check_origin(request: Request) -> None:
    """403 for a form posted from another site's page (sign-in has no CSRF token yet)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # The pages' no-referrer policy makes browsers send `Origin: null`; then trust only
        # what Sec-Fetch-Site says is the same origin (a sandboxed frame says cross-site).
        if request.headers.get("sec-fetch-site") in (None, "same-origin", "none"):
            return
    else:
        host = request.headers.get("host", "")
        if origin in (f"http://{host}", f"https://{host}"):
            return
    raise ParleyError(
        "A form posted from another site's page is refused.", status=403, code="cross_origin"
    )


Page = Callable[[Request, Visit], Awaitable[Response]]
Change = Callable[[Request, Visit, dict[str, str]], Awaitable[Response]]


def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A GET page that needs a session; store errors become an error page."""

    async def endpoint(request: Request) -> Response:
        visit = await current(request)
        if visit is None:
            return to_sign_in()
        try:
            await admit(request, visit)
            return await handler(request, visit)
        except ParleyError as exc:
            return failed(visit, exc)

    return endpoint


def change(handler: Change) -> Callable[[Request], Awaitable[Response]]:
    """A POST that changes something: needs a session and the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        visit = await current(request)
        if visit is None:
            return to_sign_in()
        try:
            check_origin(request)
            await admit(request, visit)
            form = await read_form(request)
        except FormTooLarge:
            return error_page(visit, 413, "That form is too large.")
        except ParleyError as exc:
            return failed(visit, exc)
        given = form.get("csrf", "")
        if not hmac.compare_digest(given.encode(), visit.csrf.encode()):
            return error_page(
                visit,
                403,
                "This form is missing its security token or it has expired. Reload the page "
                "and try again.",
            )
        try:
            return await handler(request, visit, form)
        except ParleyError as exc:
            return failed(visit, exc)

    return endpoint
