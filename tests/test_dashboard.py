"""The dashboard over HTTP: sessions instead of keys, CSRF, sign-out, revocation, isolation."""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import openai
import pytest
from starlette.testclient import TestClient

from parley.app import create_app
from tests.conftest import LiveServer, start_server, stop_server
from tests.upstream import FakeUpstream, Reply

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
def browser(server: LiveServer) -> Iterator[httpx.Client]:
    """A cookie-keeping client, like a browser."""
    with httpx.Client(base_url=server.url, timeout=30) as web:
        yield web


def sign_in(web: httpx.Client, key: str) -> str:
    """Sign in; return the session cookie's value."""
    answer = web.post("/dashboard/login", data={"key": key})
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
    token = web.cookies["parley_session"]
    assert key not in cookie and token != key
    return token


def csrf_of(web: httpx.Client, path: str = "/dashboard") -> str:
    """The CSRF token the session's forms carry."""
    found = _CSRF.search(web.get(path).text)
    assert found is not None
    return found.group(1)


def test_asks_for_a_key_and_refuses_a_wrong_one(browser: httpx.Client) -> None:
    page = browser.get("/dashboard")
    assert page.status_code == 200 and 'name="key"' in page.text
    wrong = browser.post("/dashboard/login", data={"key": "sk-nope"})
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
    assert "parley_session" not in browser.cookies


def test_the_store_keeps_only_the_session_token_hash(
    server: LiveServer, backend: str, api_key: str, browser: httpx.Client
) -> None:
    token = sign_in(browser, api_key)
    query = "SELECT token_hash, expires_at - created_at FROM dashboard_sessions"
    if backend == "sqlite":
        with sqlite3.connect(server.database) as db:
            stored = {bytes(r[0]): r[1] for r in db.execute(query)}
    else:
        import asyncpg

        async def read() -> dict[bytes, int]:
            conn = await asyncpg.connect(server.database)
            try:
                return {bytes(r[0]): r[1] for r in await conn.fetch(query)}
            finally:
                await conn.close()

        stored = asyncio.run(read())
    assert stored[hashlib.sha256(token.encode()).digest()] == 8 * 3600
    assert all(token.encode() not in value for value in stored)


def test_lists_searches_and_keeps_projects_apart(
    server: LiveServer, client: openai.OpenAI, api_key: str, browser: httpx.Client
) -> None:
    billing = client.conversations.create(
        items=[{"role": "user", "content": "Where is my <b>invoice</b>?"}],
        metadata={"topic": "billing"},
    )
    support = client.conversations.create(metadata={"topic": "support"})
    with server.client(server.new_key()) as stranger:
        foreign = stranger.conversations.create(
            items=[{"role": "user", "content": "secret"}], metadata={"topic": "billing"}
        )
        foreign_item = stranger.conversations.items.list(foreign.id).data[0].id
    sign_in(browser, api_key)
    listing = browser.get("/dashboard")
    assert billing.id in listing.text and support.id in listing.text
    assert foreign.id not in listing.text
    searched = browser.get("/dashboard", params={"q": "topic=billing"})
    assert billing.id in searched.text and support.id not in searched.text
    by_id = browser.get("/dashboard", params={"q": support.id})
    assert support.id in by_id.text and billing.id not in by_id.text
    page = browser.get(f"/dashboard/c/{billing.id}")
    assert "Where is my &lt;b&gt;invoice&lt;/b&gt;?" in page.text  # escaped, never markup

    # Another project's conversation: not readable, not changeable, not even by its item id.
    csrf = csrf_of(browser)
    for path in ("", "/metadata", "/delete", "/export.jsonl", "/export.md"):
        assert browser.get(f"/dashboard/c/{foreign.id}{path}").status_code == 404
    for path, data in (
        ("/metadata", {"metadata": "x=1"}),
        ("/delete", {}),
        ("/fork", {}),
        (f"/items/{foreign_item}/delete", {}),
    ):
        answer = browser.post(f"/dashboard/c/{foreign.id}{path}", data={"csrf": csrf, **data})
        assert answer.status_code == 404, path
    with server.client(stranger.api_key) as owner:
        kept = owner.conversations.retrieve(foreign.id)
        assert kept.metadata == {"topic": "billing"}
        assert [i.id for i in owner.conversations.items.list(foreign.id).data] == [foreign_item]


