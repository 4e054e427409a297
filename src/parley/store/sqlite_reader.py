"""SQLite reads under a time budget: on the event loop while they are quick, else off it.

A keyed read takes microseconds, far less than a hop to a thread (reads share one snapshot on
the loop's own connection, see ``SQLiteStore``). But a read the planner cannot bound (a
metadata filter whose first pair matches most of a project) once held the event loop, and so
every other request, for 99 s. So each read on the loop gets ON_LOOP_BUDGET seconds, enforced
by SQLite's progress handler; past that it is interrupted and run again on a reader thread of
its own, where the whole read, queueing included, must finish within the store's
``statement_timeout`` or be cancelled with a 503.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from parley.errors import query_timeout

T = TypeVar("T")
ReadOp = Callable[[sqlite3.Connection], T]
Connect = Callable[[str], sqlite3.Connection]

# Seconds a read may hold the event loop before it moves to a reader thread.
ON_LOOP_BUDGET = 0.02
# SQLite VM instructions between two progress-handler calls: a keyed read never reaches one.
_CHECK_EVERY = 1000
# On a reader thread, less often: each call takes the GIL back from the event loop.
_THREAD_CHECK_EVERY = 50_000
_READER_THREADS = 2


class _Thread(threading.local):
    conn: sqlite3.Connection | None = None
    deadline: float = math.inf
    tripped: bool = False


class Reader:
    """The read connections of one SQLite store and the budget every read runs under."""

    def __init__(self, path: str, connect: Connect, budget: float) -> None:
        self._path = path
        self._connect = connect
        # 0: no limit (as PostgreSQL's statement_timeout 0).
        self.budget = budget
        self._deadline = math.inf
        self._tripped = False
        self._local = _Thread()
        self._thread_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def connection(self) -> sqlite3.Connection:
        """A read-only connection for the event loop, under the on-loop budget."""
        conn = self._connect(self._path)
        conn.execute("PRAGMA query_only = ON")
        conn.set_progress_handler(self._loop_progress, _CHECK_EVERY)
        return conn

    def open(self) -> None:
        self._pool = ThreadPoolExecutor(_READER_THREADS, thread_name_prefix="parley-sqlite-read")

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for conn in self._thread_conns:
                conn.close()
            self._thread_conns.clear()

    def _loop_progress(self) -> int:
        if time.monotonic() > self._deadline:
            self._tripped = True
            return 1
        return 0

    async def run(self, op: ReadOp[T], conn: sqlite3.Connection, renew: Callable[[], None]) -> T:
        """``op(conn)`` on the loop if it ends within ON_LOOP_BUDGET, else on a reader thread.

        ``renew`` is called after an interrupted read, so the loop's snapshot starts afresh.
        """
        started = time.monotonic()
        self._deadline = started + ON_LOOP_BUDGET
        self._tripped = False
        try:
            return op(conn)
        except sqlite3.OperationalError:
            if not self._tripped:
                raise
        finally:
            self._deadline = math.inf
        renew()
        pool = self._pool
        if pool is None:
            raise RuntimeError("the store is not open")
        deadline = started + self.budget if self.budget > 0 else math.inf
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, self._off_loop, op, deadline)

    def _off_loop(self, op: ReadOp[T], deadline: float) -> T:
        local = self._local
        if local.conn is None:
            local.conn = self._connect(self._path)
            local.conn.execute("PRAGMA query_only = ON")
            local.conn.set_progress_handler(self._thread_progress, _THREAD_CHECK_EVERY)
            with self._lock:
                self._thread_conns.append(local.conn)
        conn = local.conn
        if time.monotonic() > deadline:  # spent its budget waiting for a thread
            raise query_timeout(self.budget)
        local.deadline, local.tripped = deadline, False
        conn.execute("BEGIN")  # the read's statements see one snapshot, as on the loop
        try:
            return op(conn)
        except sqlite3.OperationalError:
            if local.tripped:
                raise query_timeout(self.budget) from None
            raise
        finally:
            local.deadline = math.inf
            if conn.in_transaction:
                conn.execute("COMMIT")

    def _thread_progress(self) -> int:
        local = self._local
        if time.monotonic() > local.deadline:
            local.tripped = True
            return 1
        return 0
