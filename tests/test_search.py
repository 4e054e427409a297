"""GET /v1/conversations/search (a parley extension): ranked, snippets, filters, paging,
never stale, project-scoped; live server on both backends."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer
from tests.helpers import assert_error


def _say(client: openai.OpenAI, *texts: str, metadata: dict[str, str] | None = None) -> str:
    return client.conversations.create(
        metadata=metadata or {},
        items=[{"type": "message", "role": "user", "content": t} for t in texts],
    ).id


def _search(http: httpx.Client, q: str, **params: Any) -> dict[str, Any]:
    answer = http.get("/v1/conversations/search", params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["object"] == "list" and set(body) == {"object", "data", "has_more", "next_page"}
    return body


def _ids(body: dict[str, Any]) -> list[str]:
    return [hit["conversation"]["id"] for hit in body["data"]]


def test_ranks_by_relevance_with_snippets_and_matching_items(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    dense = _say(client, "kangaroo kangaroo kangaroo", "unrelated words here")
    sparse = _say(
        client,
        "a long message about many things, the weather, the harbour, trains and ferries, "
        "and somewhere in the middle a kangaroo, then more about lunch and the evening",
    )
    _say(client, "nothing to see")
    body = _search(http, "kangaroo")
    assert _ids(body) == [dense, sparse]
    first, second = body["data"]
    assert first["object"] == "conversation.search_result"
    assert first["score"] > second["score"] > 0
    assert first["conversation"] == client.conversations.retrieve(dense).model_dump()
    [matched] = first["items"]
    items = list(client.conversations.items.list(dense, order="asc"))
    assert matched["id"] == items[0].id
    assert "**kangaroo**" in matched["snippet"]
    assert "**kangaroo**" in second["items"][0]["snippet"]
    assert len(second["items"][0]["snippet"]) < 200
    assert body["has_more"] is False and body["next_page"] is None


def test_finds_every_matching_item_and_tool_text(client: openai.OpenAI, http: httpx.Client) -> None:
    conv = client.conversations.create(
        items=[
            {"type": "message", "role": "user", "content": "book a flight to Zanzibar"},
            {"type": "message", "role": "assistant", "content": "which day?"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "book",
                "arguments": '{"destination": "Zanzibar", "seat": "aisle"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "booked: Zanzibar"},
        ]
    ).id
    items = list(client.conversations.items.list(conv, order="asc"))
    body = _search(http, "zanzibar")
    assert _ids(body) == [conv]
    found = {item["id"] for item in body["data"][0]["items"]}
    assert found == {items[0].id, items[2].id, items[3].id}
    assert _ids(_search(http, "aisle")) == [conv]
    # A word with a hyphen is searched on both backends (SQLite reads it as a phrase).
    client.conversations.items.create(
        conv, items=[{"role": "user", "content": "a well-known spot"}]
    )
    assert _ids(_search(http, "well-known")) == [conv]


def test_combines_with_metadata_and_time_filters(client: openai.OpenAI, http: httpx.Client) -> None:
    a = _say(client, "quokka sighting", metadata={"team": "red"})
    b = _say(client, "quokka again", metadata={"team": "blue"})
    assert set(_ids(_search(http, "quokka"))) == {a, b}
    assert _ids(_search(http, "quokka", **{"metadata[team]": "blue"})) == [b]
    assert _ids(_search(http, "quokka", created_after=int(time.time()) + 60)) == []
    assert set(_ids(_search(http, "quokka", created_before=int(time.time()) + 60))) == {a, b}
    client.conversations.update(a, metadata={"team": "red", "touched": "yes"})
    assert _ids(_search(http, "quokka", **{"metadata[touched]": "yes"})) == [a]


def test_pages_through_every_hit_once(client: openai.OpenAI, http: httpx.Client) -> None:
    made = {_say(client, "wombat " * (n + 1)) for n in range(5)}
    seen: list[str] = []
    page: str | None = None
    for _ in range(10):
        body = _search(http, "wombat", limit=2, **({"page": page} if page else {}))
        assert len(body["data"]) <= 2
        seen += _ids(body)
        if not body["has_more"]:
            assert body["next_page"] is None
            break
        page = body["next_page"]
    assert len(seen) == 5 and set(seen) == made
    scores = [hit["score"] for hit in _search(http, "wombat", limit=100)["data"]]
    assert scores == sorted(scores, reverse=True)


def test_a_deleted_item_or_conversation_is_never_found(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    conv = _say(client, "platypus one", "echidna two")
    items = list(client.conversations.items.list(conv, order="asc"))
    assert _ids(_search(http, "platypus")) == [conv]
    client.conversations.items.delete(items[0].id, conversation_id=conv)
    assert _ids(_search(http, "platypus")) == []
    assert _ids(_search(http, "echidna")) == [conv]
    client.conversations.delete(conv)
    assert _ids(_search(http, "echidna")) == []


def test_a_fork_is_found_with_its_own_items(client: openai.OpenAI, http: httpx.Client) -> None:
    conv = _say(client, "numbat first", "numbat second")
    fork = http.post(f"/v1/conversations/{conv}/fork").json()["id"]
    assert set(_ids(_search(http, "numbat"))) == {conv, fork}


def test_sees_only_its_own_project(server: LiveServer, client: openai.OpenAI) -> None:
    word = f"secret{uuid.uuid4().hex[:8]}"
    _say(client, f"the {word} plan")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.new_key()}"}
    ) as other:
        assert _ids(_search(other, word)) == []
        _say(server.client(other.headers["Authorization"][7:]), f"their {word}")
        assert len(_ids(_search(other, word))) == 1
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {client.api_key}"}
    ) as mine:
        assert len(_ids(_search(mine, word))) == 1


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({}, "missing_required_parameter", "q"),
        ({"q": "  "}, "missing_required_parameter", "q"),
        ({"q": "x" * 1001}, "string_above_max_length", "q"),
        ({"q": "x", "page": "not-a-cursor!"}, "invalid_value", "page"),
        ({"q": "x", "limit": 0}, "integer_below_min_value", "limit"),
        ({"q": "x", "created_after": "soon"}, "invalid_type", "created_after"),
    ],
)
def test_bad_queries_get_the_envelope(
    http: httpx.Client, params: dict[str, Any], code: str, param: str
) -> None:
    answer = http.get("/v1/conversations/search", params=params)
    assert_error(answer, 400, code=code, param=param)


def test_odd_query_syntax_never_errors(client: openai.OpenAI, http: httpx.Client) -> None:
    conv = _say(client, "bilby burrow")
    for q in ('"bilby', "bilby:", "bilby AND", "(bilby", "-bilby", "bil*by", "NEAR("):
        answer = http.get("/v1/conversations/search", params={"q": q})
        assert answer.status_code == 200, (q, answer.text)
    assert _ids(_search(http, '"bilby burrow"')) == [conv]
    # Only GET searches; other methods reach {conversation_id}, and no conversation has the
    # id "search".
    refused = http.post("/v1/conversations/search", json={"metadata": {}})
    assert_error(refused, 404, code=None, param=None)
