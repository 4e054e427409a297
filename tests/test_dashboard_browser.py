"""The dashboard end to end in a real headless Chromium (Debian's, driven by Playwright).

Each page is also saved as a screenshot at 375 px and 1440 px wide under ``screenshots/``
(ignored by git; PARLEY_SCREENSHOTS moves it), for a person to look at.
"""

from __future__ import annotations

import base64
import concurrent.futures
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import openai
import pytest

from tests.conftest import LiveServer
from tests.upstream import FakeUpstream, Reply

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(os.environ.get("PARLEY_SCREENSHOTS") or Path(__file__).parent.parent / "screenshots")
WIDTHS = (375, 1440)

pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)",
    ),
    pytest.mark.slow,
]


@pytest.fixture
def api_key(server: LiveServer) -> str:
    """A key of a project of this test's own, minted off this thread: Playwright's sync API
    keeps an event loop running here, where asyncio.run() may not start another."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(server.new_key).result()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module; never a downloaded browser."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the test extra")
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (own cookies) that records every URL it asks for."""
    context = chromium.new_context(base_url=server.url, accept_downloads=True)
    tab = context.new_page()
    tab.requested = []
    tab.on("request", lambda request: tab.requested.append(request.url))
    yield tab
    context.close()


def shoot(page: Any, name: str) -> None:
    """Save the page at both widths (full length), checking that it fits each, then go back
    to the wide one."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        # Readable at this width: nothing pushes the page sideways.
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} is {wide} px wide at {width} px"
    page.set_viewport_size({"width": 1440, "height": 900})


def sign_in(page: Any, key: str) -> None:
    """Sign in through the form, with the keyboard."""
    page.goto("/dashboard")
    page.get_by_label("API key").fill(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:text('Conversations')")


def png(width: int = 48, height: int = 32) -> str:
    """A small striped PNG as a data URL."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((40, 60 + 4 * x, 200)) for x in range(width))
        for _ in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    return "data:image/png;base64," + base64.b64encode(raw + chunk(b"IEND", b"")).decode()


def transcript_items() -> list[Any]:
    """A conversation with every kind of thing the transcript shows."""
    return [
        {"role": "system", "content": "You are the billing desk of Example Ltd."},
        {"role": "developer", "content": "Answer in two sentences at most."},
        {
            "role": "user",
            "content": [
                {
                    "type": "input_text",
                    "text": "<script>window.pwned = 1</script>Where is my invoice?",
                },
                {"type": "input_image", "image_url": png()},
                {"type": "input_image", "image_url": "https://images.example.com/receipt.png"},
            ],
        },
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Look the invoice up first."}],
        },
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "find_invoice",
            "arguments": '{"n": 42}',
        },
        {"type": "function_call_output", "call_id": "c1", "output": '{"status": "sent"}'},
        {
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Invoice 42 went out on Monday.", "annotations": []}
            ],
        },
        {"role": "user", "content": "Thanks!"},
    ]


