"""PostgreSQL backend: asyncpg and its pool, the same contract as SQLite in its own SQL.

Every hot route is one round trip of one prepared statement (asyncpg caches them per pooled
connection). Appends take the conversation's row lock in the same statement that inserts the
items, so any number of server processes can append to one conversation and each call's items
still take consecutive positions. Project isolation sits in the WHERE clause of every statement.
A database that cannot be reached, restarts, or drops a connection turns into a 503 envelope;
the pool reconnects by itself once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec

from parley import ids
from parley.errors import (
    InvalidRequest,
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
from parley.ratelimit import PostgresRateLimiter, RateLimiter
from parley.search import MAX_ITEMS_PER_HIT, item_text
from parley.settings import DEFAULTS
from parley.store import postgres_dashboard as dash
from parley.store import postgres_extensions as extensions
from parley.store import shared
from parley.store.base import Order
from parley.store.migrations import SchemaTooNew, check_version, migrations
from parley.store.postgres_schema import (
    UNAVAILABLE_MESSAGE,
    is_unavailable,
    migrate,
    migrate_connection,
    schema_version,
    translated,
)
from parley.store.postgres_sql import (
    SQL_CREATE_CONVERSATION,
    SQL_CREATE_ITEMS,
    SQL_DELETE_CONVERSATION,
    SQL_DELETE_ITEM,
    SQL_DELETE_RESPONSE,
    SQL_FIND_ITEM,
    SQL_INSERT_PROJECT,
    SQL_INSERT_RESPONSE,
    SQL_PAGE_ANCHOR,
    SQL_PAGE_ASC,
    SQL_PAGE_DESC,
    SQL_PROJECT_FOR_KEY,
    SQL_REINDEX_METADATA,
    SQL_RETRIEVE_CONVERSATION,
    SQL_RETRIEVE_ITEM,
    SQL_RETRIEVE_RESPONSE,
    SQL_TAKEN_IDS,
    SQL_UPDATE_CONVERSATION,
)
from parley.store.shared import repeated_item

log = logging.getLogger("parley.postgres")

_LAST = 1 << 62


# -- the store -------------------------------------------------------------------------------


class _Connection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection handed back without asyncpg's reset query.

    parley keeps no session state (no SET, LISTEN, cursors or session locks; transactions
    always end in their block), so the reset would only cost a round trip per request. An
    open transaction is still rolled back by the pool whatever this returns.
    """

    def get_reset_query(self) -> str:
        return ""


