"""The SQLite writer's group commit: in one batch, a failing write never takes others along."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from parley import ids
from parley.errors import InvalidRequest, NotFound
from parley.items import parse_items
from parley.models import NO_TIME_FILTER, NewItem
from parley.store.sqlite import SQLiteStore
from parley.store.sqlite_writer import Writer


def _items(*texts: str) -> list[NewItem]:
    parsed = parse_items([{"role": "user", "content": text} for text in texts])
    return [item for item in parsed if isinstance(item, NewItem)]


async def _batch(store: SQLiteStore, clash: bool) -> tuple[list[object], list[str], str]:
    taken = ids.conversation_id()
    await store.create_conversation("p", taken, 1, b"{}", [])
    target = ids.conversation_id()
    await store.create_conversation("p", target, 1, b"{}", _items("first"))
    duplicate = (await store.list_items("p", target, after=None, limit=1, order="asc")).items[0][0]
    fresh = [ids.conversation_id() for _ in range(30)]
    work = [store.create_conversation("p", cid, 1, b'{"n":"1"}', _items("a", "b")) for cid in fresh]
    work += [
        store.update_conversation("p", "conv_missing", b"{}"),  # not found, before any write
        # An id clash is an sqlite3 error outside any savepoint: the batch is retried one
        # write at a time. Without it the batch commits as one transaction.
        store.create_conversation("p", taken if clash else ids.conversation_id(), 1, b"{}", []),
        store.create_items("p", target, [*_items("ok"), NewItem(duplicate, "message", b"{}")], 1),
        store.create_items("p", target, _items("kept"), 1),
        store.delete_item("p", target, "msg_missing"),
    ]
    # Queued together, these land in the writer's batches side by side.
    results = await asyncio.gather(*work, return_exceptions=True)
    return results, fresh, target


@pytest.mark.parametrize("clash", [False, True])
def test_failures_stay_with_their_own_write(tmp_path: Path, clash: bool) -> None:
    async def run() -> None:
        store = SQLiteStore(str(tmp_path / "w.db"))
        await store.open()
        try:
            results, fresh, target = await _batch(store, clash)
            *created, missing, conflict, dup, kept, no_item = results
            assert not any(isinstance(r, BaseException) for r in created)
            assert isinstance(missing, NotFound)
            if clash:
                assert isinstance(conflict, sqlite3.IntegrityError)
            else:
                assert conflict.__class__.__name__ == "ConversationRecord"
            assert isinstance(dup, InvalidRequest) and dup.code == "duplicate_item"
            assert kept is None
            assert isinstance(no_item, NotFound)
            for cid in fresh:
                page = await store.list_items("p", cid, after=None, limit=10, order="asc")
                assert len(page.items) == 2
            page = await store.list_items("p", target, after=None, limit=10, order="asc")
            texts = [msgspec.json.decode(data)["content"][0]["text"] for _, data in page.items]
            assert texts == ["first", "kept"]  # the failed call left nothing behind
        finally:
            await store.close()

    asyncio.run(run())


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_every_acknowledged_write_survives_close(tmp_path: Path, synchronous: str) -> None:
    async def run() -> list[str]:
        store = SQLiteStore(str(tmp_path / "c.db"), synchronous=synchronous)
        await store.open()
        made = [ids.conversation_id() for _ in range(200)]
        await asyncio.gather(*(store.create_conversation("p", c, 1, b"{}", []) for c in made))
        await store.close()
        return made

    made = asyncio.run(run())
    conn = sqlite3.connect(tmp_path / "c.db")
    found = {row[0] for row in conn.execute("SELECT id FROM conversations")}
    conn.close()
    assert set(made) <= found


def test_an_op_that_writes_then_fails_leaves_nothing(tmp_path: Path) -> None:
    """An ``isolated=False`` op that breaks its promise is caught, not committed."""
    path = str(tmp_path / "promise.db")

    def connect(target: str) -> sqlite3.Connection:
        return sqlite3.connect(target, isolation_level=None, check_same_thread=False)

    setup = connect(path)
    setup.execute("CREATE TABLE t (name TEXT PRIMARY KEY)")
    setup.close()
    started, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)

    def insert(name: str) -> Callable[[sqlite3.Connection], str]:
        def op(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO t VALUES (?)", (name,))
            return name

        return op

    def write_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('broken')")
        raise InvalidRequest("failed after writing")

    async def run() -> list[object]:
        writer = Writer(path, "FULL", connect)
        writer.start()
        try:
            first = writer.submit(hold)
            await asyncio.to_thread(started.wait, 10)
            # The writer is busy: these three wait in its queue and make one batch.
            batch = [
                writer.submit(insert("before"), isolated=False),
                writer.submit(write_then_fail, isolated=False),
                writer.submit(insert("after"), isolated=False),
            ]
            release.set()
            await first
            return await asyncio.gather(*batch, return_exceptions=True)
        finally:
            await writer.stop()

    before, broken, after = asyncio.run(run())
    assert (before, after) == ("before", "after")
    assert isinstance(broken, InvalidRequest)
    check = connect(path)
    names = sorted(row[0] for row in check.execute("SELECT name FROM t"))
    check.close()
    assert names == ["after", "before"]


def _held(store: SQLiteStore) -> tuple[threading.Event, threading.Event, object]:
    """A write that keeps the writer busy until released, so what is queued meanwhile makes
    one batch."""
    started, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)

    return started, release, store._write(hold)


async def _found(store: SQLiteStore, project: str, word: str) -> dict[str, list[str]]:
    rows, _ = await store.search_conversations(
        project, word, metadata=[], times=NO_TIME_FILTER, page=None, limit=100
    )
    return {row.record.id: sorted(item for item, _ in row.items) for row in rows}


def test_search_rows_of_a_batch_are_exact(tmp_path: Path) -> None:
    """A batch defers its search rows to its end (sorted by row key): what is deleted, rolled
    back or failed in the same batch is never found, and everything else is, at once."""

    async def run() -> None:
        store = SQLiteStore(str(tmp_path / "s.db"))
        await store.open()
        try:
            convs = [ids.conversation_id() for _ in range(6)]
            for cid in convs:
                await store.create_conversation("p", cid, 1, b"{}", _items("zebra seed"))
            gone_item = _items("zebra doomed")
            failing = _items("zebra failing")
            started, release, held = _held(store)
            await asyncio.to_thread(started.wait, 10)
            taken = (await store.list_items("p", convs[3], after=None, limit=1, order="asc")).items
            work = [
                # Appends in falling conversation order: row keys arrive out of order.
                *(store.create_items("p", cid, _items("zebra late"), 2) for cid in convs[:0:-1]),
                store.create_items("p", convs[1], gone_item, 2),
                store.delete_item("p", convs[1], gone_item[0].id),
                store.create_items("p", convs[2], _items("zebra with its conversation"), 2),
                store.delete_conversation("p", convs[2]),
                # Fails on its second item after the first was inserted (a savepoint op).
                store.create_items(
                    "p", convs[3], [*failing, NewItem(taken[0][0], "message", b"{}")], 2
                ),
                store.commit_response("p", convs[4], _items("zebra in a turn"), 2, None),
                store.create_items("p", "conv_missing", _items("zebra nowhere"), 2),
            ]
            tasks = [asyncio.ensure_future(w) for w in work]
            await asyncio.sleep(0.05)  # all of them queued behind the held write
            release.set()
            await held
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert isinstance(results[-1], NotFound)
            assert isinstance(results[-3], InvalidRequest)
            found = await _found(store, "p", "zebra")
            assert convs[2] not in found
            for cid in convs[1:]:
                if cid == convs[2]:
                    continue
                page = await store.list_items("p", cid, after=None, limit=10, order="asc")
                # Every stored item is found, and nothing else.
                assert found[cid] == sorted(item for item, _ in page.items)
            assert gone_item[0].id not in found[convs[1]]
            assert failing[0].id not in found[convs[3]]
            assert await _found(store, "p", "doomed") == {}
            assert await _found(store, "p", "failing") == {}
            assert list(await _found(store, "p", "turn")) == [convs[4]]
        finally:
            await store.close()

    asyncio.run(run())
    # No index row outlived its item (search joins the items, so only the index shows it).
    conn = sqlite3.connect(tmp_path / "s.db")
    indexed = [row[0] for row in conn.execute("SELECT rowid FROM items_fts ORDER BY rowid")]
    stored = [row[0] for row in conn.execute("SELECT seq FROM items ORDER BY seq")]
    conn.close()
    assert indexed == stored


def test_the_wal_starts_over_while_requests_read_between_writes(tmp_path: Path) -> None:
    # Each turn reads (the shared snapshot) and then writes, as a conversation turn does. A
    # snapshot held across the writer's COMMIT kept the WAL from ever starting over: it grew
    # by every write (about 12 pages an append here: 4,900 pages after 400) however often
    # SQLite checkpointed. Started over, it stays near the checkpoint mark (1,000 pages).
    path = tmp_path / "parley.db"

    async def run() -> tuple[int, int]:
        store = SQLiteStore(str(path))
        await store.open()
        try:
            conversation = ids.conversation_id()
            await store.create_conversation("p", conversation, 1, b"{}", _items("first"))
            for n in range(400):
                page = await store.list_items("p", conversation, after=None, limit=5, order="desc")
                assert len(page.items) == min(n + 1, 5)
                await store.create_items("p", conversation, _items(f"turn {n} " * 40), 2)
            with sqlite3.connect(path) as conn:
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            return (path.parent / "parley.db-wal").stat().st_size, page_size
        finally:
            await store.close()

    wal, page_size = asyncio.run(run())
    frames = wal // (page_size + 24)
    assert frames < 1500, f"the WAL holds {frames} pages after 400 appends"
