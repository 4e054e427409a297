"""parley's own pool of PostgreSQL connections (parley.store.postgres_pool), on the real server:
who waits, what is kept, what is thrown away, and that no slot or session is ever lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from parley.errors import ServiceUnavailable
from parley.store.postgres import PostgresStore
from parley.store.postgres_pool import Pool, PoolClosed
from tests.conftest import POSTGRES_SKIP, POSTGRES_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(POSTGRES_URL is None, reason=POSTGRES_SKIP),
]


@pytest.fixture
def database() -> Any:
    from tests.pg import fresh_database

    with fresh_database() as url:
        yield url


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


async def sessions(url: str) -> list[tuple[int, str, str]]:
    """(pid, state, query) of every other session on ``url``'s database."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid, state, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [(row[0], row[1], row[2]) for row in rows]
    finally:
        await conn.close()


def counting(url: str) -> tuple[Pool, list[int]]:
    """A pool of at most two connections to ``url`` and the list of dials it made."""
    dials: list[int] = []

    async def connect() -> Any:
        dials.append(1)
        return await asyncpg.connect(url)

    return Pool(connect, 2), dials


def test_a_released_connection_is_reused_and_the_pool_never_opens_more_than_its_size(
    database: str,
) -> None:
    async def body() -> None:
        pool, dials = counting(database)
        first = await pool.acquire()
        pid = await first.fetchval("SELECT pg_backend_pid()")
        pool.release(first)
        again = await pool.acquire()
        assert await again.fetchval("SELECT pg_backend_pid()") == pid
        pool.release(again)
        assert len(dials) == 1 and (pool.get_size(), pool.get_idle_size()) == (1, 1)

        # Ten blocks at once on two connections: each waits its turn, none fails.
        async def block(n: int) -> int:
            conn = await pool.acquire()
            try:
                value: int = await conn.fetchval("SELECT $1::int FROM pg_sleep(0.02)", n)
                return value
            finally:
                pool.release(conn)

        assert await asyncio.gather(*(block(n) for n in range(10))) == list(range(10))
        assert len(dials) == 2 and pool.get_size() == 2
        assert len(await sessions(database)) == 2
        await pool.close()
        assert await sessions(database) == []

    run(body)


def test_waiters_are_served_first_come_first_served(database: str) -> None:
    async def body() -> None:
        pool, _ = counting(database)
        held = [await pool.acquire(), await pool.acquire()]
        order: list[int] = []

        async def waiter(n: int) -> None:
            conn = await pool.acquire()
            order.append(n)
            await asyncio.sleep(0)
            pool.release(conn)

        tasks = [asyncio.create_task(waiter(n)) for n in range(5)]
        await asyncio.sleep(0.05)
        assert order == []  # all five wait: both connections are out
        for conn in held:
            pool.release(conn)
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4]
        await pool.close()

    run(body)


def test_a_statement_cancelled_midway_is_stopped_on_the_server_and_the_pool_goes_on(
    database: str,
) -> None:
    async def body() -> None:
        store = PostgresStore(database, pool_size=1)
        await store.open()
        try:
            project = await store.ensure_project("p")
            pool: Any = store._pool  # noqa: SLF001 - the pool under test

            async def slow() -> None:
                async with store._conn() as conn:  # noqa: SLF001
                    await conn.execute("SELECT pg_sleep(30)")

            task = asyncio.create_task(slow())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # A pool of one: the next call gets the same connection, once the server has
            # stopped the statement (not after its 30 s), and nothing is left running.
            began = time.monotonic()
            await store.create_conversation(project, "conv_1", 1, b"{}", [])
            assert (await store.retrieve_conversation(project, "conv_1")).id == "conv_1"
            assert time.monotonic() - began < 5
            running = [query for _, state, query in await sessions(database) if state == "active"]
            assert not any("pg_sleep" in query for query in running), running
            assert pool.get_size() == 1
        finally:
            await store.close()

    run(body)


def test_a_server_error_keeps_the_connection(database: str) -> None:
    async def body() -> None:
        pool, dials = counting(database)
        conn = await pool.acquire()
        with pytest.raises(asyncpg.PostgresError):
            await conn.execute("SELECT no_such_column FROM pg_class")
        pool.release(conn)
        conn = await pool.acquire()
        assert await conn.fetchval("SELECT 1") == 1
        pool.release(conn)
        assert len(dials) == 1
        await pool.close()

    run(body)