def test_sign_in_search_read_edit_fork_export_keys_sign_out(
    page: Any, server: LiveServer, client: openai.OpenAI, api_key: str
) -> None:
    billing = client.conversations.create(
        items=transcript_items(), metadata={"topic": "billing", "customer": "c-42"}
    )
    support = client.conversations.create(
        items=[{"role": "user", "content": "My login fails."}], metadata={"topic": "support"}
    )
    page.goto("/dashboard")
    shoot(page, "sign-in")
    sign_in(page, api_key)
    assert page.get_by_role("link", name=billing.id).is_visible()
    assert page.get_by_role("link", name=support.id).is_visible()
    shoot(page, "conversations")

    # Search by metadata: a chip per filter, only the match listed.
    page.get_by_label("Search").fill("topic=billing")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector(".chip")
    assert page.get_by_role("link", name=billing.id).is_visible()
    assert page.get_by_role("link", name=support.id).count() == 0
    assert page.get_by_role("link", name="Remove filter topic=billing").is_visible()
    shoot(page, "conversations-search")

    # Search by text: best matches with their snippets, the matched words marked.
    page.get_by_label("Search").fill("invoice")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("mark")
    assert page.get_by_role("link", name=billing.id).is_visible()
    assert page.get_by_role("link", name=support.id).count() == 0
    assert page.locator("mark").first.inner_text().lower() == "invoice"
    assert page.evaluate("window.pwned") is None  # the stored <script> in the snippet is text
    shoot(page, "conversations-text")
    page.get_by_label("Search").fill("topic=billing")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector(".chip")

    # The transcript: bubbles by role, stored markup shown as text and never run.
    page.get_by_role("link", name=billing.id).click()
    page.wait_for_selector(".transcript")
    for role in ("system", "developer", "user", "assistant"):
        assert page.locator(f".role-{role}").count() >= 1
    assert page.evaluate("window.pwned") is None
    assert page.get_by_text("<script>window.pwned = 1</script>Where is my invoice?").is_visible()
    assert page.locator("img[src^='data:image/png']").is_visible()
    assert page.get_by_role("link", name="Open image").is_visible()
    closed = page.locator("details", has_text="function_call")
    assert closed.count() >= 1 and not page.get_by_text('"find_invoice"').first.is_visible()
    page.locator("summary", has_text="function_call").first.click()
    assert page.get_by_text('"call_id": "c1"').first.is_visible()
    assert page.get_by_text("#7").is_visible()
    shoot(page, "conversation")
    assert all(url.startswith(server.url) or url.startswith("data:") for url in page.requested)

    # Metadata: a limit error in the API's words, then a good edit.
    page.get_by_role("link", name="Edit metadata").click()
    page.get_by_label("Metadata").fill("topic=billing\nnote=" + "x" * 600)
    page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert")
    assert "Invalid 'metadata.note': string too long" in alert.inner_text()
    shoot(page, "metadata-error")
    page.get_by_label("Metadata").fill("topic=billing\npriority=high")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector(".transcript")
    assert page.get_by_text("priority=high").is_visible()
    assert client.conversations.retrieve(billing.id).metadata == {
        "topic": "billing",
        "priority": "high",
    }

    # Delete an item (the last "Thanks!").
    ids = [item.id for item in client.conversations.items.list(billing.id, order="asc").data]
    page.get_by_role("button", name="Delete item #7").click()
    page.wait_for_selector(".transcript")
    assert page.get_by_text("Thanks!").count() == 0
    after = [item.id for item in client.conversations.items.list(billing.id, order="asc").data]
    assert after == ids[:7]

    # Fork at the function call: a new conversation holding items 0..4.
    page.get_by_role("button", name="Fork the conversation at item #4").click()
    page.wait_for_url(lambda url: billing.id not in url)
    fork_id = page.url.rsplit("/", 1)[-1]
    forked = client.conversations.items.list(fork_id, order="asc").data
    assert len(forked) == 5 and forked[4].type == "function_call"
    assert page.locator(".entry").count() == 5

    # Export both ways, as downloads.
    page.goto(f"/dashboard/c/{billing.id}")
    with page.expect_download() as jsonl:
        page.get_by_role("link", name="Export JSON Lines").click()
    header, line = (
        msgspec.json.decode(x) for x in Path(jsonl.value.path()).read_bytes().splitlines()
    )
    assert header["parley_export"] == 1 and [i["id"] for i in line["items"]] == ids[:7]
    with page.expect_download() as markdown:
        page.get_by_role("link", name="Export Markdown").click()
    text = Path(markdown.value.path()).read_text()
    assert "Invoice 42 went out on Monday." in text and "### #6 assistant" in text

    # Delete the fork, after a confirmation.
    page.goto(f"/dashboard/c/{fork_id}")
    page.get_by_role("link", name="Delete conversation…").click()
    assert "will be gone for good" in page.inner_text("main")
    shoot(page, "confirm-delete")
    page.get_by_role("button", name="Delete for good").click()
    page.wait_for_selector("h1:text('Conversations')")
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(fork_id)

    # Keys: create (shown once), then revoke it; it stops working at once.
    page.get_by_role("link", name="Keys").click()
    page.get_by_label("Name of a new key").fill("n8n production")
    page.get_by_role("button", name="Create key").click()
    new_key = page.get_by_label("The new key").input_value()
    shoot(page, "keys-created")
    with server.client(new_key) as fresh:
        assert fresh.conversations.retrieve(billing.id).id == billing.id
    page.reload()
    assert new_key not in page.content()
    page.get_by_role("button", name="Revoke key …" + new_key[-4:]).click()
    page.wait_for_selector("text=revoked")
    shoot(page, "keys")
    with server.client(new_key) as stale, pytest.raises(openai.AuthenticationError):
        stale.conversations.retrieve(billing.id)

    # Sign out: the old cookie no longer opens anything.
    cookie = next(c for c in page.context.cookies() if c["name"] == "parley_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("text=Sign in")
    page.context.add_cookies([cookie])
    page.goto(f"/dashboard/c/{billing.id}")
    assert page.get_by_label("API key").is_visible()


def test_a_500_item_transcript_opens_fast_in_pages(
    page: Any, client: openai.OpenAI, api_key: str
) -> None:
    conversation = client.conversations.create(metadata={"size": "500"})
    for start in range(0, 500, 20):
        client.conversations.items.create(
            conversation.id,
            items=[
                {"role": "user" if n % 2 == 0 else "assistant", "content": f"message {n}"}
                for n in range(start, start + 20)
            ],
        )
    sign_in(page, api_key)
    began = time.monotonic()
    page.goto(f"/dashboard/c/{conversation.id}")
    assert time.monotonic() - began < 5  # a bound, not a measurement
    assert page.locator(".entry").count() == 50
    assert "500 items" in page.inner_text(".conv-head")
    shoot(page, "conversation-500")
    page.get_by_role("link", name="Next items").click()
    page.wait_for_selector("text=message 50")
    assert page.get_by_text("#50", exact=True).is_visible()
    assert page.get_by_text("message 49", exact=True).count() == 0


def test_keyboard_reaches_every_control_with_a_name(
    page: Any, client: openai.OpenAI, api_key: str
) -> None:
    client.conversations.create(items=[{"role": "user", "content": "hi"}])
    sign_in(page, api_key)
    names = []
    for _ in range(12):
        page.keyboard.press("Tab")
        names.append(
            page.evaluate(
                "() => { const e = document.activeElement;"
                " return (e.labels && e.labels[0] ? e.labels[0].innerText : '')"
                " || e.getAttribute('aria-label') || e.innerText || e.value || ''; }"
            ).strip()
        )
    assert names[0] == "Skip to content"
    for wanted in ("Conversations", "Keys", "Sign out", "Search", "Created from"):
        assert wanted in names, names
    assert all(names), names


def test_a_reply_streams_in_and_is_stored(
    page: Any, responses_server: LiveServer, upstream: FakeUpstream
) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        key = pool.submit(responses_server.new_key).result()
    with responses_server.client(key) as sdk:
        conversation = sdk.conversations.create(
            items=[{"role": "system", "content": "You answer in haiku."}]
        )
        page.goto(responses_server.url + "/dashboard")
        page.get_by_label("API key").fill(key)
        page.keyboard.press("Enter")
        page.wait_for_selector("h1:text('Conversations')")
        page.goto(f"{responses_server.url}/dashboard/c/{conversation.id}")
        models = page.get_by_label("Model").locator("option").all_inner_texts()
        assert "fake-model" in models
        page.get_by_label("Model").select_option("fake-model")
        # Six words, a third of a second apart: the page shows them as they come.
        upstream.script(
            "fake-model", Reply(text="Autumn wind carries quiet answers home", chunk_delay=0.3)
        )
        page.get_by_label("Your message").fill("Where did <b>summer</b> go?")
        page.get_by_role("button", name="Send").click()
        live = page.locator(".streaming .text")
        live.wait_for()
        page.wait_for_function(
            "() => { const t = document.querySelector('.streaming .text');"
            " return t && t.textContent.length > 0 && !t.textContent.includes('home'); }"
        )
        shoot(page, "reply-streaming")
        page.wait_for_url("**#reply", timeout=15000)
        page.wait_for_selector("text=Autumn wind carries quiet answers home")
        assert page.get_by_text("Where did <b>summer</b> go?").is_visible()
        shoot(page, "reply-done")
        stored = sdk.conversations.items.list(conversation.id, order="asc").data
        assert [i.role for i in stored] == ["system", "user", "assistant"]  # type: ignore[union-attr]
        sent = upstream.requests("fake-model")[-1]
        assert sent["stream"] is True
        assert sent["messages"][-1]["content"] == "Where did <b>summer</b> go?"
