"""The key check of hot routes: one round trip on PostgreSQL with the check folded in, and a
key revoked through one process failing on its very next request in every other."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley import auth, keycheck
from parley.models import NewItem
from parley.store import open_store
from tests.conftest import POSTGRES_SKIP, POSTGRES_URL, LiveServer, start_server, stop_server
from tests.helpers import assert_error


def _keys_cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parley", "keys", *args, "--database", database],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def _hot_calls(conv: str, item: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every route whose key check rides in the store's statement, as (method, path, body)."""
    path = f"/v1/conversations/{conv}"
    return [
        ("GET", path, None),
        ("GET", f"{path}/items", None),
        ("GET", f"{path}/items?after={item}&order=asc", None),
        ("GET", f"{path}/items/{item}", None),
        ("POST", "/v1/conversations", {"items": [{"role": "user", "content": "x"}]}),
        ("POST", f"{path}/items", {"items": [{"role": "user", "content": "more"}]}),
        ("POST", path, {"metadata": {"changed": "yes"}}),
        ("DELETE", f"{path}/items/{item}", None),
        ("DELETE", path, None),
        # Answers a live key would get as 404 or 400: a revoked key gets 401 all the same.
        ("GET", "/v1/conversations/conv_missing", None),
        ("POST", path, {"metadata": "not an object"}),
    ]


def test_a_key_revoked_through_one_process_fails_at_once_in_another(
    empty_database: str, tmp_path: Path
) -> None:
    # PostgreSQL: two servers on one database, the key revoked by the CLI (a third process).
    # SQLite serves one server per file: the server and the CLI.
    count = 2 if empty_database.startswith("postgresql://") else 1
    servers: list[LiveServer] = []
    try:
        for n in range(count):
            servers.append(start_server(empty_database, tmp_path / f"server{n}.log"))
        created = _keys_cli(empty_database, "create", "--project", "revoked", "--name", "x")
        key = created.stdout.strip()
        found = re.search(r"key id (key_[0-9a-f]+)", created.stderr)
        assert found is not None, created.stderr
        headers = {"Authorization": f"Bearer {key}"}
        conversations = []
        for live in servers:
            with httpx.Client(base_url=live.url, headers=headers, timeout=30) as http:
                made = http.post(
                    "/v1/conversations", json={"items": [{"role": "user", "content": "a"}]}
                )
                assert made.status_code == 200, made.text
                conv = made.json()["id"]
                item = http.get(f"/v1/conversations/{conv}/items").json()["data"][0]["id"]
                conversations.append((conv, item))
                # Every read route has seen the key active in this process (cached there).
                for method, path, body in _hot_calls(conv, item)[:4]:
                    assert http.request(method, path, json=body).status_code == 200
        _keys_cli(empty_database, "revoke", found.group(1))
        for live, (conv, item) in zip(servers, conversations, strict=True):
            with httpx.Client(base_url=live.url, headers=headers, timeout=30) as http:
                for method, path, body in _hot_calls(conv, item):
                    refused = http.request(method, path, json=body)
                    assert_error(refused, 401, code="invalid_api_key", param=None)
        # The refused calls wrote nothing: a new key of the project finds all as it was.
        fresh = {"Authorization": f"Bearer {servers[0].new_key('revoked')}"}
        with httpx.Client(base_url=servers[-1].url, headers=fresh, timeout=30) as http:
            listed = http.get("/v1/conversations").json()["data"]
            assert sorted(c["id"] for c in listed) == sorted(c for c, _ in conversations)
            for conv, item in conversations:
                kept = http.get(f"/v1/conversations/{conv}")
                assert kept.status_code == 200 and kept.json()["metadata"] == {}
                items = http.get(f"/v1/conversations/{conv}/items").json()["data"]
                assert [entry["id"] for entry in items] == [item]
    finally:
        for live in servers:
            stop_server(live)


