"""The eight routes through the official SDK with strict validation: what each one answers."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from tests.conftest import backends_with_pgbouncer
from tests.helpers import assert_sdk_error, message_texts


@pytest.fixture(scope="session", params=backends_with_pgbouncer())
def backend(request: pytest.FixtureRequest) -> str:
    """This module's tests also run through PgBouncer in transaction mode."""
    return str(request.param)


def _messages(*texts: str) -> list[dict[str, str]]:
    """Easy-form user messages, one per text."""
    return [{"type": "message", "role": "user", "content": text} for text in texts]


# -- create -------------------------------------------------------------------------------


def test_create_without_arguments_sends_an_empty_body_and_gets_empty_metadata(
    client: openai.OpenAI,
) -> None:
    before = int(time.time())
    raw = client.conversations.with_raw_response.create()
    assert json.loads(raw.http_request.content) == {}
    conversation = raw.parse()
    assert conversation.id.startswith("conv_")
    assert conversation.object == "conversation"
    assert conversation.metadata == {}
    assert before - 1 <= conversation.created_at <= int(time.time()) + 1
    assert raw.http_response.json() == {
        "id": conversation.id,
        "object": "conversation",
        "created_at": conversation.created_at,
        "metadata": {},
    }
    assert list(client.conversations.items.list(conversation.id)) == []


