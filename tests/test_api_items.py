"""Every item type survives the wire: stored, read back by retrieve and by list, parsed strictly.

Also `item_reference` (a copy of an existing item of the same project under a new id) and every
invalid item of `tests.item_examples.INVALID` answered with OpenAI's 400 envelope by the server.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer, backends_with_pgbouncer
from tests.helpers import assert_error, assert_sdk_error
from tests.item_examples import EXAMPLES, INVALID


@pytest.fixture(scope="session", params=backends_with_pgbouncer())
def backend(request: pytest.FixtureRequest) -> str:
    """This module's tests also run through PgBouncer in transaction mode."""
    return str(request.param)


def _covers(stored: Any, sent: Any) -> bool:
    """``stored`` holds everything ``sent`` held; only fields sent as null may be filled in."""
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(
            value is None or (key in stored and _covers(stored[key], value))
            for key, value in sent.items()
        )
    if isinstance(sent, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(sent)
            and all(_covers(a, b) for a, b in zip(stored, sent, strict=True))
        )
    return bool(stored == sent)


def _input_kept(sent: dict[str, Any], stored: dict[str, Any]) -> None:
    """Nothing the client sent is lost (a string message content becomes one text part)."""
    if stored["type"] == "message" and isinstance(sent.get("content"), str):
        assert [part["text"] for part in stored["content"]] == [sent["content"]]
        sent = {key: value for key, value in sent.items() if key != "content"}
    assert _covers(stored, sent), (sent, stored)


@pytest.mark.parametrize(("label", "example"), EXAMPLES, ids=[label for label, _ in EXAMPLES])
def test_item_round_trips_through_create_retrieve_and_list(
    client: openai.OpenAI, label: str, example: dict[str, Any]
) -> None:
    conversation = client.conversations.create()
    raw = client.conversations.items.with_raw_response.create(
        conversation.id,
        items=[example],  # type: ignore[list-item]
    )
    assert json.loads(raw.http_request.content) == {"items": [example]}
    added = raw.parse()  # strict: the stored form must be a valid SDK ConversationItem
    stored = raw.http_response.json()["data"][0]
    assert len(added.data) == 1
    assert isinstance(stored["id"], str) and stored["id"]
    assert added.first_id == added.last_id == stored["id"]
    assert stored["type"] == (example.get("type") or "message")
    _input_kept(example, stored)

    retrieved = client.conversations.items.with_raw_response.retrieve(
        stored["id"], conversation_id=conversation.id
    )
    assert retrieved.http_response.json() == stored
    assert retrieved.parse().type == stored["type"]

    listed = client.conversations.items.with_raw_response.list(conversation.id)
    assert listed.http_response.json()["data"] == [stored]
    page = listed.parse()
    assert [item.id for item in page.data] == [stored["id"]]
    assert page.data[0] == added.data[0]


def test_all_examples_stored_in_one_conversation_list_back_in_order(
    client: openai.OpenAI,
) -> None:
    conversation = client.conversations.create()
    stored: list[dict[str, Any]] = []
    for start in range(0, len(EXAMPLES), 20):
        chunk = [example for _, example in EXAMPLES[start : start + 20]]
        raw = client.conversations.items.with_raw_response.create(
            conversation.id,
            items=chunk,  # type: ignore[arg-type]
        )
        raw.parse()
        stored.extend(raw.http_response.json()["data"])
    walked = list(client.conversations.items.list(conversation.id, order="asc", limit=100))
    assert [item.id for item in walked] == [item["id"] for item in stored]
    assert len(walked) == len(EXAMPLES)


# -- item_reference -----------------------------------------------------------------------


def test_item_reference_copies_an_item_of_the_same_project_under_a_new_id(
    client: openai.OpenAI,
) -> None:
    source = client.conversations.create(
        items=[
            {"type": "function_call", "call_id": "call_7", "name": "lookup", "arguments": "{}"},
        ]
    )
    original = client.conversations.items.with_raw_response.list(source.id).http_response.json()[
        "data"
    ][0]
    target = client.conversations.create(items=[{"role": "user", "content": "first"}])
    raw = client.conversations.items.with_raw_response.create(
        target.id, items=[{"type": "item_reference", "id": original["id"]}]
    )
    copy = raw.http_response.json()["data"][0]
    assert raw.parse().data[0].type == "function_call"
    assert copy["id"] != original["id"]
    assert copy["id"].startswith("fc_")
    assert {**copy, "id": original["id"]} == original
    listed = [item.id for item in client.conversations.items.list(target.id, order="asc")]
    assert listed[1] == copy["id"] and len(listed) == 2
    # The source is untouched.
    assert (
        client.conversations.items.retrieve(original["id"], conversation_id=source.id).id
        == (original["id"])
    )


def test_item_reference_without_type_and_within_one_conversation(
    client: openai.OpenAI,
) -> None:
    conversation = client.conversations.create(items=[{"role": "user", "content": "echo me"}])
    original = next(iter(client.conversations.items.list(conversation.id)))
    added = client.conversations.items.create(
        conversation.id,
        items=[{"id": original.id}],  # type: ignore[list-item]
    )
    assert added.data[0].type == "message"
    assert added.data[0].id != original.id
    texts = [item.content[0].text for item in client.conversations.items.list(conversation.id)]
    assert texts == ["echo me", "echo me"]


