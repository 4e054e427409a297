"""POST /v1/conversations/{id}/fork (a parley extension), live server, both backends."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import LiveServer
from tests.helpers import assert_error, message_texts


def _conversation(client: openai.OpenAI, texts: list[str]) -> tuple[str, list[str]]:
    conv = client.conversations.create(
        metadata={"topic": "fork"},
        items=[{"type": "message", "role": "user", "content": t} for t in texts],
    )
    ids = [item.id for item in client.conversations.items.list(conv.id, order="asc")]
    return conv.id, ids


def _texts(client: openai.OpenAI, conversation_id: str) -> list[str]:
    return message_texts(list(client.conversations.items.list(conversation_id, order="asc")))


@pytest.mark.parametrize("where", ["first", "middle", "last", "absent"])
def test_fork_copies_items_up_to_after_item_with_new_ids(
    client: openai.OpenAI, http: httpx.Client, where: str
) -> None:
    source, ids = _conversation(client, ["a", "b", "c", "d", "e"])
    after = {"first": ids[0], "middle": ids[2], "last": ids[-1], "absent": None}[where]
    kept = {"first": 1, "middle": 3, "last": 5, "absent": 5}[where]
    body = {} if after is None else {"after_item": after}
    answer = http.post(f"/v1/conversations/{source}/fork", json=body)
    assert answer.status_code == 200, answer.text
    fork = answer.json()
    assert set(fork) == {"id", "object", "created_at", "metadata"}
    assert fork["object"] == "conversation" and fork["id"] != source
    assert fork["metadata"] == {"topic": "fork"}
    # The SDK reads the fork as any conversation, strictly validated.
    assert client.conversations.retrieve(fork["id"]).metadata == {"topic": "fork"}
    assert _texts(client, fork["id"]) == ["a", "b", "c", "d", "e"][:kept]
    copied = [item.id for item in client.conversations.items.list(fork["id"], order="asc")]
    assert not set(copied) & set(ids)
    assert [i[: i.index("_")] for i in copied] == ["msg"] * kept
    # The source is untouched, and the two now live apart.
    assert _texts(client, source) == ["a", "b", "c", "d", "e"]
    client.conversations.items.create(fork["id"], items=[{"role": "user", "content": "f"}])
    assert len(_texts(client, source)) == 5


def test_fork_takes_given_metadata_and_an_empty_body(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    source, _ = _conversation(client, ["x"])
    given = http.post(f"/v1/conversations/{source}/fork", json={"metadata": {"branch": "b2"}})
    assert given.json()["metadata"] == {"branch": "b2"}
    bare = http.post(f"/v1/conversations/{source}/fork")
    assert bare.status_code == 200 and bare.json()["metadata"] == {"topic": "fork"}
    assert _texts(client, bare.json()["id"]) == ["x"]


def test_fork_of_an_empty_conversation_is_empty(client: openai.OpenAI, http: httpx.Client) -> None:
    source = client.conversations.create().id
    fork = http.post(f"/v1/conversations/{source}/fork").json()
    assert _texts(client, fork["id"]) == []


def test_fork_errors(client: openai.OpenAI, http: httpx.Client) -> None:
    source, _ = _conversation(client, ["x"])
    assert_error(
        http.post(f"/v1/conversations/{source}/fork", json={"after_item": "msg_nope"}),
        404,
        code=None,
        param=None,
        message="Item with id 'msg_nope' not found.",
    )
    assert_error(
        http.post("/v1/conversations/conv_nope/fork"),
        404,
        code=None,
        param=None,
        message="Conversation with id 'conv_nope' not found.",
    )
    assert_error(
        http.post(f"/v1/conversations/{source}/fork", json={"after_item": 3}),
        400,
        code="invalid_type",
        param="after_item",
    )
    assert_error(
        http.post(f"/v1/conversations/{source}/fork", json={"nope": 1}),
        400,
        code="unknown_parameter",
        param="nope",
    )
    assert_error(
        http.post(f"/v1/conversations/{source}/fork", json={"metadata": {"k": 1}}),
        400,
        code="invalid_type",
        param="metadata.k",
    )
    assert http.get(f"/v1/conversations/{source}/fork").status_code in (404, 405)


def test_fork_across_projects_is_404(server: LiveServer, client: openai.OpenAI) -> None:
    source, ids = _conversation(client, ["private"])
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.new_key()}"}
    ) as other:
        answer = other.post(f"/v1/conversations/{source}/fork", json={"after_item": ids[0]})
        assert_error(answer, 404, code=None, param=None)
        assert other.get("/v1/conversations").json()["data"] == []
