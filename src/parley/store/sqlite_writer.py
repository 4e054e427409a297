"""The SQLite writer thread: every write of parley's SQLite store, with group commit.

One thread owns the only write connection. It drains every waiting write into one
transaction and commits once: one fsync acknowledges many requests. A write that may fail
half-way runs in a savepoint of its own, so its failure does not undo its neighbours; the
others promise to fail only before writing, and skip that cost. The promise is checked, not
trusted: a failed op that changed a row makes the batch roll back and rerun write by write.
A write's future is resolved only after that COMMIT returned, so an acknowledged write is on
disk.

A write may also defer rows to the end of its transaction (:func:`defer_insert`): the batch
inserts them in key order with one ``executemany`` per statement, just before its COMMIT, so
they are committed (or not) with the write that made them.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from parley.errors import ParleyError

WriteOp = Callable[[sqlite3.Connection], Any]
Connect = Callable[[str], sqlite3.Connection]

_STOP = object()
_MAX_BATCH = 512
# How many of its own key-neutral commits the writer remembers (Writer.own_commits).
OWN_COMMITS = 256


def change_counter(header: bytes) -> int:
    """The WAL-index header's iChange: one more after each committed transaction, of any
    process (sqlite.org/walformat.html, 2.1: a native-order u32 at byte 8)."""
    return int.from_bytes(header[8:12], sys.byteorder)


class BrokenPromise(RuntimeError):
    """An op submitted with ``isolated=False`` wrote something, then raised."""


class _Deferred(threading.local):
    """The rows deferred in the writer's open transaction, in the order they came (its thread)."""

    # The writer's connection while it has a transaction open, else None.
    conn: sqlite3.Connection | None = None

    def __init__(self) -> None:
        self.rows: list[tuple[str, Sequence[Any]]] = []


_deferred = _Deferred()


def defer_insert(conn: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]) -> None:
    """Insert ``rows`` (each led by its row key) with ``sql``: at once, or, inside a batch of
    the writer, just before its COMMIT, all the batch's rows of ``sql`` in key order.

    The search index is why (migration 0005): FTS5 writes its pending terms out as a new
    index segment whenever a row key is lower than the one before, so a batch of appends to
    random conversations wrote about one per write. Sorted, a batch is one segment: the
    writer's CPU per append fell from 79-85 to 61-64 µs in batches of 64 (bench/writesql.py;
    bench/README.md, "Writes: the writer's batch").
    A write that deletes rows such inserts may have made calls :func:`flush_deferred` first.
    """
    if _deferred.conn is not conn:
        conn.executemany(sql, rows)
        return
    _deferred.rows.extend((sql, row) for row in rows)


def flush_deferred(conn: sqlite3.Connection) -> None:
    """Run the inserts deferred so far in this transaction (each statement's rows by key)."""
    if _deferred.conn is not conn or not _deferred.rows:
        return
    by_sql: dict[str, list[Sequence[Any]]] = {}
    for sql, row in _deferred.rows:
        by_sql.setdefault(sql, []).append(row)
    _deferred.rows = []
    for sql, rows in by_sql.items():
        rows.sort(key=itemgetter(0))
        conn.executemany(sql, rows)


