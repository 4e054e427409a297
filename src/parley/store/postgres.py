"""PostgreSQL backend: asyncpg and its pool, the same contract as SQLite in its own SQL.

Every hot route is one round trip of one prepared statement (asyncpg caches them per pooled
connection), the request's key check included: a hot statement only acts while the caller's
key is active (parley.keycheck). Appends take the conversation's row lock in the same
statement that inserts the items, so any number of server processes can append to one
conversation and each call's items still take consecutive positions. Project isolation sits in
the WHERE clause of every statement. A database that cannot be reached, restarts, or drops a
connection turns into a 503 envelope; the pool reconnects by itself once the database is back.
"""

from __future__ import annotations

import time

import asyncpg

from parley import keycheck
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
    append_items,
    duplicate_in_call,
    insert_conversation,
    metadata_pairs,
    missing,
    settle_key,
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
    SQL_PAGE_ASC,
    SQL_PAGE_DESC,
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
        async with self._conn(guarded=True) as conn:
            try:
                await insert_conversation(
                    conn,
                    project,
                    conversation_id,
                    created_at,
                    metadata,
                    items,
                    keycheck.owed_digest(),
                )
            except asyncpg.UniqueViolationError as exc:
                raise duplicate_in_call(items, exc) from None
        keycheck.settle()
        return ConversationRecord(conversation_id, created_at, metadata)

    async def retrieve_conversation(self, project: str, conversation_id: str) -> ConversationRecord:
        async with self._conn(guarded=True) as conn:
            row = await conn.fetchrow(
                SQL_RETRIEVE_CONVERSATION, conversation_id, project, keycheck.owed_digest()
            )
            if row is None:
                await missing(conn, project, conversation_id)
        keycheck.settle()
        return ConversationRecord(conversation_id, row[0], bytes(row[1]))

    async def update_conversation(
        self, project: str, conversation_id: str, metadata: bytes
    ) -> ConversationRecord:
        async with self._conn(guarded=True) as conn:
            row = await conn.fetchrow(
                SQL_UPDATE_CONVERSATION,
                conversation_id,
                project,
                metadata,
                int(time.time()),
                *metadata_pairs(metadata),
                keycheck.owed_digest(),
            )
            if row is None:
                await missing(conn, project, conversation_id)
        keycheck.settle()
        return ConversationRecord(conversation_id, row[1], metadata)

    async def delete_conversation(self, project: str, conversation_id: str) -> None:
        async with self._conn(guarded=True) as conn:
            status: str = await conn.execute(
                SQL_DELETE_CONVERSATION, conversation_id, project, keycheck.owed_digest()
            )
            if status != "INSERT 0 1":  # the tombstone of the one conversation deleted
                await missing(conn, project, conversation_id)
        keycheck.settle()

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
            by_updated = False
            if times.updated_after is not None and metadata:
                found = await conn.fetchval(
                    extensions.SQL_COUNT_UPDATED,
                    project,
                    times.updated_after,
                    extensions.FEW_UPDATED + 1,
                )
                by_updated = found <= extensions.FEW_UPDATED
            sql, args = extensions.conversations_query(
                project,
                [(utf8(k), utf8(v)) for k, v in metadata],
                order,
                times,
                cursor,
                by_updated=by_updated,
            )
            rows = await conn.fetch(sql, *args, limit + 1)
        records = [ConversationRecord(row[0], row[1], bytes(row[2])) for row in rows[:limit]]
        return ConversationPage(records, len(rows) > limit)

    # -- items ---------------------------------------------------------------------------

    async def create_items(
        self, project: str, conversation_id: str, items: list[NewItem], created_at: int
    ) -> None:
        async with self._conn(guarded=bool(items)) as conn:
            try:
                await append_items(
                    conn, project, conversation_id, items, created_at, keycheck.owed_digest()
                )
            except asyncpg.UniqueViolationError:
                await settle_key(conn)
                raise await taken_error(conn, project, conversation_id, items) from None
        keycheck.settle()

    async def list_items(
        self,
        project: str,
        conversation_id: str,
        *,
        after: str | None,
        limit: int,
        order: Order,
    ) -> ItemPage:
        sql = SQL_PAGE_ASC if order == "asc" else SQL_PAGE_DESC
        async with self._conn(guarded=True) as conn:
            rows = await conn.fetch(
                sql, conversation_id, project, after, limit + 1, keycheck.owed_digest()
            )
            if not rows:
                await missing(conn, project, conversation_id)
        keycheck.settle()
        if after is not None and rows[0][0] is None:
            raise item_not_found(after)
        if rows[0][1] is None:  # the conversation, and no item on this page
            return ItemPage([], False)
        page = [(str(row[1]), bytes(row[2])) for row in rows[:limit]]
        return ItemPage(page, len(rows) > limit)

    async def retrieve_item(self, project: str, conversation_id: str, item_id: str) -> bytes:
        async with self._conn(guarded=True) as conn:
            row = await conn.fetchrow(
                SQL_RETRIEVE_ITEM, conversation_id, project, item_id, keycheck.owed_digest()
            )
            if row is None:
                await missing(conn, project, conversation_id)
                raise item_not_found(item_id)
        keycheck.settle()
        return bytes(row[0])

    async def delete_item(
        self, project: str, conversation_id: str, item_id: str
    ) -> ConversationRecord:
        async with self._conn(guarded=True) as conn:
            row = await conn.fetchrow(
                SQL_DELETE_ITEM,
                conversation_id,
                project,
                item_id,
                int(time.time()),
                keycheck.owed_digest(),
            )
            if row is None:
                await missing(conn, project, conversation_id)
                raise item_not_found(item_id)
        keycheck.settle()
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
