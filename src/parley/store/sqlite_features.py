"""SQLite store methods of parley's own features: fork, search, usage, retention."""

from __future__ import annotations

import sqlite3

from parley.models import ConversationRecord, ProjectInfo, SearchRow, TimeFilter, Usage
from parley.store import shared
from parley.store import sqlite_extensions as extensions
from parley.store import sqlite_ops as ops
from parley.store.sqlite_core import SQLiteCore


class SQLiteFeatures(SQLiteCore):
    """Fork, search, usage and retention of :class:`parley.store.sqlite.SQLiteStore`."""

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
