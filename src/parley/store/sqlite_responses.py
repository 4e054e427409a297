"""SQLite store methods for stored responses (the Responses API)."""

from __future__ import annotations

import sqlite3

from parley.errors import response_not_found
from parley.models import NewItem, ResponseRecord
from parley.store import sqlite_ops as ops
from parley.store.sqlite_core import SQLiteCore


class SQLiteResponses(SQLiteCore):
    """Stored responses of :class:`parley.store.sqlite.SQLiteStore`."""

    async def commit_response(
        self,
        project: str,
        conversation_id: str | None,
        items: list[NewItem],
        created_at: int,
        response: ResponseRecord | None,
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            ops.commit_turn(conn, project, conversation_id, items, created_at, response)

        await self._write(op, key_neutral=True)

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

        await self._write(op, isolated=False, key_neutral=True)
