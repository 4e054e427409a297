"""GET /v1/usage (a parley extension): the caller's project's figures, live, both backends."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import openai

from parley.models import ResponseRecord
from parley.store import open_store
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
            "responses": 0,
            "tokens": 0,
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
            "responses": 0,
            "tokens": 0,
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


def test_usage_counts_stored_responses_and_their_tokens(server: LiveServer) -> None:
    project = f"resp-{uuid.uuid4().hex[:8]}"
    key = server.new_key(project)
    data = [
        json.dumps({"id": f"resp_{n}{uuid.uuid4().hex}", "object": "response",
                    "usage": {"input_tokens": n, "output_tokens": 10, "total_tokens": n + 10}})
        for n in (5, 7)
    ]  # fmt: skip
    _store_responses(server.database, project, data, int(time.time()))
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as http:
        usage = http.get("/v1/usage").json()
    assert usage["responses"] == 2 and usage["tokens"] == 32
    assert usage["stored_bytes"] == sum(len(d) + len(b"[]") for d in data)


def _store_responses(database: str, project: str, data: list[str], created_at: int) -> list[str]:
    """Stored responses written through the store, as the Responses API writes them."""

    async def run() -> list[str]:
        store = open_store(database)
        await store.open()
        try:
            pid = await store.ensure_project(project)
            made = []
            for text in data:
                rid = json.loads(text)["id"]
                record = ResponseRecord(rid, created_at, text.encode(), b"[]")
                await store.commit_response(pid, None, [], created_at, record)
                made.append(rid)
            return made
        finally:
            await store.close()

    return asyncio.run(run())