class Writer:
    """The one writer thread and its queue of pending writes."""

    def __init__(self, path: str, synchronous: str, connect: Connect) -> None:
        self._path = path
        self._connect = connect
        self._synchronous = synchronous
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="parley-sqlite-writer", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        # Told (batch size, seconds) after each batch, on this thread (`--metrics`).
        self.observer: Callable[[int, float], None] | None = None
        # Bumped after every successful COMMIT, before any waiter is woken: readers compare
        # it with their snapshot's to know when they must look again.
        self.generation = 0
        # The file's WAL-index header (CommitSignal.version), set by the store when it has
        # one; and this writer's commits that wrote only key-neutral ops, with nothing else
        # committed between (the header's change counter moved by exactly one), as header
        # after -> header before: the key cache survives them (SQLiteKeys.project_for_key).
        self.header: Callable[[], bytes] | None = None
        self.own_commits: dict[bytes, bytes] = {}

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def submit(
        self, op: WriteOp, *, isolated: bool = True, key_neutral: bool = False
    ) -> asyncio.Future[Any]:
        """Queue ``op``; the future resolves after the COMMIT that includes it.

        ``key_neutral=True`` promises that ``op`` changes no API key or project (a
        conversation's or a response's writes): a commit of such ops alone leaves the key
        cache valid.

        ``isolated=False`` promises that ``op`` raises a :class:`ParleyError` only before it
        has written anything; such an op then runs without a savepoint of its own (a
        SAVEPOINT/RELEASE pair measured 30-40 % of a create's writer CPU). The writer checks
        the promise (the connection's change counter must not have moved): an op that breaks
        it, and any other exception, rolls the batch back and retries each write alone.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put((op, future, loop, isolated, key_neutral))
        return future

    async def stop(self) -> None:
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            conn = self._connect(self._path)
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        try:
            while not stopping:
                batch = [self._queue.get()]
                while len(batch) < _MAX_BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if any(entry is _STOP for entry in batch):
                    stopping = True
                    batch = [entry for entry in batch if entry is not _STOP]
                    # Writes queued behind the stop marker are still accepted work.
                    while True:
                        try:
                            entry = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if entry is not _STOP:
                            batch.append(entry)
                if batch:
                    began = time.perf_counter()
                    self._commit(conn, batch)
                    observer = self.observer
                    if observer is not None:
                        observer(len(batch), time.perf_counter() - began)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], asyncio.AbstractEventLoop, Any, Any]] = []
        if len(batch) == 1:
            # Alone in its transaction, a write needs no savepoint: a failure rolls back all.
            op, future, loop, _, neutral = batch[0]
            try:
                conn.execute("BEGIN IMMEDIATE")
                header_before = self._header_now(neutral)
                _deferred.conn = conn
                result = op(conn)
                flush_deferred(conn)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                outcomes.append((future, loop, None, exc))
            else:
                self._committed(header_before)
                outcomes.append((future, loop, result, None))
            finally:
                _deferred.conn, _deferred.rows = None, []
            self._deliver(outcomes)
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            header_before = self._header_now(all(entry[4] for entry in batch))
            _deferred.conn = conn
            for op, future, loop, isolated, _ in batch:
                if isolated:
                    # A savepoint's op starts with nothing deferred: ROLLBACK TO then undoes
                    # exactly the deferred rows it flushed itself, never its neighbours'.
                    flush_deferred(conn)
                mark = len(_deferred.rows)
                if not isolated:
                    before = conn.total_changes
                    try:
                        result = op(conn)
                    except ParleyError as exc:
                        if conn.total_changes != before:
                            # The op broke its promise and wrote before failing: its rows sit
                            # in the batch. Undo the batch; the retry runs each write alone.
                            raise BrokenPromise(exc) from exc
                        del _deferred.rows[mark:]
                        outcomes.append((future, loop, None, exc))
                    else:
                        outcomes.append((future, loop, result, None))
                    continue
                conn.execute("SAVEPOINT op")
                try:
                    result = op(conn)
                except BaseException as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    del _deferred.rows[mark:]
                    outcomes.append((future, loop, None, exc))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((future, loop, result, None))
            flush_deferred(conn)
            conn.execute("COMMIT")
            self._committed(header_before)
        except BaseException:
            _deferred.conn, _deferred.rows = None, []
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            # Something failed outside any savepoint: nothing of the batch was kept. Run each
            # write in a transaction of its own so only the faulty one fails.
            for entry in batch:
                self._commit(conn, [entry])
            return
        _deferred.conn = None
        self._deliver(outcomes)

    def _header_now(self, neutral: bool) -> bytes | None:
        """Inside the batch's write transaction: the header, if the batch is key-neutral.
        No other connection can commit while this one holds the write lock."""
        header = self.header
        return header() if neutral and header is not None else None

    def _committed(self, before: bytes | None) -> None:
        self.generation += 1
        header = self.header
        if before is None or header is None:
            return
        after = header()
        # Read after the lock was let go: one more commit than before is ours alone; more
        # means another process committed too, and nothing is remembered.
        if change_counter(after) == (change_counter(before) + 1) & 0xFFFFFFFF:
            own = self.own_commits
            if len(own) >= OWN_COMMITS:
                del own[next(iter(own))]  # the oldest
            own[after] = before

    def _deliver(
        self, outcomes: list[tuple[asyncio.Future[Any], asyncio.AbstractEventLoop, Any, Any]]
    ) -> None:
        """Hand results to their event loops: one wake-up per loop per batch."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for future, loop, result, error in outcomes:
            by_loop.setdefault(loop, []).append((future, result, error))
        for loop, entries in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, entries)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass


def _resolve(entries: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in entries:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
