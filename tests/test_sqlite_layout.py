"""The SQLite items layout (migration 0008): items keyed by (conversation, position), an older
file rebuilt that way with its search index carried over, and a fresh file written that way.
Real files, a live server, the official SDK."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import openai
import pytest

from parley import ids
from parley.items import parse_items
from parley.models import NewItem
from parley.search import item_text
from parley.settings import DEFAULT_PROJECT
from parley.store.migrations import migrations
from parley.store.sqlite_schema import connect
from tests.conftest import LiveServer, start_server, stop_server

POSITIONS = 1 << 32
BEFORE_CLUSTERING = 7  # the last schema version whose items were keyed by insertion order


def _old_file(path: Path, conversations: int, per_conversation: int) -> dict[str, list[str]]:
    """A file at schema 7, written as parley wrote it then: items appended round-robin over
    the conversations (so their rows interleave), each indexed for search under its seq, one
    item deleted (its tombstone kept). Returns each conversation's live item texts in order."""
    conn = connect(str(path))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "CREATE TABLE parley_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at INTEGER NOT NULL)"
    )
    for version, name, sql in migrations("sqlite"):
        if version > BEFORE_CLUSTERING:
            break
        conn.executescript(sql)
        conn.execute("INSERT INTO parley_migrations VALUES (?, ?, 0)", (version, name))
    now = int(time.time())
    conn.execute(
        "INSERT INTO projects (id, name, created_at) VALUES ('proj_old', ?, ?)",
        (DEFAULT_PROJECT, now),
    )
    conv_ids = [ids.new_id("conv_") for _ in range(conversations)]
    for seq, conv_id in enumerate(conv_ids, start=1):
        conn.execute(
            "INSERT INTO conversations (seq, id, project_id, created_at, updated_at, metadata, "
            "next_position, item_count) VALUES (?, ?, 'proj_old', ?, ?, ?, ?, ?)",
            (seq, conv_id, now, now, b"{}", per_conversation, per_conversation),
        )
    texts: dict[str, list[str]] = {conv_id: [] for conv_id in conv_ids}
    for position in range(per_conversation):
        for seq, conv_id in enumerate(conv_ids, start=1):
            text = f"walrus{seq} tag{seq}x{position} in the old file"
            [item] = parse_items([{"role": "user", "content": text}])
            assert isinstance(item, NewItem)
            cursor = conn.execute(
                "INSERT INTO items (conversation, position, id, type, created_at, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (seq, position, item.id, item.type, now, item.data),
            )
            conn.execute(
                "INSERT INTO items_fts (rowid, body) VALUES (?, ?)",
                (cursor.lastrowid, item_text(item.data)),
            )
            texts[conv_id].append(text)
    # The first conversation's item at position 1 was deleted: its tombstone stays.
    seq, item_id, position = conn.execute(
        "SELECT conversation, id, position FROM items WHERE conversation = 1 AND position = 1"
    ).fetchone()
    [old_seq] = conn.execute(
        "DELETE FROM items WHERE conversation = 1 AND position = 1 RETURNING seq"
    ).fetchone()
    conn.execute("DELETE FROM items_fts WHERE rowid = ?", (old_seq,))
    conn.execute("INSERT INTO deleted_items VALUES (?, ?, ?)", (seq, item_id, position))
    conn.execute("UPDATE conversations SET item_count = item_count - 1 WHERE seq = 1")
    del texts[conv_ids[0]][1]
    conn.close()
    return texts


def _texts(client: openai.OpenAI, conv_id: str, **params: object) -> list[str]:
    page = client.conversations.items.list(conv_id, **params)  # type: ignore[arg-type]
    return [item.content[0].text for item in page.data]  # type: ignore[union-attr]


def _search_hits(http: httpx.Client, word: str) -> dict[str, set[str]]:
    answer = http.get("/v1/conversations/search", params={"q": word, "limit": 100})
    assert answer.status_code == 200, answer.text
    return {
        hit["conversation"]["id"]: {item["id"] for item in hit["items"]}
        for hit in answer.json()["data"]
    }


