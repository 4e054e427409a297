"""PostgreSQL store methods for stored responses (the Responses API)."""

from __future__ import annotations

import asyncpg

from parley.errors import response_not_found
from parley.models import NewItem, ResponseRecord
from parley.store.postgres_core import PostgresCore, append_items, taken_error
from parley.store.postgres_sql import (
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
        async with self._conn() as conn:
            try:
                async with conn.transaction():
                    if conversation_id is not None:
                        # The conversation's row lock (taken by the append) orders concurrent
                        # turns; each turn's items land adjacent, in order.
                        await append_items(conn, project, conversation_id, items, created_at)
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
            except asyncpg.UniqueViolationError:
                # The transaction is rolled back by now; find which id was already taken.
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
