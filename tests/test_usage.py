"""GET /v1/usage (a parley extension): the caller's project's figures, live, both backends."""

from __future__ import annotations

import httpx
import openai

from tests.conftest import LiveServer


def test_usage_counts_what_was_stored(server: LiveServer, client: openai.OpenAI) -> None:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {client.api_key}"}
    ) as http:
        assert http.get("/v1/usage").json() == {
            "object": "usage",
            "conversations": 0,
            "items": 0,
            "stored_bytes": 0,
        }
        a = client.conversations.create(
            metadata={"k": "v"}, items=[{"role": "user", "content": "hello"}]
        )
        client.conversations.items.create(
            a.id, items=[{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
        )
        b = client.conversations.create()
        expected_bytes = len(b'{"k":"v"}') + len(b"{}")
        for conv in (a.id, b.id):
            for item in client.conversations.items.list(conv):
                raw = http.get(f"/v1/conversations/{conv}/items/{item.id}").content
                expected_bytes += len(raw)
        usage = http.get("/v1/usage").json()
        assert usage == {
            "object": "usage",
            "conversations": 2,
            "items": 3,
            "stored_bytes": expected_bytes,
        }
        first = client.conversations.items.list(a.id).data[0].id
        client.conversations.items.delete(first, conversation_id=a.id)
        client.conversations.delete(b.id)
        after = http.get("/v1/usage").json()
        assert after["conversations"] == 1 and after["items"] == 2
        assert after["stored_bytes"] < expected_bytes
        # Another project sees only its own figures.
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.new_key()}"}
        ) as other:
            assert other.get("/v1/usage").json()["conversations"] == 0
        assert http.get("/v1/usage", headers={"Authorization": "Bearer nope"}).status_code == 401