def test_a_form_without_its_csrf_token_is_refused(
    client: openai.OpenAI, api_key: str, browser: httpx.Client
) -> None:
    conversation = client.conversations.create(metadata={"a": "1"})
    sign_in(browser, api_key)
    path = f"/dashboard/c/{conversation.id}/metadata"
    for data in ({"metadata": "a=2"}, {"metadata": "a=2", "csrf": "0" * 64}):
        refused = browser.post(path, data=data)
        assert refused.status_code == 403 and "security token" in refused.text
    assert client.conversations.retrieve(conversation.id).metadata == {"a": "1"}
    assert browser.post("/dashboard/logout").status_code == 403  # sign-out is a form too
    saved = browser.post(path, data={"metadata": "a=2", "csrf": csrf_of(browser)})
    assert saved.status_code == 303
    assert client.conversations.retrieve(conversation.id).metadata == {"a": "2"}


def test_metadata_edit_keeps_the_api_limits_and_messages(
    client: openai.OpenAI, api_key: str, browser: httpx.Client
) -> None:
    conversation = client.conversations.create(metadata={"a": "1"})
    sign_in(browser, api_key)
    path = f"/dashboard/c/{conversation.id}/metadata"
    csrf = csrf_of(browser)
    long_value = browser.post(path, data={"metadata": "a=" + "x" * 513, "csrf": csrf})
    assert long_value.status_code == 400
    assert "Invalid &#39;metadata.a&#39;: string too long" in long_value.text
    many = "\n".join(f"k{i}=v" for i in range(17))
    too_many = browser.post(path, data={"metadata": many, "csrf": csrf})
    assert too_many.status_code == 400 and "too many properties" in too_many.text
    assert client.conversations.retrieve(conversation.id).metadata == {"a": "1"}


def test_sign_out_ends_the_session_on_the_server(
    server: LiveServer, api_key: str, browser: httpx.Client
) -> None:
    token = sign_in(browser, api_key)
    assert browser.post("/dashboard/logout", data={"csrf": csrf_of(browser)}).status_code == 303
    with httpx.Client(base_url=server.url, cookies={"parley_session": token}) as replay:
        assert 'name="key"' in replay.get("/dashboard").text
        assert replay.get("/dashboard/keys").status_code == 303


def test_revoking_a_key_ends_its_sessions_at_once(
    server: LiveServer, api_key: str, browser: httpx.Client
) -> None:
    project = "p-revoke-" + api_key[-8:]
    first, second = server.new_key(project), server.new_key(project)
    sign_in(browser, first)
    with httpx.Client(base_url=server.url, timeout=30) as other:
        sign_in(other, second)
        assert other.get("/dashboard/keys").status_code == 200
        keys = browser.get("/dashboard/keys").text
        second_id = re.search(
            r'action="/dashboard/keys/(key_[0-9a-f]+)/revoke"[^<]*<input type="hidden" name="csrf"'
            r"[^>]*>\s*<button[^>]*Revoke key " + re.escape("…" + second[-4:]),
            keys,
        )
        assert second_id is not None, keys
        revoked = browser.post(
            f"/dashboard/keys/{second_id.group(1)}/revoke", data={"csrf": csrf_of(browser)}
        )
        assert revoked.status_code == 303
        assert other.get("/dashboard/keys").status_code == 303  # its session is gone
        assert other.post("/dashboard/login", data={"key": second}).status_code == 401
    assert browser.get("/dashboard/keys").status_code == 200  # the other key's session lives


def test_keys_page_shows_last_use_and_creates_a_key_once(
    server: LiveServer, api_key: str, browser: httpx.Client
) -> None:
    sign_in(browser, api_key)
    with server.client(api_key) as sdk:
        sdk.conversations.create()
    page = browser.get("/dashboard/keys").text
    assert "never" not in page  # signing in and the API call both count as use
    created = browser.post("/dashboard/keys", data={"name": "n8n prod", "csrf": csrf_of(browser)})
    assert created.status_code == 200 and "shown this once" in created.text
    plain = re.search(r'id="new-key" value="([^"]+)"', created.text)
    assert plain is not None
    with server.client(plain.group(1)) as fresh:
        assert fresh.conversations.create().id.startswith("conv_")
    again = browser.get("/dashboard/keys").text
    assert plain.group(1) not in again and "n8n prod" in again


def test_sign_in_attempts_are_rate_limited(tmp_path: Path) -> None:
    live = start_server(str(tmp_path / "p.db"), tmp_path / "log")
    try:
        with httpx.Client(base_url=live.url, timeout=30) as web:
            for _ in range(10):
                assert web.post("/dashboard/login", data={"key": "sk-wrong"}).status_code == 401
            blocked = web.post("/dashboard/login", data={"key": live.api_key})
            assert blocked.status_code == 429 and "Too many sign-in attempts" in blocked.text
            assert int(blocked.headers["retry-after"]) >= 1
            assert "parley_session" not in web.cookies
    finally:
        stop_server(live)