def test_a_connection_left_in_a_transaction_is_not_lent_again(database: str) -> None:
    async def body() -> None:
        pool, dials = counting(database)
        conn = await pool.acquire()
        await conn.execute("BEGIN")
        await conn.execute("CREATE TABLE t (x int)")
        pool.release(conn)
        assert conn.is_closed() and pool.get_size() == 0
        fresh = await pool.acquire()
        assert await fresh.fetchval("SELECT to_regclass('t')") is None  # rolled back
        pool.release(fresh)
        assert len(dials) == 2
        await pool.close()

    run(body)


def test_a_connection_the_server_dropped_while_idle_is_replaced(database: str) -> None:
    async def body() -> None:
        pool, dials = counting(database)
        conn = await pool.acquire()
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        pool.release(conn)
        admin = await asyncpg.connect(database)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        for _ in range(50):
            if conn.is_closed():
                break
            await asyncio.sleep(0.05)
        conn = await pool.acquire()
        assert await conn.fetchval("SELECT pg_backend_pid()") != pid
        pool.release(conn)
        assert len(dials) == 2 and pool.get_size() == 1
        await pool.close()

    run(body)


def test_a_cancelled_waiter_gives_up_its_place_without_losing_a_connection(
    database: str,
) -> None:
    async def body() -> None:
        pool, _ = counting(database)
        held = [await pool.acquire(), await pool.acquire()]
        waiting = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # Released while the cancelled waiter is gone: the connection goes back to idle.
        pool.release(held.pop())
        assert pool.get_idle_size() == 1
        # Handed a connection and cancelled before it ran: the waiter passes the connection on.
        taken = await pool.acquire()  # the idle one
        waiting = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.05)
        pool.release(taken)  # straight to the waiter
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert pool.get_idle_size() == 1
        pool.release(held.pop())
        assert (pool.get_size(), pool.get_idle_size()) == (2, 2)
        await pool.close()

    run(body)


def test_a_failed_dial_frees_its_slot(database: str) -> None:
    async def body() -> None:
        attempts: list[int] = []

        async def connect() -> Any:
            attempts.append(1)
            if len(attempts) == 1:
                raise OSError("connection refused (the first dial)")
            return await asyncpg.connect(database)

        pool = Pool(connect, 1)
        with pytest.raises(OSError):
            await pool.acquire()
        assert pool.get_size() == 0
        conn = await pool.acquire()
        assert await conn.fetchval("SELECT 1") == 1
        pool.release(conn)
        await pool.close()

    run(body)


def test_close_waits_for_lent_connections_and_then_lends_no_more(database: str) -> None:
    async def body() -> None:
        pool, _ = counting(database)
        conn = await pool.acquire()
        idle = await pool.acquire()
        pool.release(idle)
        waiter_pool = asyncio.create_task(pool.close())
        await asyncio.sleep(0.05)
        assert not waiter_pool.done()  # one connection is still out
        assert await conn.fetchval("SELECT 1") == 1  # and still works
        pool.release(conn)
        await waiter_pool
        assert conn.is_closed() and idle.is_closed() and pool.get_size() == 0
        with pytest.raises(PoolClosed):
            await pool.acquire()
        assert await sessions(database) == []

    run(body)


def test_the_store_answers_503_while_the_database_refuses_connections(database: str) -> None:
    async def body() -> None:
        store = PostgresStore(database, pool_size=2)
        await store.open()
        try:
            project = await store.ensure_project("p")
            pool: Any = store._pool  # noqa: SLF001
            # Every open connection dropped and the database closed to new ones.
            admin = await asyncpg.connect(database.rsplit("/", 1)[0] + "/postgres")
            try:
                name = database.rsplit("/", 1)[1]
                await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    name,
                )
                await asyncio.sleep(0.2)
                with pytest.raises(ServiceUnavailable):
                    await store.retrieve_conversation(project, "conv_1")
                assert pool.get_size() == 0  # the failed dial left no slot taken
            finally:
                await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                await admin.close()
            await store.create_conversation(project, "conv_1", 1, b"{}", [])
            assert (await store.retrieve_conversation(project, "conv_1")).id == "conv_1"
        finally:
            await store.close()

    run(body)
