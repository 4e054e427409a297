"""Micro-costs of one retrieve, piece by piece, on a WAL SQLite file shaped like parley's.

    python bench/micro.py

Times, in µs per call (median of 5 batches), the steps a retrieve takes outside the HTTP
server: the key lookup and the conversation read as autocommit statements (each its own read
transaction: WAL locks and shared-memory checks every time), the same two inside one read
transaction, the key hash, the request id, the JSON encoding. It tells which of the
recommended changes (key cache, one read transaction) buy how much.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import msgspec

from parley import auth, ids
from parley.models import ConversationRecord
from parley.store.sqlite import SQLiteStore


def per_call_us(function: Callable[[], object], calls: int = 20_000) -> float:
    """Median over 5 batches of the CPU µs one call takes (CPU time: robust on a shared machine)."""
    batches = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            function()
        batches.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(batches)


async def prepare(path: str) -> tuple[SQLiteStore, str, bytes]:
    """A store with one key and 1,000 conversations; the key hash and one conversation id."""
    store = SQLiteStore(path)
    await store.open()
    key = f"sk-bench-{uuid.uuid4().hex}"
    await auth.create_key(store, "bench", key=key)
    project = await store.project_for_key(auth.hash_key(key))
    assert project is not None
    last = ""
    for _ in range(1000):
        last = ids.conversation_id()
        await store.create_conversation(project, last, int(time.time()), b'{"a":"b"}', [])
    return store, last, auth.hash_key(key)


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="parley-bench-micro-"))
    path = str(folder / "parley.db")
    loop = asyncio.new_event_loop()
    store, conversation_id, key_hash = loop.run_until_complete(prepare(path))
    # A plain autocommit connection, as parley opens its readers (the store's own ones may sit
    # inside a read snapshot, where BEGIN fails).
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    key_sql = "SELECT project_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL"
    conv_sql = "SELECT created_at, metadata FROM conversations WHERE id = ? AND project_id = ?"
    project = reader.execute(key_sql, (key_hash,)).fetchone()[0]

    def key_lookup() -> object:
        return reader.execute(key_sql, (key_hash,)).fetchone()

    def conversation_read() -> object:
        return reader.execute(conv_sql, (conversation_id, project)).fetchone()

    def both_autocommit() -> object:
        key_lookup()
        return conversation_read()

    def both_one_transaction() -> object:
        reader.execute("BEGIN")
        try:
            key_lookup()
            return conversation_read()
        finally:
            reader.execute("COMMIT")

    cache = {key_hash: project}

    def cached_key_then_read() -> object:
        assert cache.get(key_hash) is not None
        return conversation_read()

    encode = msgspec.json.Encoder().encode
    record = ConversationRecord(conversation_id, 1_700_000_000, b'{"a":"b"}')
    rows = [
        ("key lookup (autocommit SELECT)", key_lookup),
        ("conversation read (autocommit SELECT)", conversation_read),
        ("both, autocommit (what retrieve does)", both_autocommit),
        ("both, in one read transaction", both_one_transaction),
        ("key from an in-memory cache + read", cached_key_then_read),
        ("auth.hash_key (SHA-256)", lambda: auth.hash_key("sk-bench-" + "x" * 32)),
        ("ids.request_id()", ids.request_id),
        ("encode the Conversation (msgspec)", lambda: encode(record.wire())),
    ]
    print(f"{'step':<42} {'µs/call':>8}")
    for name, function in rows:
        print(f"{name:<42} {per_call_us(function):>8.2f}")
    reader.close()
    loop.run_until_complete(store.close())
    loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
