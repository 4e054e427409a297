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

from parley.errors import ParleyError
from parley.models import DashboardSession
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
    """An urlencoded form, first value per field, refused past MAX_FORM_BYTES."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise FormTooLarge
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    # A plain urlencoded form: parsed here rather than pulling in a multipart parser.
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def to_sign_in() -> Response:
    """Back to the sign-in page."""
    return RedirectResponse("/dashboard", status_code=303)


def error_page(visit: Visit | None, status: int, message: str) -> Response:
    """A page that says what went wrong."""
    return render("error.html", visit, status=status, message=message)


Page = Callable[[Request, Visit], Awaitable[Response]]
Change = Callable[[Request, Visit, dict[str, str]], Awaitable[Response]]


def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A GET page that needs a session; store errors become an error page."""

    async def endpoint(request: Request) -> Response:
        visit = await current(request)
        if visit is None:
            return to_sign_in()
        try:
            return await handler(request, visit)
        except ParleyError as exc:
            return error_page(visit, exc.status, exc.message)

    return endpoint


def change(handler: Change) -> Callable[[Request], Awaitable[Response]]:
    """A POST that changes something: needs a session and the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        visit = await current(request)
        if visit is None:
            return to_sign_in()
        try:
            form = await read_form(request)
        except FormTooLarge:
            return error_page(visit, 413, "That form is too large.")
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
            return error_page(visit, exc.status, exc.message)

    return endpoint
