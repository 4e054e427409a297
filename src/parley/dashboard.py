"""A small server-rendered dashboard: sign in with an API key, browse and search conversations.

The key travels in an HttpOnly, SameSite=Strict cookie scoped to /dashboard, so the browser
never exposes it to scripts and no other site can make the browser use it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import msgspec
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from parley import auth
from parley.errors import ParleyError
from parley.metadata import metadata_filter
from parley.store import Store

COOKIE = "parley_key"
_PAGE = 25
_env = Environment(
    loader=PackageLoader("parley", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_env.filters["when"] = _when


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(name).render(**context), status_code=status)


async def _project(request: Request) -> str | None:
    key = request.cookies.get(COOKIE)
    if not key:
        return None
    store: Store = request.app.state.store
    return await store.project_for_key(auth.hash_key(key))


def _filters(request: Request) -> list[tuple[str, str]]:
    raw = request.query_params.get("q", "")
    pairs = []
    for token in raw.split():
        key, sep, value = token.partition("=")
        if sep and key:
            pairs.append((key, value))
    # The API's rule: repeats dropped, at most 16 pairs, each checked like metadata.
    return metadata_filter(pairs, "q")


async def index(request: Request) -> Response:
    """The project's conversations, newest first, filtered by ``key=value`` words."""
    project = await _project(request)
    if project is None:
        return _render("login.html")
    store: Store = request.app.state.store
    after = request.query_params.get("after") or None
    try:
        filters = _filters(request)
        page = await store.list_conversations(
            project, metadata=filters, after=after, limit=_PAGE, order="desc"
        )
    except ParleyError as exc:
        return _render("error.html", status=exc.status, message=exc.message)
    rows = [
        {"id": r.id, "created_at": r.created_at, "metadata": msgspec.json.decode(r.metadata)}
        for r in page.conversations
    ]
    next_url = None
    if page.has_more and rows:
        next_url = "?" + urlencode(
            {"q": request.query_params.get("q", ""), "after": rows[-1]["id"]}
        )
    return _render("list.html", rows=rows, q=request.query_params.get("q", ""), next_url=next_url)


async def conversation(request: Request) -> Response:
    """One conversation and its items, oldest first."""
    project = await _project(request)
    if project is None:
        return RedirectResponse("/dashboard", status_code=303)
    store: Store = request.app.state.store
    conversation_id = request.path_params["conversation_id"]
    after = request.query_params.get("after") or None
    try:
        record = await store.retrieve_conversation(project, conversation_id)
        page = await store.list_items(project, conversation_id, after=after, limit=100, order="asc")
    except ParleyError as exc:
        return _render("error.html", status=exc.status, message=exc.message)
    items = [msgspec.json.decode(data) for _, data in page.items]
    return _render(
        "conversation.html",
        conversation={
            "id": record.id,
            "created_at": record.created_at,
            "metadata": msgspec.json.decode(record.metadata),
        },
        items=[{"item": item, "pretty": json.dumps(item, indent=2)} for item in items],
        next_after=page.items[-1][0] if page.has_more and page.items else None,
    )


async def login(request: Request) -> Response:
    """Check the key from the form and keep it in the dashboard cookie."""
    # A one-field urlencoded form: parsed here rather than pulling in a multipart parser.
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    store: Store = request.app.state.store
    if not key or await store.project_for_key(auth.hash_key(key)) is None:
        return _render("login.html", status=401, error="That key is unknown or revoked.")
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        COOKIE, key, httponly=True, samesite="strict", path="/dashboard", max_age=8 * 3600
    )
    return response


async def logout(request: Request) -> Response:
    """Forget the key."""
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response
