"""The SQLite store's connections: the writer thread, the shared read snapshot, the key connection.

:class:`parley.store.sqlite.SQLiteStore` is built on this class; the methods of each part of
the contract (``sqlite_keys``, ``sqlite_features``, ``sqlite_responses``) reach the database
only through ``_read_op``, ``_write`` and the key connection here.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from parley.ratelimit import LocalRateLimiter, RateLimiter
from parley.settings import DEFAULTS
from parley.store.sqlite_commits import CommitSignal
from parley.store.sqlite_reader import Reader
from parley.store.sqlite_schema import connect, migrate
from parley.store.sqlite_writer import Writer

T = TypeVar("T")

# How stale a read may be with respect to other processes' writes (seconds).
SNAPSHOT_AGE = 0.02


class SQLiteCore:
    """Opens, closes and hands out the SQLite store's connections."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = DEFAULTS.sqlite.synchronous,
        migrate: bool = True,
        statement_timeout: float = DEFAULTS.statement_timeout,
    ) -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA", "OFF"):
            raise ValueError(f"unknown synchronous setting {synchronous!r}")
        self.path = path
        self._migrate = migrate
        self._writer = Writer(path, synchronous.upper(), connect)
        self._reads = Reader(path, connect, statement_timeout)
        self._read: sqlite3.Connection | None = None
        self._auth: sqlite3.Connection | None = None
        # The key cache (SQLiteKeys.project_for_key): projects of keys found active while
        # the database was at version ``_keys_version`` (CommitSignal).
        self._commits: CommitSignal | None = None
        self._keys_version = b""
        self._key_projects: dict[bytes, str] = {}
        self._snapshot_generation = -1
        self._snapshot_until = 0.0

    async def open(self) -> None:
        if self._migrate:
            migrate(self.path)
        self._read = self._reads.connection()
        self._auth = self._reads.connection()
        self._commits = CommitSignal.open(self.path, self._auth)
        self._writer.header = self._commits.version if self._commits is not None else None
        self._reads.open()
        self._writer.start()

    async def close(self) -> None:
        await self._writer.stop()
        self._reads.close()
        for conn in (self._read, self._auth):
            if conn is not None:
                conn.close()
        self._read = self._auth = None
        # Last: its descriptor of the -shm file must outlive every connection (CommitSignal).
        if self._commits is not None:
            self._commits.close()
            self._commits = None
        self._key_projects.clear()

    def rate_limiter(self, rate: float, burst: int) -> RateLimiter:
        # One process serves a SQLite file: the buckets live in its memory.
        return LocalRateLimiter(rate, burst)

    def observe_commits(self, observer: Callable[[int, float], None]) -> None:
        """Call ``observer(batch_size, seconds)`` after each commit of the writer thread."""
        self._writer.observer = observer

    @property
    def _reader(self) -> sqlite3.Connection:
        # Reads share one read transaction (a snapshot): a keyed SELECT inside an open
        # transaction costs half of one that must open its own (measured 6.6 vs 14.6 µs).
        # The snapshot is renewed after every commit of our writer, so a request always sees
        # every write acknowledged before it, and at least every SNAPSHOT_AGE seconds, so
        # writes of other processes (`parley keys revoke`) show within that bound.
        conn = self._read
        if conn is None:
            raise RuntimeError("the store is not open")
        generation = self._writer.generation
        now = time.monotonic()
        if generation != self._snapshot_generation or now >= self._snapshot_until:
            if conn.in_transaction:
                conn.execute("COMMIT")
            conn.execute("BEGIN")
            self._snapshot_generation = generation
            self._snapshot_until = now + SNAPSHOT_AGE
        return conn

    def _renew(self) -> None:
        self._snapshot_until = 0.0

    def _keyed_row(self, sql: str, params: tuple[object, ...]) -> Any:
        """The one row a unique key selects in the shared snapshot (or None).

        Straight on the loop's connection, without :meth:`Reader.run`'s bookkeeping: a lookup
        by a unique key runs a few dozen VM instructions, so the read budget's progress
        handler (every 1,000) never runs for it anyway (bench/README.md, "Issue 12 on SQLite,
        the reads": ~0.5 µs of a retrieve's Python).
        """
        return self._reader.execute(sql, params).fetchone()

    async def _read_op(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run the read ``op`` in the shared snapshot, within the read time budget."""
        return await self._reads.run(op, self._reader, self._renew)

    def _release_snapshot(self) -> None:
        """End the shared snapshot now (the next read takes a new one).

        Called before each write of ours, which makes the snapshot stale anyway. A snapshot held
        across the writer's COMMIT pins the WAL frames before it: the checkpoint in that COMMIT
        could never copy the whole WAL back, so the WAL never started over and grew by every
        write (262 MB after 3,000 conversation turns, each commit slower than the last on a
        growing file); released here, it stays near SQLite's 1,000-page checkpoint mark
        (bench/README.md, "The WAL that never started over").
        """
        conn = self._read
        if conn is not None and conn.in_transaction:
            conn.execute("COMMIT")
        self._snapshot_until = 0.0

    async def _write(
        self,
        op: Callable[[sqlite3.Connection], T],
        *,
        isolated: bool = True,
        key_neutral: bool = False,
    ) -> T:
        """Run ``op`` in the writer's next batch (Writer.submit: ``isolated``,
        ``key_neutral``); its result once committed."""
        self._release_snapshot()
        result: T = await self._writer.submit(op, isolated=isolated, key_neutral=key_neutral)
        return result
