"""The dashboard obeys the API's rules (issue 15): body limits and timeout, id checks, rate
limits, large items shown in part, cross-origin forms refused, safety headers."""

from __future__ import annotations

import html
import re
import socket
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from parley.dashboard.conversations import ITEM_PAGE, SHOWN_BYTES
from tests.conftest import LiveServer, start_server, stop_server
from tests.test_dashboard import csrf_of, sign_in


@pytest.fixture
def browser(server: LiveServer) -> Iterator[httpx.Client]:
    """A cookie-keeping client, like a browser."""
    with httpx.Client(base_url=server.url, timeout=30) as web:
        yield web


def test_sign_in_bodies_are_bounded(server: LiveServer) -> None:
    big = b"key=" + b"x" * (5 * 1024 * 1024)
    with httpx.Client(base_url=server.url, timeout=30) as web:
        form = {"content-type": "application/x-www-form-urlencoded"}
        declared = web.post("/dashboard/login", content=big, headers=form)
        assert declared.status_code == 413

        def chunks() -> Iterator[bytes]:
            for offset in range(0, len(big), 65536):
                yield big[offset : offset + 65536]

        streamed = web.post("/dashboard/login", content=chunks(), headers=form)
        assert streamed.status_code == 413
        assert "parley_session" not in web.cookies


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with a 1 s body timeout and 1 request per second per key."""
    folder = tmp_path_factory.mktemp("guarded")
    live = start_server(
        str(folder / "parley.db"),
        folder / "server.log",
        args=["--body-timeout", "1", "--rate-limit", "1", "--rate-burst", "1"],
    )
    yield live
    stop_server(live)


def test_a_trickled_sign_in_body_gets_408(guarded: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=20) as sock:
        sock.sendall(
            b"POST /dashboard/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\nkey="
        )
        began = time.monotonic()
        answer = b""
        try:
            while time.monotonic() - began < 3:  # a byte every 0.2 s: 200 s for all of it
                sock.sendall(b"x")
                time.sleep(0.2)
        except OSError:
            pass
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_signed_in_pages_count_against_the_keys_rate_limit(guarded: LiveServer) -> None:
    key = guarded.new_key()
    with httpx.Client(base_url=guarded.url, timeout=30) as web:
        sign_in(web, key)
        time.sleep(1.1)
        statuses = [web.get("/dashboard").status_code for _ in range(10)]
        assert statuses.count(200) == 1 and statuses.count(429) == 9, statuses
        limited = web.get("/dashboard")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_failed_api_authentication_is_limited_per_address_too(guarded: LiveServer) -> None:
    time.sleep(1.1)
    with httpx.Client(base_url=guarded.base_url, timeout=10) as http:
        wrong = {"Authorization": "Bearer sk-guess"}
        statuses = [http.get("/conversations", headers=wrong).status_code for _ in range(3)]
        assert statuses == [401, 429, 429]
    time.sleep(1.1)


def test_nul_in_dashboard_ids_and_cursors_is_a_clean_4xx(
    server: LiveServer, client: openai.OpenAI, api_key: str, browser: httpx.Client
) -> None:
    conv = client.conversations.create(items=[{"role": "user", "content": "hi"}])
    sign_in(browser, api_key)
    assert browser.get("/dashboard/c/conv%00x").status_code == 404
    assert browser.get("/dashboard", params={"after": "conv\x00x"}).status_code == 400
    cursor = browser.get(f"/dashboard/c/{conv.id}", params={"after": "msg\x00x"})
    assert cursor.status_code == 400
    assert browser.get(f"/dashboard/c/{'c' * 300}").status_code == 404
    assert browser.get("/dashboard/c/conv%00x/metadata").status_code == 404
    assert "Traceback" not in server.log()


def test_paging_and_item_links_survive_any_item_id(
    client: openai.OpenAI, api_key: str, browser: httpx.Client
) -> None:
    tricky = "a&b#c d?e%f"
    ids = [f"msg_{n:03d}" for n in range(ITEM_PAGE - 1)] + [tricky, "msg_last"]
    conv = client.conversations.create()
    for start in range(0, len(ids), 20):
        client.conversations.items.create(
            conv.id,
            items=[
                {"type": "message", "role": "user", "id": i, "content": i}
                for i in ids[start : start + 20]
            ],
        )
    sign_in(browser, api_key)
    first = browser.get(f"/dashboard/c/{conv.id}")
    links = re.findall(r'href="(\?after=[^"]*)"', first.text)
    assert len(links) == 1
    second = browser.get(f"/dashboard/c/{conv.id}{html.unescape(links[0])}")
    assert second.status_code == 200 and "msg_last" in second.text
    assert "msg_000" not in second.text
    actions = re.findall(r'action="(/dashboard/c/[^"]*/items/[^"]*/delete)"', first.text)
    delete = html.unescape(actions[-1])
    token = csrf_of(browser, f"/dashboard/c/{conv.id}")
    assert browser.post(delete, data={"csrf": token}).status_code == 303
    remaining = client.conversations.items.list(conv.id, limit=100).data
    assert tricky not in [item.id for item in remaining] and len(remaining) == len(ids) - 1


def test_large_items_are_shown_in_part(
    client: openai.OpenAI, api_key: str, browser: httpx.Client
) -> None:
    conv = client.conversations.create()
    text = "y" * (1024 * 1024)
    client.conversations.items.create(
        conv.id, items=[{"type": "message", "role": "user", "content": text}] * 3
    )
    sign_in(browser, api_key)
    page = browser.get(f"/dashboard/c/{conv.id}")
    assert page.status_code == 200 and "large item" in page.text
    assert len(page.content) < 3 * 2 * SHOWN_BYTES


def test_every_answer_forbids_caching_sniffing_and_framing(
    http: httpx.Client, browser: httpx.Client
) -> None:
    answers = [
        browser.get("/dashboard"),
        http.get("/v1/conversations"),
        http.get("/v1/conversations/conv_nope"),
        http.get("/healthz"),
    ]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_forms_posted_from_another_origin_are_refused(
    server: LiveServer, api_key: str, browser: httpx.Client
) -> None:
    evil = {"origin": "https://evil.example"}
    refused = browser.post("/dashboard/login", data={"key": api_key}, headers=evil)
    assert refused.status_code == 403 and "parley_session" not in browser.cookies
    cross = {"sec-fetch-site": "cross-site"}
    assert browser.post("/dashboard/login", data={"key": api_key}, headers=cross).status_code == 403
    sandboxed = {"origin": "null", "sec-fetch-site": "cross-site"}
    assert (
        browser.post("/dashboard/login", data={"key": api_key}, headers=sandboxed).status_code
        == 403
    )
    own = {"origin": server.url}
    assert browser.post("/dashboard/login", data={"key": api_key}, headers=own).status_code == 303
    token = csrf_of(browser)
    assert browser.post("/dashboard/logout", data={"csrf": token}, headers=evil).status_code == 403
    assert 'name="key"' not in browser.get("/dashboard").text  # still signed in
    assert browser.post("/dashboard/logout", data={"csrf": token}, headers=own).status_code == 303
