"""The node layer against a live parley: n8n's four operations, the items, limits, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from parley.client import NodeError, ValidationError
from parley.credentials import Credential
from parley.node import Node, parse_metadata
from tests.conftest import LiveServer, free_port, start_server, stop_server


@pytest.fixture
def node(server: LiveServer, api_key: str) -> Iterator[Node]:
    """A node in this test's own project, no retries (errors surface at once)."""
    with Node(Credential("test", api_key, server.base_url), max_retries=0) as live:
        yield live


def test_the_four_operations(node: Node, client: openai.OpenAI) -> None:
    made = node.create(
        [("system", "You are terse."), ("user", "Hello there"), ("assistant", "Hi!")],
        {"metadata": '{"topic": "demo", "customer": "c-42"}'},
    )
    assert made["object"] == "conversation" and made["id"].startswith("conv_")
    assert made["metadata"] == {"topic": "demo", "customer": "c-42"}
    assert isinstance(made["created_at"], int)
    stored = list(client.conversations.items.list(made["id"], order="asc"))
    assert [(i.role, i.content[0].type, i.content[0].text) for i in stored] == [  # type: ignore[union-attr]
        ("system", "input_text", "You are terse."),
        ("user", "input_text", "Hello there"),
        ("assistant", "output_text", "Hi!"),
    ]
    assert node.get(made["id"]) == made
    updated = node.update(made["id"], {"topic": "billing"})
    assert updated == {**made, "metadata": {"topic": "billing"}}
    assert node.update(made["id"], "{}")["metadata"] == {}
    assert node.remove(made["id"]) == {
        "id": made["id"],
        "object": "conversation.deleted",
        "deleted": True,
    }
    with pytest.raises(NodeError) as info:
        node.get(made["id"])
    error = info.value
    assert error.http_code == 404
    assert error.message == "The resource you are requesting could not be found"
    assert error.description == f"Conversation with id '{made['id']}' not found."
    assert f"no such conversation '{made['id']}'" in error.explain()
    assert error.to_item() == {
        "error": "The resource you are requesting could not be found",
        "description": f"Conversation with id '{made['id']}' not found.",
        "httpCode": 404,
    }


def test_messages_as_n8n_workflow_mappings(node: Node) -> None:
    made = node.create([{"role": "user", "content": "from a workflow"}])
    assert made["metadata"] == {}