class PostgresStore:
    """The scale-out backend: many `parley serve` processes over one PostgreSQL primary."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULTS.postgres.pool_size,
        statement_timeout: float = DEFAULTS.statement_timeout,
        connect_timeout: float = 5.0,
        migrate: bool = True,
    ) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.url = url
        self.pool_size = pool_size
        self.statement_timeout = statement_timeout
        self.connect_timeout = connect_timeout
        self._migrate = migrate
        self._pool: Any = None

    async def open(self) -> None:
        if self._migrate:
            await migrate(self.url)
        settings = {"application_name": "parley"}
        if self.statement_timeout > 0:
            settings["statement_timeout"] = str(int(self.statement_timeout * 1000))
        async with translated():
            self._pool = await asyncpg.create_pool(
                self.url,
                # No floor: asyncpg would keep re-dialling a down database in the background
                # and log a traceback per attempt; connections open on demand instead.
                min_size=0,
                max_size=self.pool_size,
                timeout=self.connect_timeout,
                # A client-side bound too, for a network that swallows packets silently.
                command_timeout=self.statement_timeout + 5 if self.statement_timeout > 0 else None,
                server_settings=settings,
                connection_class=_Connection,
            )
        if not self._migrate:
            try:
                await self._check_schema()
            except BaseException:
                await self.close()
                raise

    async def _check_schema(self) -> None:
        known = migrations("postgres")
        newest = known[-1][0] if known else 0
        async with self._conn() as conn:
            version = await schema_version(conn)
        check_version("the PostgreSQL database", version, newest)
        if version < newest:
            raise SchemaTooNew(
                f"the PostgreSQL database has schema version {version}; this parley needs "
                f"{newest}. Run `parley migrate --database ...` first."
            )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout=10)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pool.terminate()

    def rate_limiter(self, rate: float, burst: int) -> RateLimiter:
        # Every server process shares the buckets through one table. The pool exists only
        # once the store is open, so it is looked up per call.
        return PostgresRateLimiter(lambda: self._pool, rate, burst)

    def pool_stats(self) -> tuple[int, int, int]:
        """The pool's (open, idle, maximum) connections, for metrics."""
        pool = self._pool
        if pool is None:
            return 0, 0, self.pool_size
        return int(pool.get_size()), int(pool.get_idle_size()), self.pool_size

    # -- helpers -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        async with translated(self.statement_timeout), self._pool.acquire() as conn:
            yield conn

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        async with self._conn() as conn:
            return await conn.fetchrow(sql, *args)

    async def _conversation_exists(self, conn: Any, project: str, conversation_id: str) -> bool:
        row = await conn.fetchrow(SQL_RETRIEVE_CONVERSATION, conversation_id, project)
        return row is not None

    # -- projects and keys ---------------------------------------------------------------

    async def ensure_project(self, name: str) -> str:
        async with self._conn() as conn:
            return await _ensure_project(conn, name)

    async def add_api_key(
        self, *, key_id: str, project: str, name: str, hint: str, key_hash: bytes
    ) -> ApiKeyInfo:
        now = int(time.time())
        async with self._conn() as conn, conn.transaction():
            project_id = await _ensure_project(conn, project)
            # ON CONFLICT waits for a concurrent insert of the same hash to commit or roll
            # back, so of N processes registering one key at once exactly one inserts.
            status: str = await conn.execute(
                "INSERT INTO api_keys (id, project_id, name, hint, key_hash, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_hash) DO NOTHING",
                key_id,
                project_id,
                name,
                hint,
                key_hash,
                now,
            )
        if status == "INSERT 0 0":
            raise KeyExists("An API key with this value is registered already.", code="key_exists")
        return ApiKeyInfo(key_id, project, name, hint, now)

    async def project_for_key(self, key_hash: bytes) -> str | None:
        row = await self._fetchrow(SQL_PROJECT_FOR_KEY, key_hash)
        return None if row is None else str(row[0])

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT k.id, p.name, k.name, k.hint, k.created_at, k.revoked_at, "
                "k.last_used_at FROM api_keys k JOIN projects p ON p.id = k.project_id "
                "ORDER BY k.created_at DESC, k.id DESC"
            )
        return [ApiKeyInfo(*row) for row in rows]

    async def revoke_api_key(self, key_id: str) -> bool:
        async with self._conn() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL "
                "RETURNING id",
                key_id,
                int(time.time()),
            )
            await conn.execute(dash.SQL_END_KEY_SESSIONS, key_id)
        return row is not None

    async def count_api_keys(self) -> int:
        row = await self._fetchrow("SELECT count(*) FROM api_keys")
        return int(row[0])

    # -- dashboard -----------------------------------------------------------------------

    async def touch_api_key(self, key_hash: bytes, when: int) -> None:
        async with self._conn() as conn:
            await conn.execute(dash.SQL_TOUCH_KEY, key_hash, when)

    async def create_session(
        self, *, key_hash: bytes, token_hash: bytes, created_at: int, expires_at: int
    ) -> DashboardSession | None:
        async with self._conn() as conn, conn.transaction():
            row = await conn.fetchrow(dash.SQL_SESSION_KEY, key_hash)
            if row is None:
                return None
            await conn.execute(dash.SQL_SWEEP_SESSIONS, created_at)
            await conn.execute(dash.SQL_INSERT_SESSION, token_hash, row[0], created_at, expires_at)
            await conn.execute(dash.SQL_TOUCH_KEY_ID, row[0], created_at)
        return DashboardSession(row[0], row[1], row[2], expires_at)

    async def find_session(self, token_hash: bytes, now: int) -> DashboardSession | None:
        row = await self._fetchrow(dash.SQL_FIND_SESSION, token_hash, now)
        return None if row is None else DashboardSession(row[0], row[1], row[2], int(row[3]))

    async def end_session(self, token_hash: bytes) -> None:
        async with self._conn() as conn:
            await conn.execute(dash.SQL_END_SESSION, token_hash)

    async def conversation_summaries(
        self, project: str, conversation_ids: list[str]
    ) -> dict[str, ConversationSummary]:
        if not conversation_ids:
            return {}
        async with self._conn() as conn:
            rows = await conn.fetch(dash.SQL_SUMMARIES, project, conversation_ids)
        return {r[0]: ConversationSummary(int(r[1]), int(r[2])) for r in rows}

    async def conversation_project(self, conversation_id: str) -> str | None:
        row = await self._fetchrow(
            "SELECT p.name FROM conversations c JOIN projects p ON p.id = c.project_id "
            "WHERE c.id = $1",
            conversation_id,
        )
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
        async with self._conn() as conn:
            try:
                await conn.execute(
                    SQL_CREATE_CONVERSATION,
                    conversation_id,
                    project,
                    created_at,
                    metadata,
                    [item.id for item in items],
                    [item.type for item in items],
                    [item.data for item in items],
                    *_pairs(metadata),
                    _texts(items),
                )
            except asyncpg.UniqueViolationError as exc:
                raise _duplicate_in_call(items, exc) from None
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
            await conn.execute(SQL_REINDEX_METADATA, row[0], project, *_pairs(metadata), row[1])
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
                project, [(_utf8(k), _utf8(v)) for k, v in metadata], order, times, cursor
            )
            rows = await conn.fetch(sql, *args, limit + 1)
        records = [ConversationRecord(row[0], row[1], bytes(row[2])) for row in rows[:limit]]
        return ConversationPage(records, len(rows) > limit)

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
        async with self._conn() as conn, conn.transaction():
            # The source's row lock (shared) holds appends off until the copy is made.
            source = await conn.fetchrow(extensions.SQL_FORK_SOURCE, conversation_id, project)
            if source is None:
                raise conversation_not_found(conversation_id)
            seq, source_metadata = source
            last = _LAST
            if after_item is not None:
                last = await conn.fetchval(extensions.SQL_ITEM_POSITION, seq, after_item)
                if last is None:
                    raise item_not_found(after_item)
            rows = await conn.fetch(extensions.SQL_FORK_ITEMS, seq, last)
            items = shared.renewed([bytes(row[0]) for row in rows])
            kept = bytes(source_metadata) if metadata is None else metadata
            await conn.execute(
                SQL_CREATE_CONVERSATION,
                new_id,
                project,
                created_at,
                kept,
                [item.id for item in items],
                [item.type for item in items],
                [item.data for item in items],
                *_pairs(kept),
                _texts(items),
            )
        return ConversationRecord(new_id, created_at, kept)

    async def set_retention(self, name: str, seconds: int | None) -> bool:
        row = await self._fetchrow(extensions.SQL_SET_RETENTION, name, seconds)
        return row is not None

    async def list_projects(self) -> list[ProjectInfo]:
        async with self._conn() as conn:
            rows = await conn.fetch(extensions.SQL_LIST_PROJECTS)
            found = []
            for project_id, name, created, retention, keys in rows:
                figures = await conn.fetchrow(extensions.SQL_USAGE, project_id)
                found.append(
                    ProjectInfo(
                        str(name),
                        int(created),
                        None if retention is None else int(retention),
                        int(keys),
                        extensions.usage_of(figures),
                    )
                )
        return found

    async def sweep_expired(self, now: int, limit: int) -> int:
        async with self._conn() as conn:
            gone: str = await conn.execute(extensions.SQL_SWEEP_RESPONSES, now, limit)
            status: str = await conn.execute(extensions.SQL_SWEEP, now, limit)
        return int(gone.split()[-1]) + int(status.split()[-1])

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
        sql, args = extensions.search_query(
            project, query, [(_utf8(k), _utf8(v)) for k, v in metadata], times, page
        )
        async with self._conn() as conn:
            rows = await conn.fetch(sql, *args, limit + 1)
            found: dict[int, list[tuple[str, str]]] = {row[0]: [] for row in rows[:limit]}
            if found:
                for conversation, item_id, snippet in await conn.fetch(
                    extensions.SQL_SEARCH_ITEMS, query, list(found)
                ):
                    if len(found[conversation]) < MAX_ITEMS_PER_HIT:
                        found[conversation].append((str(item_id), str(snippet)))
        results = [
            SearchRow(
                ConversationRecord(row[1], row[2], bytes(row[3])),
                float(row[4]),
                row[0],
                found[row[0]],
            )
            for row in rows[:limit]
        ]
        return results, len(rows) > limit

    async def usage(self, project: str) -> Usage:
        row = await self._fetchrow(extensions.SQL_USAGE, project)
        return extensions.usage_of(row)

    # -- items ---------------------------------------------------------------------------

    async def create_items(
        self, project: str, conversation_id: str, items: list[NewItem], created_at: int
    ) -> None:
        async with self._conn() as conn:
            if not items:
                if not await self._conversation_exists(conn, project, conversation_id):
                    raise conversation_not_found(conversation_id)
                return
            try:
                status: str = await conn.execute(
                    SQL_CREATE_ITEMS,
                    conversation_id,
                    project,
                    [item.id for item in items],
                    [item.type for item in items],
                    [item.data for item in items],
                    created_at,
                    _texts(items),
                )
            except asyncpg.UniqueViolationError:
                taken = await conn.fetch(
                    SQL_TAKEN_IDS, conversation_id, project, [item.id for item in items]
                )
                raise _duplicate(items, {row[0] for row in taken}) from None
        if status.endswith(" 0"):
            raise conversation_not_found(conversation_id)

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
                start = _LAST if position is None else position
                rows = await conn.fetch(SQL_PAGE_DESC, seq, project, start, limit + 1)
        page = [(str(row[0]), bytes(row[1])) for row in rows[:limit]]
        return ItemPage(page, len(rows) > limit)

    async def retrieve_item(self, project: str, conversation_id: str, item_id: str) -> bytes:
        async with self._conn() as conn:
            row = await conn.fetchrow(SQL_RETRIEVE_ITEM, conversation_id, project, item_id)
            if row is None:
                if not await self._conversation_exists(conn, project, conversation_id):
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
                if not await self._conversation_exists(conn, project, conversation_id):
                    raise conversation_not_found(conversation_id)
                raise item_not_found(item_id)
        return ConversationRecord(conversation_id, row[0], bytes(row[1]))

    async def find_item(self, project: str, item_id: str) -> bytes | None:
        row = await self._fetchrow(SQL_FIND_ITEM, item_id, project)
        return None if row is None else bytes(row[0])

    # -- responses -----------------------------------------------------------------------

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
                raise _duplicate(items, {row[0] for row in taken}) from None

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
                        _texts(items),
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


