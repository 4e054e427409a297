"""The dashboard: sign in with a key, list and search one's own conversations, read items."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import LiveServer


@pytest.fixture
def browser(server: LiveServer) -> Iterator[httpx.Client]:
    """A cookie-keeping client, like a browser."""
    with httpx.Client(base_url=server.url, timeout=30) as web:
        yield web


def _sign_in(web: httpx.Client, key: str) -> None:
    answer = web.post("/dashboard/login", data={"key": key})
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie


def test_asks_for_a_key_and_refuses_a_wrong_one(browser: httpx.Client) -> None:
    page = browser.get("/dashboard")
    assert page.status_code == 200 and 'name="key"' in page.text
    wrong = browser.post("/dashboard/login", data={"key": "sk-nope"})
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
    assert "parley_key" not in browser.cookies


def test_lists_searches_and_shows_a_conversation(
    server: LiveServer, client: openai.OpenAI, api_key: str, browser: httpx.Client
) -> None:
    billing = client.conversations.create(
        items=[
            {"role": "user", "content": "Where is my <b>invoice</b>?"},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
        ],
        metadata={"topic": "billing"},
    )
    support = client.conversations.create(metadata={"topic": "support"})
    with server.client(server.new_key()) as stranger:
        foreign = stranger.conversations.create(metadata={"topic": "billing"})
    _sign_in(browser, api_key)

    listing = browser.get("/dashboard")
    assert billing.id in listing.text and support.id in listing.text
    assert foreign.id not in listing.text
    searched = browser.get("/dashboard", params={"q": "topic=billing"})
    assert billing.id in searched.text and support.id not in searched.text

    page = browser.get(f"/dashboard/c/{billing.id}")
    assert page.status_code == 200
    assert "Where is my &lt;b&gt;invoice&lt;/b&gt;?" in page.text  # escaped, never markup
    assert "function_call" in page.text and "lookup" in page.text
    other = browser.get(f"/dashboard/c/{foreign.id}")
    assert other.status_code == 404 and foreign.id in other.text

    browser.post("/dashboard/logout")
    assert 'name="key"' in browser.get("/dashboard").text


def test_search_is_held_to_sixteen_pairs_like_the_api(
    server: LiveServer, client: openai.OpenAI, api_key: str, browser: httpx.Client
) -> None:
    conv = client.conversations.create(metadata={"a": "1"})
    _sign_in(browser, api_key)
    repeated = browser.get("/dashboard", params={"q": " ".join(["a=1"] * 900)})
    assert repeated.status_code == 200 and conv.id in repeated.text
    many = " ".join(f"k{i}=v" for i in range(17))
    refused = browser.get("/dashboard", params={"q": many})
    assert refused.status_code == 400 and "at most 16" in refused.text
