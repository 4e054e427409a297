"""SQLite backend: stdlib sqlite3 in WAL mode, one writer thread with group commit.

Writes go to the writer thread (``sqlite_writer``). Reads run on the event loop's own
connection, inside a shared snapshot: a keyed SQLite read takes microseconds, far less than
a hop to a thread would. A read that runs long moves off the loop, under a time budget
(``sqlite_reader``). Opening and migrating a file is ``sqlite_schema``; the steps write ops
share are ``sqlite_ops``. The connections are ``sqlite_core``; this module holds the
Conversations API (conversations and items), and the rest of the contract is in
``sqlite_keys`` (projects, keys, dashboard sessions), ``sqlite_features`` (fork, search,
usage, retention) and ``sqlite_responses`` (stored responses).
"""

from __future__ import annotations

import sqlite3
import time

from parley.errors import conversation_not_found, item_not_found
from parley.models import (
    NO_TIME_FILTER,
    ConversationPage,
    ConversationRecord,
    ItemPage,
    NewItem,
    TimeFilter,
)
from parley.store import sqlite_extensions as extensions
from parley.store import sqlite_ops as ops
from parley.store.base import Order
from parley.store.migrations import SchemaTooNew, migrations
from parley.store.shared import repeated_item
from parley.store.sqlite_features import SQLiteFeatures
from parley.store.sqlite_keys import SQLiteKeys
from parley.store.sqlite_responses import SQLiteResponses
from parley.store.sqlite_schema import migrate


class SQLiteStore(SQLiteKeys, SQLiteFeatures, SQLiteResponses):
    """The embedded default backend."""

    # A key check here is a read in this process, not a round trip: every request makes it
    # up front (project_for_key), on a connection that sees every commit at once.
    checks_keys_in_statements = False

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

        return await self._write(op, isolated=False, key_neutral=True)

    async def retrieve_conversation(self, project: str, conversation_id: str) -> ConversationRecord:
        row = self._keyed_row(
            "SELECT created_at, metadata FROM conversations WHERE id = ? AND project_id = ?",
            (conversation_id, project),
        )
        if row is None:
            raise conversation_not_found(conversation_id)
        return ConversationRecord(conversation_id, row[0], row[1])

    async def update_conversation(
        self, project: str, conversation_id: str, metadata: bytes
    ) -> ConversationRecord:
        now = int(time.time())

        def op(conn: sqlite3.Connection) -> ConversationRecord:
            created_at = ops.update_conversation(conn, project, conversation_id, metadata, now)
            return ConversationRecord(conversation_id, created_at, metadata)

        return await self._write(op, isolated=False, key_neutral=True)

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

        await self._write(op, isolated=False, key_neutral=True)

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
            rows = extensions.list_page(conn, project, metadata, order, times, cursor, limit + 1)
            records = [ConversationRecord(*row) for row in rows[:limit]]
            return ConversationPage(records, len(rows) > limit)

        return await self._read_op(op)

    # -- items ---------------------------------------------------------------------------

    async def create_items(
        self, project: str, conversation_id: str, items: list[NewItem], created_at: int
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            ops.append_items(conn, project, conversation_id, items, created_at)

        # append_items fails only before writing: no savepoint (the writer's CPU per append
        # in batches of 64 was 141 µs with one, 86 without: bench/writesql.py).
        await self._write(op, isolated=False, key_neutral=True)

    async def list_items(
        self,
        project: str,
        conversation_id: str,
        *,
        after: str | None,
        limit: int,
        order: Order,
    ) -> ItemPage:
        # One range walk of the items table itself: its row keys run in (conversation,
        # position) order (ops.item_key), so the page is a few adjacent table pages.
        if order == "asc":
            sql = "SELECT id, data FROM items WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?"
        else:
            sql = "SELECT id, data FROM items WHERE seq < ? AND seq >= ? ORDER BY seq DESC LIMIT ?"

        def op(conn: sqlite3.Connection) -> ItemPage:
            seq = ops.conversation_seq(conn, project, conversation_id)
            if after is None:
                start = -1 if order == "asc" else ops.POSITIONS
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
            # The bound on the far side is the conversation's edge: asc stops before the
            # next conversation's first key, desc at this one's position 0.
            edge = ops.item_key(seq + 1, 0) if order == "asc" else ops.item_key(seq, 0)
            rows = conn.execute(sql, (ops.item_key(seq, start), edge, limit + 1)).fetchall()
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
            extensions.unindex_item(conn, deleted[0])
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

        return await self._write(op, isolated=False, key_neutral=True)

    async def find_item(self, project: str, item_id: str) -> bytes | None:
        def op(conn: sqlite3.Connection) -> bytes | None:
            # The newest copy: row keys run by conversation, so time orders it (then the key).
            row = conn.execute(
                "SELECT i.data FROM items i JOIN conversations c ON c.seq = i.conversation "
                "WHERE i.id = ? AND c.project_id = ? "
                "ORDER BY i.created_at DESC, i.seq DESC LIMIT 1",
                (item_id, project),
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._read_op(op)


__all__ = ["SQLiteStore", "SchemaTooNew", "migrate", "migrations"]
