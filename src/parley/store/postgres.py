"""PostgreSQL backend: asyncpg and its pool, the same contract as SQLite in its own SQL.

Every hot route is one round trip of one prepared statement (asyncpg caches them per pooled
connection). Appends take the conversation's row lock in the same statement that inserts the
items, so any number of server processes can append to one conversation and each call's items
still take consecutive positions. Project isolation sits in the WHERE clause of every statement.
A database that cannot be reached, restarts, or drops a connection turns into a 503 envelope;
the pool reconnects by itself once the database is back.
"""

from __future__ import annotations

import time

import asyncpg

from parley.errors import conversation_not_found, item_not_found
from parley.models import (
    NO_TIME_FILTER,
    ConversationPage,
    ConversationRecord,
    ItemPage,
    NewItem,
    TimeFilter,
)
from parley.store import postgres_extensions as extensions
from parley.store.base import Order
from parley.store.postgres_core import (
    LAST,
    append_items,
    conversation_exists,
    duplicate_in_call,
    insert_conversation,
    metadata_pairs,
    taken_error,
    utf8,
)
from parley.store.postgres_features import PostgresFeatures
from parley.store.postgres_keys import PostgresKeys
from parley.store.postgres_responses import PostgresResponses
from parley.store.postgres_schema import (
    UNAVAILABLE_MESSAGE,
    is_unavailable,
    migrate,
    migrate_connection,
    schema_version,
)
from parley.store.postgres_sql import (
    SQL_DELETE_CONVERSATION,
    SQL_DELETE_ITEM,
    SQL_FIND_ITEM,
    SQL_PAGE_ANCHOR,
    SQL_PAGE_ASC,
    SQL_PAGE_DESC,
    SQL_REINDEX_METADATA,
    SQL_RETRIEVE_CONVERSATION,
    SQL_RETRIEVE_ITEM,
    SQL_UPDATE_CONVERSATION,
)


class PostgresStore(PostgresKeys, PostgresFeatures, PostgresResponses):
    """The scale-out backend: many `parley serve` processes over one PostgreSQL primary."""

    # -- conversations -------------------------------------------------------------------

    async def create_conversation(
        self,
        project: str,
        conversation_id: str,
        created_at: int,
        metadata: bytes,
        items: list[NewItem],
    ) -> ConversationRecord:
        async with self._conn() as conn:
            try:
                await insert_conversation(
                    conn, project, conversation_id, created_at, metadata, items
                )
            except asyncpg.UniqueViolationError as exc:
                raise duplicate_in_call(items, exc) from None
        return ConversationRecord(conversation_id, created_at, metadata)

    async def retrieve_conversation(self, project: str, conversation_id: str) -> ConversationRecord:
        row = await self._fetchrow(SQL_RETRIEVE_CONVERSATION, conversation_id, project)
        if row is None:
            raise conversation_not_found(conversation_id)
        return ConversationRecord(conversation_id, row[0], bytes(row[1]))

    async def update_conversation(
        self, project: str, conversation_id: str, metadata: bytes
    ) -> ConversationRecord:
        async with self._conn() as conn, conn.transaction():
            row = await conn.fetchrow(
                SQL_UPDATE_CONVERSATION, conversation_id, project, metadata, int(time.time())
            )
            if row is None:
                raise conversation_not_found(conversation_id)
            await conn.execute(
                SQL_REINDEX_METADATA, row[0], project, *metadata_pairs(metadata), row[1]
            )
        return ConversationRecord(conversation_id, row[1], metadata)

    async def delete_conversation(self, project: str, conversation_id: str) -> None:
        async with self._conn() as conn:
            status: str = await conn.execute(SQL_DELETE_CONVERSATION, conversation_id, project)
        if status != "INSERT 0 1":  # the tombstone of the one conversation deleted
            raise conversation_not_found(conversation_id)

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
        async with self._conn() as conn:
            cursor = None
            if after is not None:
                cursor = await conn.fetchrow(extensions.SQL_LIST_CURSOR, after, project)
                if cursor is None:
                    raise conversation_not_found(after)
            sql, args = extensions.conversations_query(
                project, [(utf8(k), utf8(v)) for k, v in metadata], order, times, cursor
            )
            rows = await conn.fetch(sql, *args, limit + 1)
        records = [ConversationRecord(row[0], row[1], bytes(row[2])) for row in rows[:limit]]
        return ConversationPage(records, len(rows) > limit)

    # -- items ---------------------------------------------------------------------------

    async def create_items(
        self, project: str, conversation_id: str, items: list[NewItem], created_at: int
    ) -> None:
        async with self._conn() as conn:
            try:
                await append_items(conn, project, conversation_id, items, created_at)
            except asyncpg.UniqueViolationError:
                raise await taken_error(conn, project, conversation_id, items) from None

    async def list_items(
        self,
        project: str,
        conversation_id: str,
        *,
        after: str | None,
        limit: int,
        order: Order,
    ) -> ItemPage:
        async with self._conn() as conn:
            anchor = await conn.fetchrow(SQL_PAGE_ANCHOR, conversation_id, project, after)
            if anchor is None:
                raise conversation_not_found(conversation_id)
            seq, position = anchor
            if after is not None and position is None:
                raise item_not_found(after)
            if order == "asc":
                start = -1 if position is None else position
                rows = await conn.fetch(SQL_PAGE_ASC, seq, project, start, limit + 1)
            else:
                start = LAST if position is None else position
                rows = await conn.fetch(SQL_PAGE_DESC, seq, project, start, limit + 1)
        page = [(str(row[0]), bytes(row[1])) for row in rows[:limit]]
        return ItemPage(page, len(rows) > limit)

    async def retrieve_item(self, project: str, conversation_id: str, item_id: str) -> bytes:
        async with self._conn() as conn:
            row = await conn.fetchrow(SQL_RETRIEVE_ITEM, conversation_id, project, item_id)
            if row is None:
                if not await conversation_exists(conn, project, conversation_id):
                    raise conversation_not_found(conversation_id)
                raise item_not_found(item_id)
        return bytes(row[0])

    async def delete_item(
        self, project: str, conversation_id: str, item_id: str
    ) -> ConversationRecord:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                SQL_DELETE_ITEM, conversation_id, project, item_id, int(time.time())
            )
            if row is None:
                if not await conversation_exists(conn, project, conversation_id):
                    raise conversation_not_found(conversation_id)
                raise item_not_found(item_id)
        return ConversationRecord(conversation_id, row[0], bytes(row[1]))

    async def find_item(self, project: str, item_id: str) -> bytes | None:
        row = await self._fetchrow(SQL_FIND_ITEM, item_id, project)
        return None if row is None else bytes(row[0])


__all__ = [
    "UNAVAILABLE_MESSAGE",
    "PostgresStore",
    "is_unavailable",
    "migrate",
    "migrate_connection",
    "schema_version",
]