async def _ensure_project(conn: Any, name: str) -> str:
    project_id = await conn.fetchval(
        SQL_INSERT_PROJECT, ids.new_id("proj_"), name, int(time.time())
    )
    if project_id is None:
        project_id = await conn.fetchval("SELECT id FROM projects WHERE name = $1", name)
    return str(project_id)


def _pairs(metadata: bytes) -> tuple[list[bytes], list[bytes]]:
    pairs: dict[str, str] = msgspec.json.decode(metadata)
    return [_utf8(key) for key in pairs], [_utf8(value) for value in pairs.values()]


def _texts(items: list[NewItem]) -> list[str | None]:
    # Written by the statement that stores the items: the index is never behind them.
    return [item_text(item.data) or None for item in items]


def _utf8(text: str) -> bytes:
    # surrogatepass: JSON may carry a lone surrogate escape; it must index, not crash.
    return text.encode("utf-8", "surrogatepass")


def _duplicate(items: list[NewItem], taken: set[str]) -> InvalidRequest:
    repeated = repeated_item(items, taken)
    if repeated is not None:
        return repeated
    return InvalidRequest("The items could not be stored: an id is already in use.")


def _duplicate_in_call(items: list[NewItem], exc: Exception) -> Exception:
    # A new conversation holds no items yet: only ids repeated within the call can collide.
    if getattr(exc, "constraint_name", None) == "items_by_conversation_id":
        return _duplicate(items, set())
    return exc


__all__ = [
    "UNAVAILABLE_MESSAGE",
    "PostgresStore",
    "is_unavailable",
    "migrate",
    "migrate_connection",
    "schema_version",
]
