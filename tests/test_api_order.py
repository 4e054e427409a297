"""Item order: keyset pages in both directions, SDK auto-pagination, and concurrent appends."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer, backends_with_pgbouncer


@pytest.fixture(scope="session", params=backends_with_pgbouncer())
def backend(request: pytest.FixtureRequest) -> str:
    """This module's tests also run through PgBouncer in transaction mode."""
    return str(request.param)


TOTAL = 47


@pytest.fixture
def conversation_47(client: openai.OpenAI) -> tuple[str, list[str]]:
    """A conversation whose 47 items were added in several calls; its id and ids in order."""
    conversation = client.conversations.create(
        items=[{"role": "user", "content": "item 0"}, {"role": "user", "content": "item 1"}]
    )
    ids = [item.id for item in client.conversations.items.list(conversation.id, order="asc")]
    sizes = [20, 1, 13, 11]
    assert 2 + sum(sizes) == TOTAL
    for size in sizes:
        start = len(ids)
        added = client.conversations.items.create(
            conversation.id,
            items=[{"role": "user", "content": f"item {start + offset}"} for offset in range(size)],
        )
        ids.extend(item.id for item in added.data)
    assert len(ids) == len(set(ids)) == TOTAL
    return conversation.id, ids


def _walk(http: httpx.Client, conversation_id: str, order: str, limit: int) -> list[str]:
    """Follow `after` from page to page; check every page's envelope on the way."""
    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, "order": order}
        if after is not None:
            params["after"] = after
        response = http.get(f"/v1/conversations/{conversation_id}/items", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["object"] == "list"
        data = page["data"]
        assert 1 <= len(data) <= limit
        assert page["first_id"] == data[0]["id"]
        assert page["last_id"] == data[-1]["id"]
        seen.extend(item["id"] for item in data)
        expected_more = len(seen) < TOTAL
        assert page["has_more"] is expected_more, (len(seen), page["has_more"])
        if not expected_more:
            assert len(data) == TOTAL - (len(seen) - len(data))
            return seen
        assert len(data) == limit
        after = page["last_id"]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pages_of_10_visit_every_item_once_in_order(
    http: httpx.Client, conversation_47: tuple[str, list[str]], order: str
) -> None:
    conversation_id, ids = conversation_47
    walked = _walk(http, conversation_id, order, 10)
    assert walked == (ids if order == "asc" else ids[::-1])


def test_pages_of_47_and_100_end_with_has_more_false(
    http: httpx.Client, conversation_47: tuple[str, list[str]]
) -> None:
    conversation_id, ids = conversation_47
    assert _walk(http, conversation_id, "asc", 47) == ids
    assert _walk(http, conversation_id, "desc", 100) == ids[::-1]
    exact = http.get(
        f"/v1/conversations/{conversation_id}/items", params={"limit": 46, "order": "asc"}
    ).json()
    assert exact["has_more"] is True and exact["last_id"] == ids[45]


def test_the_default_page_is_the_20_newest(
    http: httpx.Client, conversation_47: tuple[str, list[str]]
) -> None:
    conversation_id, ids = conversation_47
    page = http.get(f"/v1/conversations/{conversation_id}/items").json()
    assert [item["id"] for item in page["data"]] == ids[::-1][:20]
    assert page["has_more"] is True


def test_after_the_last_item_is_an_empty_page(
    http: httpx.Client, conversation_47: tuple[str, list[str]]
) -> None:
    conversation_id, ids = conversation_47
    for order, last in (("asc", ids[-1]), ("desc", ids[0])):
        page = http.get(
            f"/v1/conversations/{conversation_id}/items", params={"order": order, "after": last}
        ).json()
        assert page == {
            "object": "list",
            "data": [],
            "first_id": None,
            "last_id": None,
            "has_more": False,
        }


def test_a_conversation_without_items_lists_an_empty_page(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    conversation = client.conversations.create()
    page = http.get(f"/v1/conversations/{conversation.id}/items").json()
    assert page == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    sdk_page = client.conversations.items.list(conversation.id)
    assert sdk_page.data == [] and sdk_page.has_more is False
    assert list(sdk_page) == []


def test_sdk_auto_pagination_yields_all_47_newest_first(
    client: openai.OpenAI, conversation_47: tuple[str, list[str]]
) -> None:
    conversation_id, ids = conversation_47
    walked = [item.id for item in client.conversations.items.list(conversation_id, limit=5)]
    assert walked == ids[::-1]
    texts = [
        item.content[0].text
        for item in client.conversations.items.list(conversation_id, limit=5, order="asc")
    ]
    assert texts == [f"item {index}" for index in range(TOTAL)]


# -- concurrent appends -------------------------------------------------------------------

CALLS = 40


def test_concurrent_appends_keep_each_calls_items_adjacent_and_in_order(
    server: LiveServer, api_key: str, client: openai.OpenAI
) -> None:
    conversation = client.conversations.create()

    async def append_all() -> list[list[str]]:
        async with openai.AsyncOpenAI(
            base_url=server.base_url,
            api_key=api_key,
            max_retries=0,
            timeout=60,
            _strict_response_validation=True,
        ) as sdk:

            async def append(call: int) -> list[str]:
                added = await sdk.conversations.items.create(
                    conversation.id,
                    items=[
                        {"role": "user", "content": f"call {call} first"},
                        {"role": "assistant", "content": f"call {call} second"},
                    ],
                )
                return [item.id for item in added.data]

            return await asyncio.gather(*(append(call) for call in range(CALLS)))

    answers = asyncio.run(append_all())
    listed = list(client.conversations.items.list(conversation.id, order="asc", limit=100))
    assert len(listed) == 2 * CALLS
    assert len({item.id for item in listed}) == 2 * CALLS
    position = {item.id: index for index, item in enumerate(listed)}
    for call, (first, second) in enumerate(answers):
        assert position[second] == position[first] + 1
        assert listed[position[first]].content[0].text == f"call {call} first"
        assert listed[position[second]].content[0].text == f"call {call} second"
    # Pairs never interleave: every even slot starts a pair.
    assert sorted(position[first] for first, _ in answers) == list(range(0, 2 * CALLS, 2))
