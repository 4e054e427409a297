"""A filtered conversation page costs the same wherever its time window lies in the project.

One project of 100,000 conversations (created_at = 1 … 100,000, ten metadata topics), and
pages of 20 through windows near the start, in the middle and near the end, in both orders,
with and without a metadata pair, after a cursor or not. The cost is counted, not timed:
PostgreSQL's buffers touched by the generic plan (EXPLAIN ANALYZE BUFFERS), SQLite's virtual
machine steps (a progress handler). Before the page bounds were folded into one per side
(parley.store.shared.page_bounds), a window far from the walk's end cost hundreds of index
pages on PostgreSQL: the scan started at the looser of two bounds and stepped over every
entry in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import Iterator

import asyncpg
import pytest

from parley.models import TimeFilter
from parley.store import postgres, sqlite_extensions
from parley.store import postgres_extensions as pg_extensions
from parley.store.base import Order
from parley.store.sqlite_schema import migrate
from tests.conftest import POSTGRES_SKIP, POSTGRES_URL

ROWS = 100_000
# (created_after, created_before) windows of 1,000 conversations across the project.
WINDOWS = [(1_000, 2_001), (50_000, 51_001), (98_000, 99_001)]
CASES = [
    (metadata, order, cursor)
    for metadata in (False, True)
    for order in ("asc", "desc")
    for cursor in (False, True)
]


def _filters(
    window: tuple[int, int], order: Order, cursor: bool, metadata: bool
) -> tuple[TimeFilter, tuple[int, int] | None]:
    """The window's filter and, for a second page, the cursor of the first page's last row."""
    low, high = window
    step = 20 if metadata else 2  # metadata topic t0 is every tenth conversation
    at = (low + 1 + 10 * step) if order == "asc" else (high - 1 - 10 * step)
    if metadata:
        at -= at % 10
    return TimeFilter(created_after=low, created_before=high), (at, at) if cursor else None


def _literal(value: object) -> str:
    if isinstance(value, bytes):
        return f"'{value.decode()}'::bytea"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def _spread(costs: dict[str, list[int]]) -> None:
    for case, found in costs.items():
        assert max(found) <= 2 * min(found) + 40, f"{case}: {found} across {WINDOWS}"


# -- SQLite ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    path = str(tmp_path_factory.mktemp("window") / "store.db")
    migrate(path)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO projects (id, name, created_at) VALUES ('proj_w', 'w', 0)")
        conn.execute(
            "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < ?) "
            "INSERT INTO conversations (seq, id, project_id, created_at, updated_at, metadata) "
            "SELECT v, 'conv_' || v, 'proj_w', v, v, '{}' FROM n",
            (ROWS,),
        )
        conn.execute(
            "INSERT INTO conversation_metadata (project_id, key, value, conversation, "
            "created_at) SELECT project_id, 'topic', 't' || (seq % 10), seq, created_at "
            "FROM conversations"
        )
        # 333 conversations among the newest tenth updated later (every 30th there).
        conn.execute(
            "UPDATE conversations SET updated_at = 200000 + seq WHERE seq % 30 = 0 AND seq > 90000"
        )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        yield conn


def _sqlite_steps(conn: sqlite3.Connection, sql: str, params: list[object]) -> tuple[int, int]:
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 10)
    try:
        rows = conn.execute(sql, params).fetchall()
    finally:
        conn.set_progress_handler(None, 0)
    return steps, len(rows)


def test_sqlite_window_page_cost_does_not_depend_on_where_it_lies(
    sqlite_store: sqlite3.Connection,
) -> None:
    costs: dict[str, list[int]] = {}
    for metadata, order, cursor in CASES:
        for window in WINDOWS:
            times, at = _filters(window, order, cursor, metadata)
            pairs = [("topic", "t0")] if metadata else []
            sql, params = sqlite_extensions.conversations_query(
                "proj_w", pairs, order, times, at, 21
            )
            steps, rows = _sqlite_steps(sqlite_store, sql, params)
            assert rows == 21, (window, order, cursor, metadata)
            costs.setdefault(f"metadata={metadata} {order} cursor={cursor}", []).append(steps)
    _spread(costs)


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    if POSTGRES_URL is None:
        pytest.skip(POSTGRES_SKIP)
    from tests.pg import fresh_database

    with fresh_database() as url:

        async def populate() -> None:
            await postgres.migrate(url)
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(
                    "INSERT INTO projects (id, name, created_at) VALUES ('proj_w', 'w', 0)"
                )
                await conn.execute(
                    "INSERT INTO conversations (id, project_id, created_at, updated_at, "
                    "metadata) SELECT 'conv_' || n, 'proj_w', n, n, '{}'::bytea "
                    f"FROM generate_series(1, {ROWS}) n"
                )
                await conn.execute(
                    "INSERT INTO conversation_metadata (project_id, key, value, conversation, "
                    "created_at) SELECT project_id, 'topic'::bytea, "
                    "('t' || (seq % 10))::bytea, seq, created_at FROM conversations"
                )
                # As on SQLite: 333 of the newest tenth updated later (every 30th, topic t0).
                await conn.execute(
                    "UPDATE conversations SET updated_at = 200000 + seq "
                    "WHERE seq % 30 = 0 AND seq > 90000"
                )
                await conn.execute("VACUUM ANALYZE")
            finally:
                await conn.close()

        asyncio.run(populate())
        yield url


@pytest.mark.postgres
def test_postgres_window_page_cost_does_not_depend_on_where_it_lies(pg_database: str) -> None:
    async def run() -> dict[str, list[int]]:
        conn = await asyncpg.connect(pg_database)
        try:
            # What a prepared statement settles on: the generic plan.
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            costs: dict[str, list[int]] = {}
            for metadata, order, cursor in CASES:
                for window in WINDOWS:
                    times, at = _filters(window, order, cursor, metadata)
                    pairs = [(b"topic", b"t0")] if metadata else []
                    sql, args = pg_extensions.conversations_query("proj_w", pairs, order, times, at)
                    args_text = ", ".join(_literal(arg) for arg in [*args, 21])
                    await conn.execute(f"PREPARE page AS {sql}")
                    rows = await conn.fetch(
                        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) "
                        f"EXECUTE page ({args_text})"
                    )
                    await conn.execute("DEALLOCATE page")
                    plan = "\n".join(row[0] for row in rows)
                    assert "rows=21 " in plan.splitlines()[0], plan
                    top = next(line for line in plan.splitlines() if "Buffers:" in line)
                    touched = sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", top))
                    costs.setdefault(f"metadata={metadata} {order} cursor={cursor}", []).append(
                        touched
                    )
            return costs
        finally:
            await conn.close()

    _spread(asyncio.run(run()))


def _pages(
    conn: sqlite3.Connection,
    metadata: list[tuple[str, str]],
    order: Order,
    times: TimeFilter,
    *,
    by_updated: bool | None,
) -> list[str]:
    """Every id of a listing, page by page (by_updated None: list_page decides)."""
    seen: list[str] = []
    cursor = None
    while True:
        if by_updated is None:
            rows = sqlite_extensions.list_page(conn, "proj_w", metadata, order, times, cursor, 50)
        else:
            sql, params = sqlite_extensions.conversations_query(
                "proj_w", metadata, order, times, cursor, 50, by_updated=by_updated
            )
            rows = conn.execute(sql, params).fetchall()
        seen += [row[0] for row in rows]
        if len(rows) < 50:
            return seen
        last = rows[-1][0]
        cursor = (rows[-1][1], int(last.removeprefix("conv_")))


@pytest.mark.parametrize("updated_after", [100_000, 250_000, 295_000])
def test_sqlite_updated_after_pages_are_the_same_either_way(
    sqlite_store: sqlite3.Connection, updated_after: int
) -> None:
    # 100,000: every later update (333 rows, few: read from the updated_at index);
    # 250,000: none; 295,000: the last 167; and a created window and metadata on top.
    for metadata in ([], [("topic", "t0")]):
        for order in ("asc", "desc"):
            window = TimeFilter(
                created_after=92_000, created_before=96_000, updated_after=updated_after
            )
            for times in (TimeFilter(updated_after=updated_after), window):
                walked = _pages(sqlite_store, metadata, order, times, by_updated=False)
                sorted_ = _pages(sqlite_store, metadata, order, times, by_updated=True)
                chosen = _pages(sqlite_store, metadata, order, times, by_updated=None)
                assert walked == sorted_ == chosen, (metadata, order, times)
                low, high = times.created_after or 0, times.created_before or ROWS + 1
                expected = [
                    seq
                    for seq in range(90_030, ROWS + 1, 30)
                    if 200_000 + seq > updated_after
                    and low < seq < high
                    and (not metadata or seq % 10 == 0)
                ]
                if order == "desc":
                    expected.reverse()
                assert walked == [f"conv_{seq}" for seq in expected]


def test_sqlite_dense_updated_after_walks_creation_order(sqlite_store: sqlite3.Connection) -> None:
    # Everything matches: list_page walks creation order instead of sorting the project.
    times = TimeFilter(updated_after=0)
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    sqlite_store.set_progress_handler(count, 10)
    try:
        rows = sqlite_extensions.list_page(sqlite_store, "proj_w", [], "asc", times, None, 21)
    finally:
        sqlite_store.set_progress_handler(None, 0)
    assert [row[0] for row in rows] == [f"conv_{n}" for n in range(1, 22)]
    assert steps < 1_000  # the probe stops at FEW_UPDATED + 1; no sort of 100,000 rows


def test_sqlite_few_updated_page_reads_them_not_the_project(
    sqlite_store: sqlite3.Connection,
) -> None:
    times = TimeFilter(updated_after=100_000)  # the 333 later updates, all after seq 90,000
    for metadata in ([], [("topic", "t0")]):
        sql, params = sqlite_extensions.conversations_query(
            "proj_w", metadata, "asc", times, None, 21, by_updated=False
        )
        walk, _ = _sqlite_steps(sqlite_store, sql, params)
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        sqlite_store.set_progress_handler(count, 10)
        try:
            sqlite_extensions.list_page(sqlite_store, "proj_w", metadata, "asc", times, None, 21)
        finally:
            sqlite_store.set_progress_handler(None, 0)
        # The ascending walk passes the 90,000 older rows first; list_page touches the 333.
        assert steps * 3 < walk, (metadata, steps, walk)


@pytest.mark.postgres
def test_postgres_updated_after_with_metadata_reads_the_updated_not_the_pair(
    pg_database: str,
) -> None:
    # t0: the 333 updated conversations all hold it; t3: none does. Read from the updated_at
    # index, the page costs the same for either pair (on the 1M bench store the walk of the
    # pair's index range grew with the store, and its generic plan probed all of it when
    # fewer than 21 matched: 398 ms), and pages the same as the walk through the store.
    from parley.store import open_store

    async def run() -> None:
        conn = await asyncpg.connect(pg_database)
        try:
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            for topic in ("t0", "t3"):
                pairs = [(b"topic", topic.encode())]
                times = TimeFilter(updated_after=100_000)
                costs = {}
                for by_updated in (False, True):
                    sql, args = pg_extensions.conversations_query(
                        "proj_w", pairs, "desc", times, None, by_updated=by_updated
                    )
                    plan = await conn.prepare(
                        f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) {sql}"
                    )
                    text = "\n".join(row[0] for row in await plan.fetch(*args, 21))
                    top = next(line for line in text.splitlines() if "Buffers:" in line)
                    costs[by_updated] = sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", top))
                # About 6 buffers per candidate (its row, its pairs, a match's row), whatever
                # the pair: bounded (FEW_UPDATED), if more than a walk that stops early (t0).
                assert costs[True] < 8 * 333, (topic, costs)
        finally:
            await conn.close()
        store = open_store(pg_database, migrate=False)
        await store.open()
        try:
            for topic, order in (("t0", "desc"), ("t0", "asc"), ("t3", "desc")):
                seen, after = [], None
                while True:
                    page = await store.list_conversations(
                        "proj_w",
                        metadata=[("topic", topic)],
                        after=after,
                        limit=50,
                        order=order,  # type: ignore[arg-type]
                        times=TimeFilter(updated_after=100_000),
                    )
                    seen += [record.id for record in page.conversations]
                    if not page.has_more:
                        break
                    after = seen[-1]
                expected = (
                    [f"conv_{n}" for n in range(90_030, ROWS + 1, 30)] if topic == "t0" else []
                )
                if order == "desc":
                    expected.reverse()
                assert seen == expected, (topic, order)
        finally:
            await store.close()

    asyncio.run(run())
