"""parley's own `GET /v1/conversations`: listing and searching by metadata, keyset pages."""

from __future__ import annotations

import httpx
import openai

from tests.conftest import LiveServer


def _create(client: openai.OpenAI, metadata: dict[str, str]) -> str:
    return client.conversations.create(metadata=metadata).id


def _walk(http: httpx.Client, params: dict[str, str | int]) -> list[str]:
    """Follow `after` cursors to the end; return every id seen, in order."""
    seen: list[str] = []
    after: str | None = None
    while True:
        query = dict(params)
        if after:
            query["after"] = after
        page = http.get("/v1/conversations", params=query).json()
        ids = [conv["id"] for conv in page["data"]]
        assert page["object"] == "list"
        if ids:
            assert page["first_id"] == ids[0] and page["last_id"] == ids[-1]
        seen += ids
        if not page["has_more"]:
            return seen
        after = page["last_id"]


def test_lists_newest_first_and_walks_pages(client: openai.OpenAI, http: httpx.Client) -> None:
    created = [_create(client, {"n": str(i)}) for i in range(7)]
    assert _walk(http, {"limit": 3}) == created[::-1]
    assert _walk(http, {"limit": 2, "order": "asc"}) == created


def test_filters_by_every_metadata_pair(client: openai.OpenAI, http: httpx.Client) -> None:
    a = _create(client, {"customer": "c-42", "topic": "billing"})
    b = _create(client, {"customer": "c-42", "topic": "support"})
    _create(client, {"customer": "c-7", "topic": "billing"})
    assert _walk(http, {"metadata[customer]": "c-42"}) == [b, a]
    assert _walk(http, {"metadata[customer]": "c-42", "metadata[topic]": "billing"}) == [a]
    assert _walk(http, {"metadata[customer]": "nobody"}) == []


def test_follows_metadata_updates_and_deletes(client: openai.OpenAI, http: httpx.Client) -> None:
    conv = _create(client, {"state": "open"})
    client.conversations.update(conv, metadata={"state": "closed"})
    assert _walk(http, {"metadata[state]": "open"}) == []
    assert _walk(http, {"metadata[state]": "closed"}) == [conv]
    client.conversations.delete(conv)
    assert _walk(http, {"metadata[state]": "closed"}) == []


def test_an_update_moves_only_the_pairs_it_changes(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    """The index follows an update pair by pair: kept, changed, removed and added pairs, an
    update that changes nothing, and one that only reorders the keys."""
    conv = _create(client, {"keep": "k", "change": "old", "drop": "d"})
    other = _create(client, {"keep": "k", "change": "new"})
    client.conversations.update(conv, metadata={"keep": "k", "change": "new", "add": "a"})
    for _ in range(2):
        assert _walk(http, {"metadata[keep]": "k"}) == [other, conv]
        assert _walk(http, {"metadata[change]": "new"}) == [other, conv]
        assert _walk(http, {"metadata[change]": "old"}) == []
        assert _walk(http, {"metadata[drop]": "d"}) == []
        assert _walk(http, {"metadata[add]": "a", "metadata[keep]": "k"}) == [conv]
        # The same pairs again, in another order.
        client.conversations.update(conv, metadata={"add": "a", "change": "new", "keep": "k"})
    assert client.conversations.retrieve(conv).metadata == {
        "add": "a",
        "change": "new",
        "keep": "k",
    }
    client.conversations.update(conv, metadata={})
    assert _walk(http, {"metadata[keep]": "k"}) == [other]
    assert _walk(http, {"metadata[add]": "a"}) == []


def test_sees_only_its_own_project(server: LiveServer, client: openai.OpenAI) -> None:
    mine = _create(client, {"shared": "yes"})
    other = server.client(server.new_key())
    _create(other, {"shared": "yes"})
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {client.api_key}"}
    ) as h:
        assert _walk(h, {"metadata[shared]": "yes"}) == [mine]


def test_bad_queries_get_the_envelope(http: httpx.Client) -> None:
    answer = http.get("/v1/conversations", params={"limit": 0})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "integer_below_min_value"
    answer = http.get("/v1/conversations", params={"metadata": "x"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "metadata"
    answer = http.get("/v1/conversations", params={"after": "conv_nope"})
    assert answer.status_code == 404


def test_repeated_filter_pairs_count_once(
    server: LiveServer, client: openai.OpenAI, http: httpx.Client
) -> None:
    conv = _create(client, {"none": "y"})
    # One 17 KB URL repeating a pair 900 times once held the whole server for 99 s;
    # 1,000 repeats were a 500 on SQLite ("Expression tree is too large").
    query = "&".join(["metadata%5Bnone%5D=y"] * 1100)
    answer = http.get(f"/v1/conversations?{query}", timeout=10)
    assert answer.status_code == 200, answer.text
    assert [c["id"] for c in answer.json()["data"]] == [conv]
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200


def test_more_than_sixteen_distinct_pairs_is_a_400(http: httpx.Client) -> None:
    params = [(f"metadata[k{i}]", "v") for i in range(16)]
    assert http.get("/v1/conversations", params=params).status_code == 200
    answer = http.get("/v1/conversations", params=[*params, ("metadata[k0]", "w")])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "object_above_max_properties" and error["param"] == "metadata"
    assert "at most 16" in error["message"] and "17" in error["message"]
    too_long = http.get("/v1/conversations", params={f"metadata[{'k' * 65}]": "v"})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "string_above_max_length"


def test_a_walk_continues_after_its_cursor_is_deleted(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    conv = client.conversations.create(
        items=[{"role": "user", "content": str(n)} for n in range(5)]
    )
    first = client.conversations.items.list(conv.id, limit=2, order="asc")
    cursor = first.data[-1].id
    client.conversations.items.delete(cursor, conversation_id=conv.id)
    rest = client.conversations.items.list(conv.id, after=cursor, limit=10, order="asc")
    assert [item.content[0].text for item in rest.data] == ["2", "3", "4"]  # type: ignore[union-attr]
    created = [_create(client, {"walk": "yes"}) for _ in range(3)]
    client.conversations.delete(created[1])
    page = http.get("/v1/conversations", params={"after": created[1], "metadata[walk]": "yes"})
    assert page.status_code == 200 and [c["id"] for c in page.json()["data"]] == [created[0]]
