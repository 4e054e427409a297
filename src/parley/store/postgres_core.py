"""The PostgreSQL store's pool and the helpers its statements share.

:class:`parley.store.postgres.PostgresStore` is built on this class; the methods of each part
of the contract (``postgres_keys``, ``postgres_features``, ``postgres_responses``) reach the
database only through ``_conn`` and ``_fetchrow`` here, which settle the request's owed key
check (parley.keycheck) before any statement that does not check the key itself. Behind
PgBouncer in transaction mode (``pgbouncer=True``) no statement is prepared by name: each runs
as one Parse/Bind/Execute round trip (:class:`_BouncedConnection`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import msgspec

from parley import keycheck
from parley.errors import InvalidRequest, conversation_not_found
from parley.models import NewItem
from parley.ratelimit import PostgresRateLimiter, RateLimiter
from parley.search import item_text
from parley.settings import DEFAULTS
from parley.store.migrations import SchemaTooNew, check_version, migrations
from parley.store.postgres_pool import Pool
from parley.store.postgres_schema import migrate, schema_version, translate
from parley.store.postgres_sql import (
    SQL_CREATE_CONVERSATION,
    SQL_CREATE_ITEMS,
    SQL_PROJECT_FOR_KEY,
    SQL_RETRIEVE_CONVERSATION,
    SQL_TAKEN_IDS,
)
from parley.store.shared import repeated_item

LAST = 1 << 62


class _BouncedConnection(asyncpg.Connection):  # type: ignore[misc]
    """A connection to PgBouncer in transaction mode: unnamed statements only, one round trip.

    A named prepared statement lives on one server connection, and PgBouncer hands the next
    transaction another. With asyncpg's statement cache off (statement_cache_size=0), asyncpg
    prepares an unnamed statement to learn its types (a round trip), marks it unprepared, and
    sends Parse again with Bind and Execute (a second round trip, which PgBouncer forwards in
    one piece). Keeping those unprepared statements per connection keeps the second round trip
    only: Parse/Bind/Execute/Sync, safe on whatever server connection PgBouncer picks.
    """

    _LIMIT = 256

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unnamed: dict[tuple[str, Any, bool], Any] = {}

    async def _get_statement(
        self,
        query: str,
        timeout: float | None,  # noqa: ASYNC109 (asyncpg's own signature)
        *,
        named: Any = False,
        use_cache: bool = True,
        ignore_custom_codec: bool = False,
        record_class: Any = None,
    ) -> Any:
        if named or not use_cache:
            return await super()._get_statement(
                query,
                timeout,
                named=named,
                use_cache=use_cache,
                ignore_custom_codec=ignore_custom_codec,
                record_class=record_class,
            )
        key = (query, record_class, ignore_custom_codec)
        statement = self._unnamed.get(key)
        if statement is None:
            statement = await super()._get_statement(
                query,
                timeout,
                use_cache=True,
                ignore_custom_codec=ignore_custom_codec,
                record_class=record_class,
            )
            if len(self._unnamed) >= self._LIMIT:
                self._unnamed.clear()
            self._unnamed[key] = statement
        return statement


class _Lent:
    """One pooled connection for an ``async with`` block, database failures turned into 503s.

    The same as ``translated()`` around acquiring a connection and the key's settling, in one
    object instead of three nested context managers: a retrieve 491k -> 460k instructions
    (-6 %, callgrind over bench/inproc.py).
    """

    __slots__ = ("_budget", "_conn", "_guarded", "_pool")

    def __init__(self, pool: Any, guarded: bool, budget: float) -> None:
        self._pool = pool
        self._guarded = guarded
        self._budget = budget
        self._conn: Any = None

    async def __aenter__(self) -> Any:
        try:
            conn = self._conn = await self._pool.acquire()
            if not self._guarded:
                await settle_key(conn)
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, None)
            raise
        return conn

    async def __aexit__(self, kind: Any, exc: BaseException | None, trace: Any) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn)
        if exc is not None:
            instead = translate(exc, self._budget)
            if instead is not None:
                raise instead from None


class PostgresCore:
    """Opens, closes and lends out the PostgreSQL store's pooled connections."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULTS.postgres.pool_size,
        pgbouncer: bool = DEFAULTS.postgres.pgbouncer,
        statement_timeout: float = DEFAULTS.statement_timeout,
        connect_timeout: float = 5.0,
        migrate: bool = True,
    ) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.url = url
        self.pool_size = pool_size
        self.pgbouncer = pgbouncer
        self.statement_timeout = statement_timeout
        self.connect_timeout = connect_timeout
        self._migrate = migrate
        self._pool: Any = None

    # The hot statements take the caller's owed key check (parley.keycheck) as a parameter.
    checks_keys_in_statements = True

    async def open(self) -> None:
        if self._migrate:
            await migrate(self.url, pgbouncer=self.pgbouncer)
        settings = {"application_name": "parley"}
        # PgBouncer refuses startup parameters it does not know; behind it the bound is the
        # client-side command_timeout (and the database's own statement_timeout, if set).
        if self.statement_timeout > 0 and not self.pgbouncer:
            settings["statement_timeout"] = str(int(self.statement_timeout * 1000))
        bouncer = {"statement_cache_size": 0} if self.pgbouncer else {}
        connection_class = _BouncedConnection if self.pgbouncer else asyncpg.Connection
        # A client-side bound too, for a network that swallows packets silently.
        command_timeout = self.statement_timeout + 5 if self.statement_timeout > 0 else None

        async def connect() -> Any:
            try:
                return await asyncpg.connect(
                    self.url,
                    timeout=self.connect_timeout,
                    command_timeout=command_timeout,
                    server_settings=settings,
                    connection_class=connection_class,
                    **bouncer,
                )
            except asyncpg.exceptions.ObjectNotInPrerequisiteStateError as exc:
                # "database ... is not currently accepting connections" (ALLOW_CONNECTIONS
                # false: a maintenance window): unavailable, as a database that is down.
                raise asyncpg.PostgresConnectionError(str(exc)) from exc

        # parley's own pool (postgres_pool): asyncpg's cost ~50 µs of CPU per request. It
        # has no floor and no idle timer: connections open on demand (a down database is
        # not re-dialled in the background), idle ones stay open, at most pool_size per
        # process, and a dropped one is replaced on its next use.
        self._pool = Pool(connect, self.pool_size)
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

    def _conn(self, *, guarded: bool = False) -> _Lent:
        """A pooled connection for an ``async with`` block; unless the caller's statements are
        ``guarded`` by the owed key check (parley.keycheck), the check is settled on it first."""
        if self._pool is None:
            raise RuntimeError("the store is not open")
        return _Lent(self._pool, guarded, self.statement_timeout)

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        async with self._conn() as conn:
            return await conn.fetchrow(sql, *args)