def test_item_reference_to_an_unknown_id_is_404_and_stores_nothing(
    client: openai.OpenAI,
) -> None:
    conversation = client.conversations.create()
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.items.create(
            conversation.id,
            items=[
                {"role": "user", "content": "before"},
                {"type": "item_reference", "id": "msg_missing"},
            ],
        )
    assert_sdk_error(
        caught.value, 404, code=None, param=None, message=r"Item with id 'msg_missing' not found\."
    )
    assert list(client.conversations.items.list(conversation.id)) == []


def test_item_reference_to_another_projects_item_is_404(
    server: LiveServer, client: openai.OpenAI
) -> None:
    with server.client(server.new_key()) as other:
        theirs = other.conversations.create(items=[{"role": "user", "content": "secret"}])
        their_item = next(iter(other.conversations.items.list(theirs.id))).id
    mine = client.conversations.create()
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.items.create(
            mine.id, items=[{"type": "item_reference", "id": their_item}]
        )
    assert_sdk_error(
        caught.value,
        404,
        code=None,
        param=None,
        message=rf"Item with id '{their_item}' not found\.",
    )
    with pytest.raises(openai.NotFoundError):
        client.conversations.create(items=[{"type": "item_reference", "id": their_item}])


def test_item_reference_in_create_conversation(client: openai.OpenAI) -> None:
    source = client.conversations.create(items=[{"role": "assistant", "content": "reuse"}])
    original = next(iter(client.conversations.items.list(source.id)))
    copy_conv = client.conversations.create(items=[{"type": "item_reference", "id": original.id}])
    copied = list(client.conversations.items.list(copy_conv.id))
    assert len(copied) == 1 and copied[0].id != original.id
    assert copied[0].model_dump(exclude={"id"}) == original.model_dump(exclude={"id"})


# -- invalid items, answered by the live server -------------------------------------------


@pytest.mark.parametrize(
    ("label", "item", "param", "code"), INVALID, ids=[case[0] for case in INVALID]
)
def test_invalid_item_is_a_400_with_param_and_code(
    http: httpx.Client, label: str, item: Any, param: str, code: str
) -> None:
    conversation = http.post("/v1/conversations", json={}).json()["id"]
    response = http.post(f"/v1/conversations/{conversation}/items", json={"items": [item]})
    assert_error(response, 400, code=code, param=param)
    # The same item at index 1 of a create-conversation call names index 1.
    shifted = "items[1]" + param.removeprefix("items[0]")
    created = http.post(
        "/v1/conversations", json={"items": [{"role": "user", "content": "fine"}, item]}
    )
    assert_error(created, 400, code=code, param=shifted)
    assert http.get(f"/v1/conversations/{conversation}/items").json()["data"] == []


# -- what one call may store ------------------------------------------------------------------


def test_references_cannot_multiply_a_small_request_into_a_huge_write(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    conv = client.conversations.create()
    big = client.conversations.items.create(
        conv.id, items=[{"type": "message", "role": "user", "content": "z" * 1_000_000}]
    ).data[0]
    refs = [{"type": "item_reference", "id": big.id}] * 3
    assert http.post(f"/v1/conversations/{conv.id}/items", json={"items": refs}).status_code == 200
    # Twenty references in a request of about a kilobyte would store 20 MB: past the 4 MiB limit.
    many = [{"type": "item_reference", "id": big.id}] * 20
    answer = http.post(f"/v1/conversations/{conv.id}/items", json={"items": many})
    error = assert_error(answer, 400, code="items_too_large", param="items[4]")
    assert "4194304 bytes" in error["message"]
    created = http.post("/v1/conversations", json={"items": many})
    assert_error(created, 400, code="items_too_large", param="items[4]")
    listed = http.get(f"/v1/conversations/{conv.id}/items", params={"limit": 100}).json()
    assert len(listed["data"]) == 4  # the refused call stored nothing


@pytest.mark.parametrize("bad", ["a/b", "/", ".", "..", "x" * 257])
def test_an_id_that_no_url_can_name_is_refused_at_write_time(http: httpx.Client, bad: str) -> None:
    conv = http.post("/v1/conversations", json={}).json()["id"]
    item = {"type": "message", "role": "user", "id": bad, "content": "hi"}
    answer = http.post(f"/v1/conversations/{conv}/items", json={"items": [item]})
    error = assert_error(answer, 400, code="invalid_value", param="items[0].id")
    assert bad[:64] in error["message"]
    created = http.post("/v1/conversations", json={"items": [item]})
    assert_error(created, 400, code="invalid_value", param="items[0].id")


def test_ids_with_url_special_characters_stay_readable_and_deletable(
    client: openai.OpenAI,
) -> None:
    conv = client.conversations.create()
    odd = ["a?b", "a#b", "a%2Fb", "a b", "a&b=c", "...", "ü"]
    client.conversations.items.create(
        conv.id,
        items=[{"type": "message", "role": "user", "id": i, "content": i} for i in odd],
    )
    for item_id in odd:
        assert client.conversations.items.retrieve(item_id, conversation_id=conv.id).id == item_id
        client.conversations.items.delete(item_id, conversation_id=conv.id)
    assert client.conversations.items.list(conv.id).data == []