def test_items_operations(node: Node) -> None:
    conv = node.create()["id"]
    added = node.create_items(conv, [("user", "one"), {"role": "assistant", "content": "two"}])
    assert [i["role"] for i in added["data"]] == ["user", "assistant"]
    for n in range(3):  # 3 × 20 more, so listing has to follow pages
        node.create_items(conv, [("user", f"bulk {n}-{k}") for k in range(20)])
    everything = node.list_items(conv, order="asc", page_size=7)
    assert len(everything["data"]) == 62 and everything["has_more"] is False
    texts = [i["content"][0]["text"] for i in everything["data"]]
    assert texts[:3] == ["one", "two", "bulk 0-0"] and texts[-1] == "bulk 2-19"
    newest = node.list_items(conv, limit=5)
    assert [i["content"][0]["text"] for i in newest["data"]] == [
        f"bulk 2-{k}" for k in (19, 18, 17, 16, 15)
    ]
    first = added["data"][0]
    assert node.retrieve_item(conv, first["id"]) == first
    after = node.delete_item(conv, first["id"])
    assert after["id"] == conv and after["object"] == "conversation"
    with pytest.raises(NodeError) as info:
        node.retrieve_item(conv, first["id"])
    assert info.value.http_code == 404
    assert f"no such item '{first['id']}' in conversation '{conv}'" in info.value.explain()


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ("{not json", "Invalid JSON in metadata field"),
        ("[1, 2]", "metadata must be a JSON object of strings, got an array"),
        ("null", "metadata must be a JSON object of strings, got null"),
        ({f"k{n}": "v" for n in range(17)}, "metadata has 17 pairs; at most 16 are allowed"),
        ({"k" * 65: "v"}, "metadata key 'kkkkkkkkkkkkkkkkkkkk…' is 65 characters long; at most 64"),
        ({"topic": "x" * 513}, "metadata['topic'] is 513 characters long; at most 512"),
        ({"n": 1}, "metadata['n'] must be a string, got 1; write it as \"1\""),
        ({"": "v"}, "metadata key '' must be a non-empty string"),
    ],
)
def test_metadata_limits_are_checked_before_sending(
    node: Node, metadata: object, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        node.create([("user", "hi")], {"metadata": metadata})
    assert info.value.http_code is None
    assert str(info.value).startswith(message)


def test_limits_at_the_edge_pass(node: Node) -> None:
    metadata = {f"{n:02d}" + "k" * 62: "v" * 512 for n in range(16)}
    assert parse_metadata(metadata) == metadata
    made = node.create([("user", str(n)) for n in range(20)], {"metadata": metadata})
    assert made["metadata"] == metadata


def test_message_checks_name_the_message(node: Node) -> None:
    with pytest.raises(ValidationError, match="21 messages: OpenAI accepts at most 20"):
        node.create([("user", "x")] * 21)
    # Counted from 0, like per-item runs ("item 0") and n8n's pairedItem.
    with pytest.raises(ValidationError, match="message 1: role 'developer' is not one of"):
        node.create([("user", "a"), ("developer", "b")])
    with pytest.raises(ValidationError, match="message 0: the text must be a string"):
        node.create([("user", 5)])  # type: ignore[list-item]


def test_n8n_required_field_errors(node: Node) -> None:
    with pytest.raises(ValidationError, match="^Conversation ID is required$"):
        node.update("  ", {"a": "b"})
    with pytest.raises(ValidationError, match="^Metadata is required$"):
        node.update("conv_x", "")
    with pytest.raises(ValidationError, match="^Conversation ID is required$"):
        node.get("")


def test_401_names_the_credential(server: LiveServer) -> None:
    credential = Credential("prod", "sk-not-a-real-key-7777", server.base_url)
    with Node(credential, max_retries=0) as bad, pytest.raises(NodeError) as info:
        bad.create()
    assert info.value.http_code == 401
    assert info.value.message == "Authorization failed - please check your credentials"
    assert "credential 'prod'" in info.value.explain() and "…7777" in info.value.explain()
    assert "sk-not-a-real-key-7777" not in info.value.explain()


def test_connection_refused_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with Node(Credential("off", "sk-x-0000", url), max_retries=0) as off:
        with pytest.raises(NodeError) as info:
            off.get("conv_1")
    assert info.value.message == "The service refused the connection - perhaps it is offline"
    assert f"cannot connect to {url}" in info.value.explain()


def test_list_conversations_by_metadata(node: Node) -> None:
    mine = [node.create([], {"metadata": {"customer": "c-a", "n": str(n)}})["id"] for n in range(5)]
    node.create([], {"metadata": {"customer": "c-b"}})
    page = node.list_conversations(metadata={"customer": "c-a"}, limit=2, order="asc")
    assert [c["id"] for c in page["data"]] == mine[:2] and page["has_more"] is True
    everything = node.list_conversations(
        metadata={"customer": "c-a"}, limit=2, order="asc", all_pages=True
    )
    assert [c["id"] for c in everything["data"]] == mine
    assert everything["has_more"] is False and everything["last_id"] == mine[-1]
    newest = node.list_conversations(metadata={"customer": "c-a", "n": "4"})
    assert [c["id"] for c in newest["data"]] == [mine[4]]


def test_429_carries_the_servers_message(tmp_path: Path) -> None:
    limited = start_server(
        str(tmp_path / "limited.db"),
        tmp_path / "server.log",
        args=["--rate-limit", "0.2", "--rate-burst", "1"],
    )
    try:
        credential = Credential("slow", limited.api_key, limited.base_url)
        with Node(credential, max_retries=0) as node:
            node.create()
            with pytest.raises(NodeError) as info:
                node.create()
    finally:
        stop_server(limited)
    error = info.value
    assert error.http_code == 429
    assert error.message == "The service is receiving too many requests from you"
    assert error.description  # the server's own words, not only n8n's generic text
    assert error.explain().startswith(f"HTTP 429: {error.description}")
    assert "still failing after the client's retries" in error.explain()


def test_fork_copies_up_to_an_item_and_keeps_or_replaces_metadata(node: Node) -> None:
    made = node.create([("user", "a"), ("assistant", "b"), ("user", "c")], {"metadata": "{}"})
    ids = [i["id"] for i in node.list_items(made["id"], order="asc")["data"]]
    fork = node.fork(made["id"], after_item=ids[1], metadata={"branch": "2"})
    assert fork["metadata"] == {"branch": "2"} and fork["id"] != made["id"]
    copied = node.list_items(fork["id"], order="asc")["data"]
    assert [i["content"][0]["text"] for i in copied] == ["a", "b"]
    whole = node.fork(made["id"])
    assert len(node.list_items(whole["id"])["data"]) == 3
    with pytest.raises(NodeError) as info:
        node.fork(made["id"], after_item="msg_nope")
    assert info.value.http_code == 404
    with pytest.raises(ValidationError):
        node.fork(" ")