def test_the_cookie_is_secure_over_https(tmp_path: Path) -> None:
    # In-process over the real app: the loopback server speaks plain HTTP only.
    app = create_app(database=str(tmp_path / "s.db"))
    with TestClient(app, base_url="https://testserver") as web:
        from parley import auth

        key, _ = web.portal.call(auth.create_key, app.state.store, "default")  # type: ignore[union-attr]
        answer = web.post("/dashboard/login", data={"key": key}, follow_redirects=False)
        assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]


def test_exports_as_json_lines_and_markdown(
    client: openai.OpenAI, api_key: str, browser: httpx.Client
) -> None:
    conversation = client.conversations.create(
        items=[
            {"role": "user", "content": "Hello *there*"},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
        ],
        metadata={"topic": "x"},
    )
    sign_in(browser, api_key)
    jsonl = browser.get(f"/dashboard/c/{conversation.id}/export.jsonl")
    assert jsonl.status_code == 200 and "attachment" in jsonl.headers["content-disposition"]
    header, line = (msgspec.json.decode(x) for x in jsonl.content.splitlines())
    assert header["parley_export"] == 1
    assert line["id"] == conversation.id and line["metadata"] == {"topic": "x"}
    api_items = client.conversations.items.list(conversation.id, order="asc").data
    assert [i["id"] for i in line["items"]] == [i.id for i in api_items]
    markdown = browser.get(f"/dashboard/c/{conversation.id}/export.md").text
    assert f"# Conversation `{conversation.id}`" in markdown
    assert "### #0 user" in markdown and "Hello *there*" in markdown
    assert '"name": "lookup"' in markdown


def test_search_is_held_to_sixteen_pairs_like_the_api(
    server: LiveServer, client: openai.OpenAI, api_key: str, browser: httpx.Client
) -> None:
    conv = client.conversations.create(metadata={"a": "1"})
    sign_in(browser, api_key)
    repeated = browser.get("/dashboard", params={"q": " ".join(["a=1"] * 900)})
    assert repeated.status_code == 200 and conv.id in repeated.text
    assert repeated.text.count('aria-label="Remove filter a=1"') == 1  # one chip per filter
    many = " ".join(f"k{i}=v" for i in range(17))
    refused = browser.get("/dashboard", params={"q": many})
    assert refused.status_code == 400 and "at most 16" in refused.text


def test_the_header_names_the_project_signed_into(
    server: LiveServer, browser: httpx.Client
) -> None:
    key = server.new_key("acme-<support>")
    with server.client(key) as sdk:
        made = sdk.conversations.create()
    sign_in(browser, key)
    for path in ("/dashboard", f"/dashboard/c/{made.id}", "/dashboard/keys"):
        page = browser.get(path)
        assert '<span class="project" title="project">acme-&lt;support&gt;</span>' in page.text
    browser.post("/dashboard/logout", data={"csrf": csrf_of(browser)})
    assert 'class="project"' not in browser.get("/dashboard").text


def test_the_reply_box_without_script_stores_the_turn(
    responses_server: LiveServer, upstream: FakeUpstream, server: LiveServer, api_key: str
) -> None:
    key = responses_server.new_key()
    with (
        responses_server.client(key) as sdk,
        httpx.Client(base_url=responses_server.url, timeout=30) as web,
    ):
        conversation = sdk.conversations.create()
        sign_in(web, key)
        page = web.get(f"/dashboard/c/{conversation.id}").text
        assert 'id="reply"' in page and '<option value="fake-model"' in page
        path = f"/dashboard/c/{conversation.id}/reply"
        refused = web.post(path, data={"message": "hi", "model": "fake-model"})
        assert refused.status_code == 403
        upstream.script("fake-model", Reply(text="Hello back"))
        answer = web.post(
            path, data={"message": "hi", "model": "fake-model", "csrf": csrf_of(web, "/dashboard")}
        )
        assert answer.status_code == 303 and answer.headers["location"].endswith("#reply")
        texts = [
            i.content[0].text
            for i in sdk.conversations.items.list(conversation.id, order="asc").data
        ]  # type: ignore[union-attr]
        assert texts == ["hi", "Hello back"]
        # A model server that cannot be reached: its error on the page, nothing stored.
        dead = web.post(path, data={"message": "again", "model": "dead-1", "csrf": csrf_of(web)})
        assert dead.status_code == 502 and "dead" in dead.text, dead.text
        assert len(sdk.conversations.items.list(conversation.id).data) == 2
    # Without a model upstream there is no reply box at all.
    with httpx.Client(base_url=server.url, timeout=30) as plain:
        sign_in(plain, api_key)
        with server.client(api_key) as sdk:
            bare = sdk.conversations.create()
        assert 'id="reply"' not in plain.get(f"/dashboard/c/{bare.id}").text