async def conversation_exists(conn: Any, project: str, conversation_id: str) -> bool:
    """Whether the project holds the conversation."""
    row = await conn.fetchrow(SQL_RETRIEVE_CONVERSATION, conversation_id, project, None)
    return row is not None


async def settle_key(conn: Any) -> None:
    """The request's owed key check, if any, as a statement of its own (parley.keycheck)."""
    check = keycheck.owed()
    if check is None:
        return
    if await conn.fetchrow(SQL_PROJECT_FOR_KEY, check.digest) is None:
        raise check.failed()
    check.settled = True


async def missing(conn: Any, project: str, conversation_id: str) -> None:
    """After a statement guarded by the key found nothing: 401 if the key was revoked, else
    404 when the conversation is not there."""
    await settle_key(conn)
    if not await conversation_exists(conn, project, conversation_id):
        raise conversation_not_found(conversation_id)


async def insert_conversation(
    conn: Any,
    project: str,
    conversation_id: str,
    created_at: int,
    metadata: bytes,
    items: list[NewItem],
    key: bytes | None = None,
) -> None:
    """Insert a conversation, its metadata index and its items in one statement; with the
    request's ``key`` only while that key is active (else 401)."""
    seq = await conn.fetchval(
        SQL_CREATE_CONVERSATION,
        conversation_id,
        project,
        created_at,
        metadata,
        *item_columns(items),
        *metadata_pairs(metadata),
        item_texts(items),
        key,
    )
    if seq is None:  # nothing written: the key is no longer active
        await settle_key(conn)
        raise RuntimeError("a conversation insert wrote nothing for an active key")


async def append_items(
    conn: Any,
    project: str,
    conversation_id: str,
    items: list[NewItem],
    created_at: int,
    key: bytes | None = None,
) -> None:
    """Append ``items`` at the end of a project's conversation; 404 when it has none; with the
    request's ``key`` only while that key is active (else 401)."""
    if not items:
        if not await conversation_exists(conn, project, conversation_id):
            raise conversation_not_found(conversation_id)
        return
    # The statement takes the conversation's row lock: concurrent appends each land
    # adjacent, in order.
    status: str = await conn.execute(
        SQL_CREATE_ITEMS,
        conversation_id,
        project,
        *item_columns(items),
        created_at,
        item_texts(items),
        key,
    )
    if status.endswith(" 0"):
        await missing(conn, project, conversation_id)


async def taken_error(
    conn: Any, project: str, conversation_id: str | None, items: list[NewItem]
) -> InvalidRequest:
    """The error for an append that hit an id the conversation already holds."""
    taken = await conn.fetch(SQL_TAKEN_IDS, conversation_id, project, [item.id for item in items])
    return duplicate_error(items, {row[0] for row in taken})


def metadata_pairs(metadata: bytes) -> tuple[list[bytes], list[bytes]]:
    pairs: dict[str, str] = msgspec.json.decode(metadata)
    return [utf8(key) for key in pairs], [utf8(value) for value in pairs.values()]


def item_columns(items: list[NewItem]) -> tuple[list[str], list[str], list[bytes]]:
    """The items' ids, types and bodies as three arrays, for the insert statements."""
    return [item.id for item in items], [item.type for item in items], [item.data for item in items]


def item_texts(items: list[NewItem]) -> list[str | None]:
    # Written by the statement that stores the items: the index is never behind them.
    return [item_text(item.data) or None for item in items]


def utf8(text: str) -> bytes:
    # surrogatepass: JSON may carry a lone surrogate escape; it must index, not crash.
    return text.encode("utf-8", "surrogatepass")


def duplicate_error(items: list[NewItem], taken: set[str]) -> InvalidRequest:
    repeated = repeated_item(items, taken)
    if repeated is not None:
        return repeated
    return InvalidRequest("The items could not be stored: an id is already in use.")


def duplicate_in_call(items: list[NewItem], exc: Exception) -> Exception:
    # A new conversation holds no items yet: only ids repeated within the call can collide.
    if getattr(exc, "constraint_name", None) == "items_by_conversation_id":
        return duplicate_error(items, set())
    return exc
