"""PostgreSQL store methods for stored responses (the Responses API)."""

from __future__ import annotations

from typing import Any

import asyncpg

from parley.errors import conversation_not_found, response_not_found
from parley.models import NewItem, ResponseRecord
from parley.store.postgres_core import PostgresCore, duplicate_error, item_texts
from parley.store.postgres_sql import (
    SQL_CREATE_ITEMS,
    SQL_DELETE_RESPONSE,
    SQL_INSERT_RESPONSE,
    SQL_RETRIEVE_RESPONSE,
    SQL_TAKEN_IDS,
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
        async with self._conn() as conn:
            try:
                await self._commit_response(
                    conn, project, conversation_id, items, created_at, response
                )
            except asyncpg.UniqueViolationError:
                # The transaction is rolled back by now; find which id was already taken.
                taken = await conn.fetch(
                    SQL_TAKEN_IDS, conversation_id, project, [item.id for item in items]
                )
                raise duplicate_error(items, {row[0] for row in taken}) from None

    async def _commit_response(
        self,
        conn: Any,
        project: str,
        conversation_id: str | None,
        items: list[NewItem],
        created_at: int,
        response: ResponseRecord | None,
    ) -> None:
        async with conn.transaction():
            if conversation_id is not None:
                # The conversation's row lock (taken by SQL_CREATE_ITEMS) orders concurrent
                # turns; each turn's items land adjacent, in order.
                if items:
                    status: str = await conn.execute(
                        SQL_CREATE_ITEMS,
                        conversation_id,
                        project,
                        [item.id for item in items],
                        [item.type for item in items],
                        [item.data for item in items],
                        created_at,
                        item_texts(items),
                    )
                    if status.endswith(" 0"):
                        raise conversation_not_found(conversation_id)
                elif not await self._conversation_exists(conn, project, conversation_id):
                    raise conversation_not_found(conversation_id)
            if response is not None:
                await conn.execute(
                    SQL_INSERT_RESPONSE,
                    response.id,
                    project,
                    response.created_at,
                    response.previous_response_id,
                    response.data,
                    response.input_items,
                )

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