def _assert_clustered(path: Path) -> None:
    """Every item's row key is its (conversation, position); the index it replaces is gone;
    every search row points at a live item; the file is sound."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute(
            "SELECT count(*) FROM items WHERE seq != conversation * ? + position", (POSITIONS,)
        ).fetchone() == (0,)
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(items)")}
        assert "items_by_position" not in indexes
        assert {"items_by_conversation_id", "items_by_id"} <= indexes
        assert conn.execute(
            "SELECT count(*) FROM items_fts WHERE rowid NOT IN (SELECT seq FROM items)"
        ).fetchone() == (0,)
        plan = " ".join(
            row[3]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT id, data FROM items WHERE seq > ? AND seq < ? "
                "ORDER BY seq LIMIT 21",
                (0, POSITIONS),
            )
        )
        assert "USING INTEGER PRIMARY KEY" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        conn.close()


def test_an_older_file_is_rebuilt_in_conversation_order_with_search_intact(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    texts = _old_file(path, conversations=3, per_conversation=30)
    conv_ids = list(texts)
    key = f"sk-test-{uuid.uuid4().hex}"
    server = start_server(str(path), tmp_path / "server.log", api_key=key)
    try:
        _check_upgraded(server, path, texts, conv_ids)
    finally:
        stop_server(server)
    _assert_clustered(path)
    conn = sqlite3.connect(str(path))
    assert conn.execute("SELECT max(version) FROM parley_migrations").fetchone()[0] >= 8
    conn.close()


def _check_upgraded(
    server: LiveServer, path: Path, texts: dict[str, list[str]], conv_ids: list[str]
) -> None:
    client = server.client()
    first = conv_ids[0]
    # Pages in both orders, and a walk that passes the deleted item's place.
    assert _texts(client, first, order="asc", limit=100) == texts[first]
    assert _texts(client, first, order="desc", limit=5) == texts[first][::-1][:5]
    listed = client.conversations.items.list(first, order="asc", limit=100).data
    assert client.conversations.items.retrieve(listed[3].id, conversation_id=first) == listed[3]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    [tombstone] = conn.execute("SELECT id FROM deleted_items").fetchone()
    conn.close()
    assert _texts(client, first, order="asc", after=tombstone, limit=2) == texts[first][1:3]
    for conv_id in conv_ids[1:]:
        assert _texts(client, conv_id, order="asc", limit=100) == texts[conv_id]
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"})
    with http:
        # The search rows moved to the new keys: each hit names the item that holds the word.
        hits = _search_hits(http, "walrus2")
        second = client.conversations.items.list(conv_ids[1], order="asc", limit=100).data
        assert set(hits) == {conv_ids[1]} and hits[conv_ids[1]] <= {item.id for item in second}
        note = client.conversations.items.list(conv_ids[2], order="asc", limit=100).data[7]
        assert _search_hits(http, "tag3x7") == {conv_ids[2]: {note.id}}
        assert _search_hits(http, "tag1x1") == {}  # deleted before the upgrade
        # Writes after the upgrade: new items follow the old ones and are found; a deleted
        # item and a deleted conversation are found no more.
        client.conversations.items.create(
            first, items=[{"type": "message", "role": "user", "content": "pelican after"}]
        )
        assert _texts(client, first, order="desc", limit=1) == ["pelican after"]
        [found] = _search_hits(http, "pelican").values()
        client.conversations.items.delete(found.pop(), conversation_id=first)
        assert _search_hits(http, "pelican") == {}
        client.conversations.delete(conv_ids[1])
        assert _search_hits(http, "walrus2") == {}
        assert set(_search_hits(http, "walrus3")) == {conv_ids[2]}


def test_a_fresh_file_keeps_interleaved_writes_apart_by_conversation(tmp_path: Path) -> None:
    own = tmp_path / "fresh.db"
    live = start_server(str(own), tmp_path / "fresh.log")
    try:
        client = live.client()
        convs = [client.conversations.create().id for _ in range(3)]
        for round_ in range(12):  # interleaved appends, two items per call
            for n, conv_id in enumerate(convs):
                client.conversations.items.create(
                    conv_id,
                    items=[
                        {"type": "message", "role": "user", "content": f"otter{n} {round_} a"},
                        {"type": "message", "role": "user", "content": f"otter{n} {round_} b"},
                    ],
                )
        for n, conv_id in enumerate(convs):
            want = [f"otter{n} {r} {s}" for r in range(12) for s in "ab"]
            assert _texts(client, conv_id, order="asc", limit=100) == want
            page = client.conversations.items.list(conv_id, order="desc", limit=10)
            assert [i.content[0].text for i in page.data] == want[::-1][:10]  # type: ignore[union-attr]
            after = client.conversations.items.list(conv_id, order="desc", after=page.data[-1].id)
            assert [i.content[0].text for i in after.data] == want[::-1][10:30]  # type: ignore[union-attr]
        with httpx.Client(
            base_url=live.url, headers={"Authorization": f"Bearer {live.api_key}"}
        ) as http:
            assert set(_search_hits(http, "otter1")) == {convs[1]}
    finally:
        stop_server(live)
    _assert_clustered(own)
    conn = sqlite3.connect(f"file:{own}?mode=ro", uri=True)
    try:
        # Each conversation's rows sit at consecutive keys, whatever the write order was.
        for seq, low, high, count in conn.execute(
            "SELECT conversation, min(seq), max(seq), count(*) FROM items GROUP BY conversation"
        ):
            assert (low, high) == (seq * POSITIONS, seq * POSITIONS + count - 1)
    finally:
        conn.close()


def test_the_key_bounds_are_enforced_by_the_file(tmp_path: Path) -> None:
    server = start_server(str(tmp_path / "bounds.db"), tmp_path / "bounds.log")
    stop_server(server)
    conn = sqlite3.connect(str(tmp_path / "bounds.db"))
    try:
        bad = [
            (1, 1, 0),  # the key does not match (conversation, position)
            (2 * POSITIONS, 1, POSITIONS),  # a position past 2^32 - 1 runs into the next one
            (0, 1 << 31, 0),  # a conversation seq past 2^31 - 1 would overflow the key
        ]
        for (seq, conversation, position), check in zip(
            bad, ["seq = conversation", "position BETWEEN", "conversation BETWEEN"], strict=True
        ):
            with pytest.raises(sqlite3.IntegrityError, match=check):
                conn.execute(
                    "INSERT INTO items (seq, conversation, position, id, type, created_at, data) "
                    "VALUES (?, ?, ?, 'msg_x', 'message', 0, x'7b7d')",
                    (seq, conversation, position),
                )
    finally:
        conn.close()
