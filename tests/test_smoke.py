"""The first end-to-end check: the official SDK against a live server, every route once."""

from __future__ import annotations

import openai
import pytest


def test_every_route_once(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "Hello!"}],
        metadata={"topic": "demo"},
    )
    assert conversation.id.startswith("conv_")
    assert conversation.metadata == {"topic": "demo"}
    assert client.conversations.retrieve(conversation.id).id == conversation.id
    updated = client.conversations.update(conversation.id, metadata={"topic": "project-x"})
    assert updated.metadata == {"topic": "project-x"}
    added = client.conversations.items.create(
        conversation.id,
        items=[{"type": "function_call_output", "call_id": "call_abc", "output": "4"}],
    )
    assert added.first_id == added.last_id == added.data[0].id
    listed = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [item.type for item in listed] == ["message", "function_call_output"]
    item = client.conversations.items.retrieve(added.first_id, conversation_id=conversation.id)
    assert item.id == added.first_id
    after_delete = client.conversations.items.delete(
        added.first_id, conversation_id=conversation.id
    )
    assert after_delete.id == conversation.id
    deleted = client.conversations.delete(conversation.id)
    assert deleted.deleted is True and deleted.object == "conversation.deleted"
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)