async def _logged(store: Any, project_name: str) -> tuple[bytes, str, list[str]]:
    """A key of a new project (its digest, the project's id), and the list every statement the
    store sends from now on is logged to (the pool's one connection)."""
    plain, _ = await auth.create_key(store, project_name, name="t")
    digest = auth.hash_key(plain)
    project = await store.project_for_key(digest)
    assert project is not None
    sent: list[str] = []
    pool: Any = store._pool
    # One connection, so every statement passes the logger.
    conn = await pool.acquire()
    conn.add_query_logger(lambda record: sent.append(record.query))
    pool.release(conn)
    return digest, project, sent


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason=POSTGRES_SKIP)
def test_hot_store_calls_are_one_round_trip_with_the_key_check() -> None:
    from tests.pg import fresh_database

    async def run(url: str) -> dict[str, int]:
        store = open_store(url)
        await store.open()
        try:
            digest, project, sent = await _logged(store, "rounds")
            cache = keycheck.KeyCache()

            async def owing(call: Any) -> int:
                before = len(sent)
                token = keycheck.owe(keycheck.OwedCheck(digest, "…", cache))
                try:
                    await call
                    assert keycheck.owed() is None, "the statement did not settle the check"
                finally:
                    keycheck.release(token)
                return len(sent) - before

            def item(text: str) -> NewItem:
                from parley import ids

                data = b'{"type":"message","role":"user","content":"' + text.encode() + b'"}'
                return NewItem(ids.new_id("msg_"), "message", data)

            # The first use of array parameters on a connection makes asyncpg look their
            # types up, once per connection: not part of any request after.
            await owing(store.create_conversation(project, "conv_r0", 1, b'{"a":"1"}', []))
            counts = {
                "create": await owing(
                    store.create_conversation(project, "conv_r1", 1, b'{"a":"1"}', [item("a")])
                ),
                "retrieve": await owing(store.retrieve_conversation(project, "conv_r1")),
                "add_items": await owing(store.create_items(project, "conv_r1", [item("b")], 2)),
                "list_items": await owing(
                    store.list_items(project, "conv_r1", after=None, limit=20, order="desc")
                ),
                "update": await owing(store.update_conversation(project, "conv_r1", b'{"b":"2"}')),
                "delete": await owing(store.delete_conversation(project, "conv_r1")),
            }
            return counts
        finally:
            await store.close()

    with fresh_database() as url:
        counts = asyncio.run(run(url))
    assert counts == dict.fromkeys(counts, 1), counts


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason=POSTGRES_SKIP)
def test_a_conversation_turn_is_two_round_trips() -> None:
    """A stored response on a conversation: the context read (the key check in it), then one
    statement for the appended items and the stored response together."""
    from parley import ids
    from parley.models import ResponseRecord
    from tests.pg import fresh_database

    async def run(url: str) -> tuple[list[int], list[str]]:
        store = open_store(url)
        await store.open()
        try:
            digest, project, sent = await _logged(store, "turns")
            cache = keycheck.KeyCache()

            def item(role: str, text: str) -> NewItem:
                item_id = ids.new_id("msg_")
                data = b'{"id":"%s","type":"message","role":"%s","content":"%s"}' % (
                    item_id.encode(),
                    role.encode(),
                    text.encode(),
                )
                return NewItem(item_id, "message", data)

            counts = []
            for n in range(2):  # the first turn also looks up the array types, once
                conv = f"conv_turn{n}"
                await store.create_conversation(project, conv, 1, b"{}", [item("user", "hi")])
                before = len(sent)
                token = keycheck.owe(keycheck.OwedCheck(digest, "…", cache))
                try:
                    await store.list_items(project, conv, after=None, limit=100, order="asc")
                    assert keycheck.owed() is None, "the context read did not settle the check"
                    record = ResponseRecord(ids.new_id("resp_"), 2, b"{}", b"[]", None)
                    turn = [item("user", "again"), item("assistant", "hello")]
                    await store.commit_response(project, conv, turn, 2, record)
                finally:
                    keycheck.release(token)
                counts.append(len(sent) - before)
                stored = await store.list_items(project, conv, after=None, limit=10, order="asc")
                assert [data for _, data in stored.items][1:] == [t.data for t in turn]
                kept = await store.retrieve_response(project, record.id)
                assert kept.data == b"{}"
            return counts, sent
        finally:
            await store.close()

    with fresh_database() as url:
        counts, sent = asyncio.run(run(url))
    assert counts[-1] == 2, sent[-6:]
