"""SQLite backend: stdlib sqlite3 in WAL mode, one writer thread with group commit.

Writes go to the writer thread (``sqlite_writer``). Reads run on the event loop's own
connection, inside a shared snapshot: a keyed SQLite read takes microseconds, far less than
a hop to a thread would. A read that runs long moves off the loop, under a time budget
(``sqlite_reader``). Opening and migrating a file is ``sqlite_schema``; the steps write ops
share are ``sqlite_ops``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from parley.errors import (
    KeyExists,
    conversation_not_found,
    item_not_found,
    response_not_found,
)
from parley.models import (
    NO_TIME_FILTER,
    ApiKeyInfo,
    ConversationPage,
    ConversationRecord,
    ConversationSummary,
    DashboardSession,
    ItemPage,
    NewItem,
    ProjectInfo,
    ResponseRecord,
    SearchRow,
    TimeFilter,
    Usage,
)
from parley.ratelimit import LocalRateLimiter, RateLimiter
from parley.settings import DEFAULTS
from parley.store import shared
from parley.store import sqlite_dashboard as dashboard
from parley.store import sqlite_extensions as extensions
from parley.store import sqlite_ops as ops
from parley.store.base import Order
from parley.store.migrations import SchemaTooNew, migrations
from parley.store.shared import repeated_item
from parley.store.sqlite_reader import Reader
from parley.store.sqlite_schema import connect, migrate
from parley.store.sqlite_writer import Writer

T = TypeVar("T")

# How stale a read may be with respect to other processes' writes (seconds).
SNAPSHOT_AGE = 0.02
_LAST = 1 << 62


class SQLiteStore:
    """The embedded default backend."""

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
        self._snapshot_generation = -1
        self._snapshot_until = 0.0

    async def open(self) -> None:
        if self._migrate:
            migrate(self.path)
        self._read = self._reads.connection()
        self._auth = self._reads.connection()
        self._reads.open()
        self._writer.start()

    async def close(self) -> None:
        await self._writer.stop()
        self._reads.close()
        for conn in (self._read, self._auth):
            if conn is not None:
                conn.close()
        self._read = self._auth = None

    def rate_limiter(self, rate: float, burst: int) -> RateLimiter:
        # One process serves a SQLite file: the buckets live in its memory.
        return LocalRateLimiter(rate, burst)

    def observe_commits(self, observer: Callable[[int, float], None]) -> None:
        """Call ``observer(batch_size, seconds)`` after each commit of the writer thread."""
        self._writer.observer = observer

    # -- helpers -------------------------------------------------------------------------

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

    async def _read_op(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run the read ``op`` in the shared snapshot, within the read time budget."""
        return await self._reads.run(op, self._reader, self._renew)

    async def _write(self, op: Callable[[sqlite3.Connection], T], *, isolated: bool = True) -> T:
        result: T = await self._writer.submit(op, isolated=isolated)
        return result

    # -- projects and keys ---------------------------------------------------------------

    async def ensure_project(self, name: str) -> str:
        def op(conn: sqlite3.Connection) -> str:
            return ops.ensure_project(conn, name)

        return await self._write(op)

    async def add_api_key(
        self, *, key_id: str, project: str, name: str, hint: str, key_hash: bytes
    ) -> ApiKeyInfo:
        now = int(time.time())

        def op(conn: sqlite3.Connection) -> ApiKeyInfo:
            project_id = ops.ensure_project(conn, project)
            inserted = conn.execute(
                "INSERT INTO api_keys (id, project_id, name, hint, key_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING",
                (key_id, project_id, name, hint, key_hash, now),
            )
            if inserted.rowcount == 0:
                raise _key_exists()
            return ApiKeyInfo(key_id, project, name, hint, now)

        return await self._write(op)

    async def project_for_key(self, key_hash: bytes) -> str | None:
        # Keys are checked outside the shared snapshot, on a connection of their own that
        # sees every commit at once: a key minted or revoked by `parley keys` in another
        # process counts from the next request, not from the next snapshot.
        conn = self._auth
        if conn is None:
            raise RuntimeError("the store is not open")

        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT project_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                (key_hash,),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._reads.run(op, conn, _nothing)

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        def op(conn: sqlite3.Connection) -> list[ApiKeyInfo]:
            rows = conn.execute(
                "SELECT k.id, p.name, k.name, k.hint, k.created_at, k.revoked_at, k.last_used_at "
                "FROM api_keys k JOIN projects p ON p.id = k.project_id "
                "ORDER BY k.created_at DESC, k.id DESC"
            ).fetchall()
            return [ApiKeyInfo(*row) for row in rows]

        return await self._read_op(op)

    async def revoke_api_key(self, key_id: str) -> bool:
        now = int(time.time())

        def op(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, key_id),
            )
            dashboard.end_key_sessions(conn, key_id)
            return cursor.rowcount > 0

        return await self._write(op)

    async def count_api_keys(self) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM api_keys").fetchone()[0])

        return await self._read_op(op)

    # -- dashboard -----------------------------------------------------------------------

    async def touch_api_key(self, key_hash: bytes, when: int) -> None:
        await self._write(lambda conn: dashboard.touch_key(conn, key_hash, when), isolated=False)

    async def create_session(
        self, *, key_hash: bytes, token_hash: bytes, created_at: int, expires_at: int
    ) -> DashboardSession | None:
        def op(conn: sqlite3.Connection) -> DashboardSession | None:
            return dashboard.create_session(conn, key_hash, token_hash, created_at, expires_at)

        return await self._write(op)

    async def find_session(self, token_hash: bytes, now: int) -> DashboardSession | None:
        # On the key connection, like project_for_key: a revoke by `parley keys` in another
        # process ends the session on the next request.
        conn = self._auth
        if conn is None:
            raise RuntimeError("the store is not open")
        return await self._reads.run(
            lambda c: dashboard.find_session(c, token_hash, now), conn, _nothing
        )

    async def end_session(self, token_hash: bytes) -> None:
        await self._write(lambda conn: dashboard.end_session(conn, token_hash), isolated=False)

    async def conversation_summaries(
        self, project: str, conversation_ids: list[str]
    ) -> dict[str, ConversationSummary]:
        return await self._read_op(
            lambda conn: dashboard.summaries(conn, project, conversation_ids)
        )

    async def conversation_project(self, conversation_id: str) -> str | None:
        row = self._reader.execute(
            "SELECT p.name FROM conversations c JOIN projects p ON p.id = c.project_id "
            "WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()
        return None if row is None else str(row[0])

    # -- conversations -------------------------------------------------------------------

    async def create_conversation(
        self,
        project: str,
        conversation_id: str,
        created_at: int,
        metadata: bytes,
        items: list[NewItem],
    ) -> ConversationRecord:
        # A new conversation holds no items, so only ids repeated within the call collide;
        # found here, before the op's first write, as the writer's isolated=False demands.
        repeated = repeated_item(items)
        if repeated is not None:
            raise repeated

        def op(conn: sqlite3.Connection) -> ConversationRecord:
            ops.insert_conversation(conn, project, conversation_id, created_at, metadata, items)
            return ConversationRecord(conversation_id, created_at, metadata)

        return await self._write(op, isolated=False)

    async def retrieve_conversation(self, project: str, conversation_id: str) -> ConversationRecord:
        def op(conn: sqlite3.Connection) -> ConversationRecord:
            row = conn.execute(
                "SELECT created_at, metadata FROM conversations WHERE id = ? AND project_id = ?",
                (conversation_id, project),
            ).fetchone()
            if row is None:
                raise conversation_not_found(conversation_id)
            return ConversationRecord(conversation_id, row[0], row[1])

        return await self._read_op(op)

    async def update_conversation(
        self, project: str, conversation_id: str, metadata: bytes
    ) -> ConversationRecord:
        now = int(time.time())

        def op(conn: sqlite3.Connection) -> ConversationRecord:
            row = conn.execute(
                "UPDATE conversations SET metadata = ?, updated_at = ? "
                "WHERE id = ? AND project_id = ? RETURNING created_at, seq",
                (metadata, now, conversation_id, project),
            ).fetchone()
            if row is None:
                raise conversation_not_found(conversation_id)
            conn.execute("DELETE FROM conversation_metadata WHERE conversation = ?", (row[1],))
            ops.index_metadata(conn, project, row[1], metadata, row[0])
            return ConversationRecord(conversation_id, row[0], metadata)

        return await self._write(op, isolated=False)

    async def delete_conversation(self, project: str, conversation_id: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "DELETE FROM conversations WHERE id = ? AND project_id = ? "
                "RETURNING seq, created_at",
                (conversation_id, project),
            ).fetchone()
            if row is None:
                raise conversation_not_found(conversation_id)
            extensions.unindex_conversation(conn, row[0])
            conn.execute("DELETE FROM items WHERE conversation = ?", (row[0],))
            conn.execute("DELETE FROM conversation_metadata WHERE conversation = ?", (row[0],))
            conn.execute("DELETE FROM deleted_items WHERE conversation = ?", (row[0],))
            conn.execute(
                "INSERT OR REPLACE INTO deleted_conversations (id, project_id, created_at, seq) "
                "VALUES (?, ?, ?, ?)",
                (conversation_id, project, row[1], row[0]),
            )

        await self._write(op, isolated=False)

    async def list_conversations(
        self,
        project: str,
        *,
        metadata: list[tuple[str, str]],
        after: str | None,
        limit: int,
        order: Order,
        times: TimeFilter = NO_TIME_FILTER,
    ) -> ConversationPage:
        def op(conn: sqlite3.Connection) -> ConversationPage:
            cursor = None if after is None else extensions.list_cursor(conn, project, after)
            sql, params = extensions.conversations_query(
                project, metadata, order, times, cursor, limit + 1
            )
            rows = conn.execute(sql, params).fetchall()
            records = [ConversationRecord(*row) for row in rows[:limit]]
            return ConversationPage(records, len(rows) > limit)

        return await self._read_op(op)

    async def fork_conversation(
        self,
        project: str,
        conversation_id: str,
        *,
        new_id: str,
        created_at: int,
        after_item: str | None,
        metadata: bytes | None,
    ) -> ConversationRecord:
        def op(conn: sqlite3.Connection) -> ConversationRecord:
            # Read and copied inside the write transaction: no append can fall in between.
            source_metadata, data = extensions.items_to_fork(
                conn, project, conversation_id, after_item
            )
            kept = source_metadata if metadata is None else metadata
            items = shared.renewed(data)
            ops.insert_conversation(conn, project, new_id, created_at, kept, items)
            return ConversationRecord(new_id, created_at, kept)

        return await self._write(op)

    async def usage(self, project: str) -> Usage:
        return await self._read_op(lambda conn: extensions.usage(conn, project))

    async def set_retention(self, name: str, seconds: int | None) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE projects SET retention_seconds = ? WHERE name = ?", (seconds, name)
            )
            return cursor.rowcount > 0

        return await self._write(op)

    async def list_projects(self) -> list[ProjectInfo]:
        return await self._read_op(extensions.list_projects)

    async def sweep_expired(self, now: int, limit: int) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return extensions.sweep(conn, now, limit)

        return await self._write(op)

    async def search_conversations(
        self,
        project: str,
        query: str,
        *,
        metadata: list[tuple[str, str]],
        times: TimeFilter,
        page: tuple[float, int] | None,
        limit: int,
    ) -> tuple[list[SearchRow], bool]:
        def op(conn: sqlite3.Connection) -> tuple[list[SearchRow], bool]:
            return extensions.search(conn, project, query, metadata, times, page, limit)

        # A common word can take milliseconds: the read budget moves it off the loop.
        return await self._read_op(op)

    # -- items ---------------------------------------------------------------------------

    async def create_items(
        self, project: str, conversation_id: str, items: list[NewItem], created_at: int
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            # The position counter is read and advanced inside the write transaction: appends
            # are serialised here, so one call's items stay adjacent and in order.
            row = conn.execute(
                "UPDATE conversations SET next_position = next_position + ?, "
                "item_count = item_count + ?, updated_at = ? "
                "WHERE id = ? AND project_id = ? RETURNING seq, next_position",
                (len(items), len(items), created_at, conversation_id, project),
            ).fetchone()
            if row is None:
                raise conversation_not_found(conversation_id)
            seq, next_position = row
            ops.insert_items(conn, seq, next_position - len(items), items, created_at)

        await self._write(op)

    async def list_items(
        self,
        project: str,
        conversation_id: str,
        *,
        after: str | None,
        limit: int,
        order: Order,
    ) -> ItemPage:
        if order == "asc":
            sql = (
                "SELECT id, data FROM items WHERE conversation = ? AND position > ? "
                "ORDER BY position LIMIT ?"
            )
        else:
            sql = (
                "SELECT id, data FROM items WHERE conversation = ? AND position < ? "
                "ORDER BY position DESC LIMIT ?"
            )

        def op(conn: sqlite3.Connection) -> ItemPage:
            seq = ops.conversation_seq(conn, project, conversation_id)
            if after is None:
                start = -1 if order == "asc" else _LAST
            else:
                # A live item first; else where a deleted one stood, so the walk goes on.
                row = conn.execute(
                    "SELECT position FROM items WHERE conversation = ? AND id = ? UNION ALL "
                    "SELECT position FROM deleted_items WHERE conversation = ? AND id = ? "
                    "LIMIT 1",
                    (seq, after, seq, after),
                ).fetchone()
                if row is None:
                    raise item_not_found(after)
                start = row[0]
            rows = conn.execute(sql, (seq, start, limit + 1)).fetchall()
            return ItemPage(rows[:limit], len(rows) > limit)

        return await self._read_op(op)

    async def retrieve_item(self, project: str, conversation_id: str, item_id: str) -> bytes:
        def op(conn: sqlite3.Connection) -> bytes:
            seq = ops.conversation_seq(conn, project, conversation_id)
            row = conn.execute(
                "SELECT data FROM items WHERE conversation = ? AND id = ?", (seq, item_id)
            ).fetchone()
            if row is None:
                raise item_not_found(item_id)
            data: bytes = row[0]
            return data

        return await self._read_op(op)

    async def delete_item(
        self, project: str, conversation_id: str, item_id: str
    ) -> ConversationRecord:
        now = int(time.time())

        def op(conn: sqlite3.Connection) -> ConversationRecord:
            conv = conn.execute(
                "SELECT seq, created_at, metadata FROM conversations "
                "WHERE id = ? AND project_id = ?",
                (conversation_id, project),
            ).fetchone()
            if conv is None:
                raise conversation_not_found(conversation_id)
            deleted = conn.execute(
                "DELETE FROM items WHERE conversation = ? AND id = ? RETURNING seq, position",
                (conv[0], item_id),
            ).fetchone()
            if deleted is None:
                raise item_not_found(item_id)
            conn.execute("DELETE FROM items_fts WHERE rowid = ?", (deleted[0],))
            conn.execute(
                "INSERT OR REPLACE INTO deleted_items (conversation, id, position) "
                "VALUES (?, ?, ?)",
                (conv[0], item_id, deleted[1]),
            )
            conn.execute(
                "UPDATE conversations SET item_count = item_count - 1, updated_at = ? "
                "WHERE seq = ?",
                (now, conv[0]),
            )
            return ConversationRecord(conversation_id, conv[1], conv[2])

        return await self._write(op, isolated=False)

    async def find_item(self, project: str, item_id: str) -> bytes | None:
        def op(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT i.data FROM items i JOIN conversations c ON c.seq = i.conversation "
                "WHERE i.id = ? AND c.project_id = ? ORDER BY i.seq DESC LIMIT 1",
                (item_id, project),
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._read_op(op)

    # -- responses -----------------------------------------------------------------------

    async def commit_response(
        self,
        project: str,
        conversation_id: str | None,
        items: list[NewItem],
        created_at: int,
        response: ResponseRecord | None,
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if conversation_id is not None:
                # The same serialised append as create_items: the turn's items stay adjacent.
                row = conn.execute(
                    "UPDATE conversations SET next_position = next_position + ?, "
                    "item_count = item_count + ?, updated_at = ? "
                    "WHERE id = ? AND project_id = ? RETURNING seq, next_position",
                    (len(items), len(items), created_at, conversation_id, project),
                ).fetchone()
                if row is None:
                    raise conversation_not_found(conversation_id)
                seq, next_position = row
                if items:
                    ops.insert_items(conn, seq, next_position - len(items), items, created_at)
            if response is not None:
                conn.execute(
                    "INSERT INTO responses (id, project_id, created_at, previous_response_id, "
                    "data, input_items) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        response.id,
                        project,
                        response.created_at,
                        response.previous_response_id,
                        response.data,
                        response.input_items,
                    ),
                )

        await self._write(op)

    async def retrieve_response(self, project: str, response_id: str) -> ResponseRecord:
        def op(conn: sqlite3.Connection) -> ResponseRecord:
            row = conn.execute(
                "SELECT created_at, data, input_items, previous_response_id FROM responses "
                "WHERE id = ? AND project_id = ?",
                (response_id, project),
            ).fetchone()
            if row is None:
                raise response_not_found(response_id)
            return ResponseRecord(response_id, row[0], bytes(row[1]), bytes(row[2]), row[3])

        return await self._read_op(op)

    async def delete_response(self, project: str, response_id: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            deleted = conn.execute(
                "DELETE FROM responses WHERE id = ? AND project_id = ?", (response_id, project)
            )
            if deleted.rowcount == 0:
                raise response_not_found(response_id)

        await self._write(op, isolated=False)


def _key_exists() -> KeyExists:
    return KeyExists("An API key with this value is registered already.", code="key_exists")


def _nothing() -> None:
    return None


__all__ = ["SQLiteStore", "SchemaTooNew", "migrate", "migrations"]