def test_create_with_items_and_metadata_stores_both(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(
        items=_messages("one", "two", "three"), metadata={"topic": "demo", "owner": "ann"}
    )
    assert conversation.metadata == {"topic": "demo", "owner": "ann"}
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert message_texts(items) == ["one", "two", "three"]
    assert all(item.type == "message" and item.status == "completed" for item in items)
    assert all(item.id.startswith("msg_") for item in items)
    assert len({item.id for item in items}) == 3


def test_create_with_metadata_none_sends_null_and_gets_empty_metadata(
    client: openai.OpenAI,
) -> None:
    raw = client.conversations.with_raw_response.create(metadata=None)
    assert json.loads(raw.http_request.content) == {"metadata": None}
    assert raw.parse().metadata == {}
    assert raw.http_response.json()["metadata"] == {}


def test_create_with_items_none_is_a_conversation_without_items(http: httpx.Client) -> None:
    response = http.post("/v1/conversations", json={"items": None, "metadata": None})
    assert response.status_code == 200
    listed = http.get(f"/v1/conversations/{response.json()['id']}/items").json()
    assert listed["data"] == []


def test_create_mints_distinct_conversation_ids(client: openai.OpenAI) -> None:
    ids = {client.conversations.create().id for _ in range(5)}
    assert len(ids) == 5


# -- retrieve -----------------------------------------------------------------------------


def test_retrieve_answers_what_create_answered(client: openai.OpenAI) -> None:
    created = client.conversations.with_raw_response.create(metadata={"k": "v"})
    conversation = created.parse()
    retrieved = client.conversations.with_raw_response.retrieve(conversation.id)
    assert retrieved.parse() == conversation
    assert retrieved.http_response.json() == created.http_response.json()


def test_retrieve_of_an_unknown_conversation_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.retrieve("conv_x")
    assert_sdk_error(
        caught.value,
        404,
        code=None,
        param=None,
        message=r"Conversation with id 'conv_x' not found\.",
    )


# -- update -------------------------------------------------------------------------------


def test_update_replaces_the_whole_metadata_map(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(metadata={"a": "1", "b": "2"})
    updated = client.conversations.update(conversation.id, metadata={"c": "3"})
    assert updated.metadata == {"c": "3"}
    assert updated.id == conversation.id
    assert updated.created_at == conversation.created_at
    assert client.conversations.retrieve(conversation.id).metadata == {"c": "3"}


@pytest.mark.parametrize("cleared", [None, {}], ids=["null", "empty object"])
def test_update_with_null_or_empty_metadata_clears_it(
    client: openai.OpenAI, cleared: dict[str, str] | None
) -> None:
    conversation = client.conversations.create(metadata={"a": "1"})
    raw = client.conversations.with_raw_response.update(conversation.id, metadata=cleared)
    assert json.loads(raw.http_request.content) == {"metadata": cleared}
    assert raw.parse().metadata == {}
    assert raw.http_response.json()["metadata"] == {}
    assert client.conversations.retrieve(conversation.id).metadata == {}


def test_update_leaves_the_items_alone(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=_messages("kept"))
    client.conversations.update(conversation.id, metadata={"x": "y"})
    assert message_texts(list(client.conversations.items.list(conversation.id))) == ["kept"]


def test_update_of_an_unknown_conversation_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.update("conv_x", metadata={"a": "b"})
    assert_sdk_error(
        caught.value,
        404,
        code=None,
        param=None,
        message=r"Conversation with id 'conv_x' not found\.",
    )


# -- delete -------------------------------------------------------------------------------


def test_delete_answers_conversation_deleted_and_a_second_delete_is_404(
    client: openai.OpenAI,
) -> None:
    conversation = client.conversations.create(items=_messages("gone soon"))
    item_id = next(iter(client.conversations.items.list(conversation.id))).id
    raw = client.conversations.with_raw_response.delete(conversation.id)
    assert raw.http_response.json() == {
        "id": conversation.id,
        "object": "conversation.deleted",
        "deleted": True,
    }
    deleted = raw.parse()
    assert (deleted.id, deleted.object, deleted.deleted) == (
        conversation.id,
        "conversation.deleted",
        True,
    )
    not_found = rf"Conversation with id '{conversation.id}' not found\."
    with pytest.raises(openai.NotFoundError) as again:
        client.conversations.delete(conversation.id)
    assert_sdk_error(again.value, 404, code=None, param=None, message=not_found)
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError) as listing:
        client.conversations.items.list(conversation.id)
    assert_sdk_error(listing.value, 404, code=None, param=None, message=not_found)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(item_id, conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.create(conversation.id, items=_messages("late"))
    with pytest.raises(openai.NotFoundError):
        client.conversations.update(conversation.id, metadata={})


def test_delete_touches_no_other_conversation(client: openai.OpenAI) -> None:
    kept = client.conversations.create(items=_messages("stay"), metadata={"k": "v"})
    doomed = client.conversations.create(items=_messages("go"))
    client.conversations.delete(doomed.id)
    assert client.conversations.retrieve(kept.id).metadata == {"k": "v"}
    assert message_texts(list(client.conversations.items.list(kept.id))) == ["stay"]


# -- items create -------------------------------------------------------------------------


def test_items_create_answers_only_the_new_items_in_order(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=_messages("old"))
    raw = client.conversations.items.with_raw_response.create(
        conversation.id,
        items=[
            *_messages("new 1"),
            {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
            *_messages("new 3"),
        ],
    )
    added = raw.parse()
    body = raw.http_response.json()
    assert body["object"] == "list" and body["has_more"] is False
    assert [item.type for item in added.data] == ["message", "function_call", "message"]
    assert [item["id"] for item in body["data"]] == [item.id for item in added.data]
    assert added.first_id == added.data[0].id
    assert added.last_id == added.data[-1].id
    assert added.data[1].id.startswith("fc_")
    everything = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [item.id for item in everything[1:]] == [item.id for item in added.data]
    assert len(everything) == 4


def test_items_create_keeps_a_client_supplied_id(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    added = client.conversations.items.create(
        conversation.id,
        items=[{"type": "message", "id": "msg_mine", "role": "user", "content": "hi"}],
    )
    assert added.first_id == "msg_mine"
    item = client.conversations.items.retrieve("msg_mine", conversation_id=conversation.id)
    assert item.id == "msg_mine"


def test_items_create_rejects_an_id_the_conversation_already_holds(
    client: openai.OpenAI,
) -> None:
    conversation = client.conversations.create(
        items=[{"type": "message", "id": "msg_twice", "role": "user", "content": "hi"}]
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.items.create(
            conversation.id,
            items=[{"type": "message", "id": "msg_twice", "role": "user", "content": "again"}],
        )
    assert_sdk_error(caught.value, 400, code="duplicate_item", param="items[0].id")
    assert len(list(client.conversations.items.list(conversation.id))) == 1


def test_one_call_with_the_same_id_twice_is_rejected_whole(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    twice = [
        {"type": "message", "id": "msg_dup", "role": "user", "content": "a"},
        {"type": "message", "id": "msg_dup", "role": "user", "content": "b"},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.items.create(conversation.id, items=twice)  # type: ignore[arg-type]
    assert_sdk_error(caught.value, 400, code="duplicate_item", param="items[1].id")
    with pytest.raises(openai.BadRequestError):
        client.conversations.create(items=twice)  # type: ignore[arg-type]
    assert list(client.conversations.items.list(conversation.id)) == []


def test_the_same_client_id_may_live_in_two_conversations(client: openai.OpenAI) -> None:
    item = {"type": "message", "id": "msg_shared", "role": "user", "content": "hi"}
    first = client.conversations.create(items=[item])  # type: ignore[list-item]
    second = client.conversations.create(items=[item])  # type: ignore[list-item]
    for conversation in (first, second):
        found = client.conversations.items.retrieve("msg_shared", conversation_id=conversation.id)
        assert found.id == "msg_shared"
    client.conversations.items.delete("msg_shared", conversation_id=first.id)
    assert client.conversations.items.retrieve("msg_shared", conversation_id=second.id).id == (
        "msg_shared"
    )


def test_items_create_accepts_include(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    raw = client.conversations.items.with_raw_response.create(
        conversation.id,
        items=_messages("with include"),
        include=["message.input_image.image_url", "reasoning.encrypted_content"],
    )
    assert "include%5B%5D=message.input_image.image_url" in str(raw.http_request.url)
    assert message_texts(raw.parse().data) == ["with include"]


def test_items_create_on_an_unknown_conversation_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.items.create("conv_x", items=_messages("x"))
    assert_sdk_error(
        caught.value,
        404,
        code=None,
        param=None,
        message=r"Conversation with id 'conv_x' not found\.",
    )


# -- items list ---------------------------------------------------------------------------


@pytest.fixture
def five(client: openai.OpenAI) -> tuple[str, list[str]]:
    """A conversation holding messages m0..m4 (added in two calls); its id and the item ids."""
    conversation = client.conversations.create(items=_messages("m0", "m1"))
    client.conversations.items.create(conversation.id, items=_messages("m2", "m3", "m4"))
    ids = [item.id for item in client.conversations.items.list(conversation.id, order="asc")]
    assert len(ids) == 5
    return conversation.id, ids


def test_items_list_defaults_to_newest_first(
    client: openai.OpenAI, five: tuple[str, list[str]]
) -> None:
    conversation_id, ids = five
    page = client.conversations.items.list(conversation_id)
    assert [item.id for item in page.data] == ids[::-1]
    assert message_texts(page.data) == ["m4", "m3", "m2", "m1", "m0"]
    assert page.has_more is False


def test_items_list_limit_order_and_after(
    client: openai.OpenAI, five: tuple[str, list[str]]
) -> None:
    conversation_id, ids = five
    first = client.conversations.items.list(conversation_id, limit=2, order="asc")
    assert [item.id for item in first.data] == ids[:2]
    assert first.has_more is True and first.last_id == ids[1]
    second = client.conversations.items.list(
        conversation_id, limit=2, order="asc", after=first.last_id
    )
    assert [item.id for item in second.data] == ids[2:4]
    last = client.conversations.items.list(conversation_id, limit=2, order="asc", after=ids[3])
    assert [item.id for item in last.data] == ids[4:]
    assert last.has_more is False
    newest = client.conversations.items.list(conversation_id, limit=3, order="desc", after=ids[4])
    assert [item.id for item in newest.data] == [ids[3], ids[2], ids[1]]
    assert newest.has_more is True


def test_items_list_after_an_unknown_item_is_404(
    client: openai.OpenAI, five: tuple[str, list[str]]
) -> None:
    conversation_id, _ = five
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.items.list(conversation_id, after="msg_nope")
    assert_sdk_error(
        caught.value, 404, code=None, param=None, message=r"Item with id 'msg_nope' not found\."
    )


def test_items_list_accepts_every_include_value(
    client: openai.OpenAI, five: tuple[str, list[str]]
) -> None:
    conversation_id, ids = five
    include = [
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
        "message.input_image.image_url",
        "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",
        "reasoning.encrypted_content",
        "message.output_text.logprobs",
    ]
    raw = client.conversations.items.with_raw_response.list(
        conversation_id, include=include, order="asc"
    )
    assert str(raw.http_request.url).count("include%5B%5D=") == len(include)
    assert [item.id for item in raw.parse().data] == ids


def test_items_list_accepts_a_bare_repeated_include(
    http: httpx.Client, five: tuple[str, list[str]]
) -> None:
    conversation_id, ids = five
    response = http.get(
        f"/v1/conversations/{conversation_id}/items",
        params=[("include", "reasoning.encrypted_content"), ("order", "asc")],
    )
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["data"]] == ids


# -- items retrieve -----------------------------------------------------------------------


def test_items_retrieve_answers_the_stored_item(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    added = client.conversations.items.with_raw_response.create(
        conversation.id,
        items=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]}
        ],
    )
    stored = added.http_response.json()["data"][0]
    raw = client.conversations.items.with_raw_response.retrieve(
        stored["id"], conversation_id=conversation.id, include=["message.input_image.image_url"]
    )
    assert raw.http_response.json() == stored
    item = raw.parse()
    assert item.type == "message" and item.id == stored["id"]
    assert stored == {
        "id": stored["id"],
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "q"}],
        "status": "completed",
    }


def test_items_retrieve_of_an_unknown_item_is_404(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=_messages("x"))
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.items.retrieve("msg_nope", conversation_id=conversation.id)
    assert_sdk_error(
        caught.value, 404, code=None, param=None, message=r"Item with id 'msg_nope' not found\."
    )


def test_items_retrieve_of_another_conversations_item_is_404(client: openai.OpenAI) -> None:
    first = client.conversations.create(items=_messages("mine"))
    second = client.conversations.create()
    item_id = next(iter(client.conversations.items.list(first.id))).id
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(item_id, conversation_id=second.id)


# -- items delete -------------------------------------------------------------------------


def test_items_delete_answers_the_conversation_and_the_item_is_gone(
    client: openai.OpenAI, five: tuple[str, list[str]]
) -> None:
    conversation_id, ids = five
    client.conversations.update(conversation_id, metadata={"topic": "kept"})
    raw = client.conversations.items.with_raw_response.delete(
        ids[2], conversation_id=conversation_id
    )
    conversation = raw.parse()
    assert conversation.object == "conversation"
    assert raw.http_response.json() == client.conversations.retrieve(conversation_id).model_dump(
        mode="json"
    )
    assert conversation.id == conversation_id and conversation.metadata == {"topic": "kept"}
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.items.retrieve(ids[2], conversation_id=conversation_id)
    assert_sdk_error(
        caught.value, 404, code=None, param=None, message=rf"Item with id '{ids[2]}' not found\."
    )
    remaining = [item.id for item in client.conversations.items.list(conversation_id, order="asc")]
    assert remaining == [ids[0], ids[1], ids[3], ids[4]]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.delete(ids[2], conversation_id=conversation_id)


def test_items_delete_keeps_pagination_consistent(
    client: openai.OpenAI, five: tuple[str, list[str]]
) -> None:
    conversation_id, ids = five
    client.conversations.items.delete(ids[1], conversation_id=conversation_id)
    page = client.conversations.items.list(conversation_id, order="asc", limit=1, after=ids[0])
    assert [item.id for item in page.data] == [ids[2]]
    assert page.has_more is True


def test_items_delete_on_an_unknown_conversation_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.conversations.items.delete("msg_x", conversation_id="conv_x")
    assert_sdk_error(
        caught.value,
        404,
        code=None,
        param=None,
        message=r"Conversation with id 'conv_x' not found\.",
    )
