"""PostgreSQL store methods for stored responses (the Responses API)."""

from __future__ import annotations

from typing import Any

import asyncpg

from parley.errors import conversation_not_found, response_not_found
from parley.models import NewItem, ResponseRecord
from parley.store.postgres_core import (
    PostgresCore,
    append_items,
    item_columns,
    item_texts,
    taken_error,
)
from parley.store.postgres_sql import (
    SQL_COMMIT_TURN,
    SQL_DELETE_RESPONSE,
    SQL_INSERT_RESPONSE,
    SQL_RETRIEVE_RESPONSE,
)


class PostgresResponses(PostgresCore):
    """Stored responses of :class:`parley.store.postgres.PostgresStore`."""

    async def commit_response(
        self,
        project: str,
        conversation_id: str | None,
        items: list[NewItem],
        created_at: int,
        response: ResponseRecord | None,
    ) -> None:
        # One statement each (atomic on its own: no BEGIN and COMMIT round trips), but for a
        # stored response with nothing to append, which checks the conversation first.
        async with self._conn() as conn:
            try:
                if conversation_id is None:
                    if response is not None:
                        await _insert_response(conn, project, response)
                elif response is None:
                    await append_items(conn, project, conversation_id, items, created_at)
                elif items:
                    await _commit_turn(conn, project, conversation_id, items, created_at, response)
                else:
                    async with conn.transaction():
                        await append_items(conn, project, conversation_id, items, created_at)
                        await _insert_response(conn, project, response)
            except asyncpg.UniqueViolationError:
                # Rolled back by now (nothing was written); find which id was already taken.
                raise await taken_error(conn, project, conversation_id, items) from None

    async def retrieve_response(self, project: str, response_id: str) -> ResponseRecord:
        row = await self._fetchrow(SQL_RETRIEVE_RESPONSE, response_id, project)
        if row is None:
            raise response_not_found(response_id)
        return ResponseRecord(response_id, row[0], bytes(row[1]), bytes(row[2]), row[3])

    async def delete_response(self, project: str, response_id: str) -> None:
        async with self._conn() as conn:
            status: str = await conn.execute(SQL_DELETE_RESPONSE, response_id, project)
        if status != "DELETE 1":
            raise response_not_found(response_id)


async def _commit_turn(
    conn: Any,
    project: str,
    conversation_id: str,
    items: list[NewItem],
    created_at: int,
    response: ResponseRecord,
) -> None:
    """The turn's items and its stored response in one statement (SQL_COMMIT_TURN)."""
    # The statement takes the conversation's row lock: concurrent turns land adjacent.
    status: str = await conn.execute(
        SQL_COMMIT_TURN,
        conversation_id,
        project,
        *item_columns(items),
        created_at,
        item_texts(items),
        response.id,
        response.created_at,
        response.previous_response_id,
        response.data,
        response.input_items,
    )
    if status.endswith(" 0"):
        raise conversation_not_found(conversation_id)


async def _insert_response(conn: Any, project: str, response: ResponseRecord) -> None:
    await conn.execute(
        SQL_INSERT_RESPONSE,
        response.id,
        project,
        response.created_at,
        response.previous_response_id,
        response.data,
        response.input_items,
    )
