"""PostgreSQL in earnest: four real servers on one database, index-only hot paths, a database
restart under a running server, no connection leak, schema discipline, and SQLite → PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from parley.errors import ServiceUnavailable
from parley.models import NewItem, TimeFilter
from parley.store import open_store, postgres, postgres_sql, sqlite_to_postgres
from parley.store import postgres_extensions as pg_extensions
from parley.store.base import Order
from parley.store.sqlite import migrations
from tests.conftest import (
    POSTGRES_SKIP,
    POSTGRES_URL,
    LiveServer,
    free_port,
    mint_key,
    start_server,
    stop_server,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(POSTGRES_URL is None, reason=POSTGRES_SKIP),
]


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database of this test's own."""
    from tests.pg import fresh_database

    with fresh_database() as url:
        yield url


async def _fetch(url: str, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def fetch(url: str, sql: str, *args: Any) -> list[Any]:
    """Rows of one query, on a connection of its own."""
    return asyncio.run(_fetch(url, sql, *args))


def message(text: str) -> dict[str, str]:
    return {"type": "message", "role": "user", "content": text}


# -- many processes, one conversation --------------------------------------------------------


def test_four_servers_start_together_and_keep_every_append_adjacent(
    database: str, tmp_path: Path
) -> None:
    # All four start at once against an empty database: the advisory lock lets one migrate.
    with ThreadPoolExecutor(4) as pool:
        starting = [
            # Four interpreters starting at once on a shared 2-core machine can be slow.
            pool.submit(
                start_server,
                database,
                tmp_path / f"s{n}.log",
                args=["--pool-size", "4"],
                timeout=120,
            )
            for n in range(4)
        ]
        servers = [future.result() for future in starting]
    try:
        recorded = fetch(database, "SELECT version FROM parley_migrations ORDER BY version")
        assert [row[0] for row in recorded] == [m[0] for m in migrations("postgres")]
        key = mint_key(database, "ordering")
        headers = {"Authorization": f"Bearer {key}"}
        created = httpx.post(
            f"{servers[0].base_url}/conversations",
            json={"items": [message("start")]},
            headers=headers,
        )
        assert created.status_code == 200, created.text
        conv = created.json()["id"]
        asyncio.run(_append_pairs(servers, conv, headers, per_server=40))
        texts = _all_texts(servers[1], conv, headers)
        assert texts[0] == "start" and len(texts) == 1 + 4 * 40 * 2
        pairs = texts[1:]
        for index in range(0, len(pairs), 2):
            first, second = pairs[index], pairs[index + 1]
            assert first.endswith("/a") and second == first[:-1] + "b", (index, first, second)
        assert len(set(pairs)) == len(pairs)
        positions = fetch(
            database,
            "SELECT i.position FROM items i JOIN conversations c ON c.seq = i.conversation "
            "WHERE c.id = $1 ORDER BY i.position",
            conv,
        )
        assert [row[0] for row in positions] == list(range(len(texts)))
    finally:
        for server in servers:
            stop_server(server)


async def _append_pairs(
    servers: list[LiveServer], conv: str, headers: dict[str, str], per_server: int
) -> None:
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:

        async def append(server: LiveServer, n: int) -> None:
            tag = f"{server.port}-{n}"
            response = await http.post(
                f"{server.base_url}/conversations/{conv}/items",
                json={"items": [message(f"{tag}/a"), message(f"{tag}/b")]},
            )
            assert response.status_code == 200, response.text

        await asyncio.gather(*(append(s, n) for s in servers for n in range(per_server)))


def _all_texts(server: LiveServer, conv: str, headers: dict[str, str]) -> list[str]:
    texts: list[str] = []
    params: dict[str, str | int] = {"order": "asc", "limit": 100}
    while True:
        page = httpx.get(
            f"{server.base_url}/conversations/{conv}/items", params=params, headers=headers
        ).json()
        texts += [entry["content"][0]["text"] for entry in page["data"]]
        if not page["has_more"]:
            return texts
        params["after"] = page["last_id"]


# -- indexes ---------------------------------------------------------------------------------

_POPULATE = [
    "INSERT INTO projects (id, name, created_at) "
    "SELECT 'proj_' || n, 'project ' || n, 0 FROM generate_series(1, 50) n",
    "INSERT INTO api_keys (id, project_id, name, hint, key_hash, created_at) "
    "SELECT 'key_' || n, 'proj_' || (n % 50 + 1), '', '', sha256(n::text::bytea), 0 "
    "FROM generate_series(1, 20000) n",
    "INSERT INTO conversations (id, project_id, created_at, updated_at, metadata, "
    "next_position, item_count) "
    "SELECT 'conv_' || n, 'proj_' || (n % 50 + 1), n, n, '{}'::bytea, 20, 20 "
    "FROM generate_series(1, 20000) n",
    "INSERT INTO conversation_metadata (project_id, key, value, conversation, created_at) "
    "SELECT project_id, 'topic'::bytea, ('t' || (seq % 100))::bytea, seq, created_at "
    "FROM conversations",
    "INSERT INTO items (conversation, position, id, type, created_at, data) "
    "SELECT c.seq, p, 'msg_' || c.seq || '_' || p, 'message', 0, '{}'::bytea "
    "FROM conversations c, generate_series(0, 19) p",
    # Tombstones of deleted items and conversations: a page may start from one.
    "INSERT INTO deleted_items (conversation, id, position) "
    "SELECT c.seq, 'gone_' || c.seq || '_' || p, 100 + p FROM conversations c, "
    "generate_series(0, 4) p",
    "INSERT INTO deleted_conversations (id, project_id, created_at, seq) "
    "SELECT 'gone_' || seq, project_id, created_at, seq + 10000000 FROM conversations",
    "ANALYZE",
]

_KEY = "sha256('1'::bytea)"


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, bytes):
        return f"'{value.decode()}'::bytea"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def _listing(
    metadata: list[tuple[bytes, bytes]],
    order: Order,
    times: TimeFilter,
    cursor: tuple[int, int] | None = None,
) -> tuple[str, str]:
    """A list_conversations page query of proj_8 and its arguments as SQL literals."""
    sql, args = pg_extensions.conversations_query("proj_8", metadata, order, times, cursor)
    return sql, ", ".join(_literal(arg) for arg in [*args, 21])


_HOT = {
    "project_for_key": (postgres_sql.SQL_PROJECT_FOR_KEY, "'\\x00'::bytea"),
    # The hot statements with the request's key check folded in (a key of proj_2).
    "retrieve_conversation": (
        postgres_sql.SQL_RETRIEVE_CONVERSATION,
        "'conv_7', 'proj_8', " + _KEY,
    ),
    "create_items": (
        postgres_sql.SQL_CREATE_ITEMS,
        "'conv_7', 'proj_8', ARRAY['msg_x'], ARRAY['message'], ARRAY['{}'::bytea], 1, "
        "ARRAY['hello'], " + _KEY,
    ),
    "page_asc": (postgres_sql.SQL_PAGE_ASC, "'conv_7', 'proj_8', 'msg_7_3', 21, " + _KEY),
    "page_desc": (postgres_sql.SQL_PAGE_DESC, "'conv_7', 'proj_8', 'msg_7_3', 21, " + _KEY),
    "page_first": (postgres_sql.SQL_PAGE_DESC, "'conv_7', 'proj_8', NULL, 21, " + _KEY),
    "retrieve_item": (postgres_sql.SQL_RETRIEVE_ITEM, "'conv_7', 'proj_8', 'msg_7_3', " + _KEY),
    "delete_item": (postgres_sql.SQL_DELETE_ITEM, "'conv_7', 'proj_8', 'msg_7_3', 1, " + _KEY),
    "delete_conversation": (
        postgres_sql.SQL_DELETE_CONVERSATION,
        "'conv_7', 'proj_8', " + _KEY,
    ),
    "find_item": (postgres_sql.SQL_FIND_ITEM, "'msg_7_3', 'proj_8'"),
    "list_conversations": _listing([], "desc", TimeFilter()),
    "list_conversations_after_cursor": _listing([], "asc", TimeFilter(), (300, 300)),
    "list_conversations_by_time": _listing(
        [], "asc", TimeFilter(created_after=100, created_before=900)
    ),
    "list_conversations_by_time_desc": _listing(
        [], "desc", TimeFilter(created_after=100, created_before=900), (500, 500)
    ),
    "list_conversations_by_metadata": _listing([(b"topic", b"t7")], "asc", TimeFilter()),
    "list_conversations_by_metadata_and_time": _listing(
        [(b"topic", b"t8")], "desc", TimeFilter(created_after=100)
    ),
    "list_cursor": (pg_extensions.SQL_LIST_CURSOR, "'conv_7', 'proj_8'"),
    "search": (
        pg_extensions.search_query("p", "x", [], TimeFilter(), None)[0],
        "'kangaroo', 'proj_8', ''' proj_8''', 21",
    ),
    "search_items": (
        pg_extensions.SQL_SEARCH_ITEMS,
        "'kangaroo', ARRAY[7, 8]::bigint[], ''' proj_8'''",
    ),
    "list_conversations_by_several_pairs": _listing(
        [(b"topic", b"t7"), (b"a", b"1"), (b"b", b"2")], "asc", TimeFilter()
    ),
}


def test_every_hot_query_plans_an_index_scan(database: str) -> None:
    async def run() -> dict[str, str]:
        await postgres.migrate(database)
        conn = await asyncpg.connect(database)
        try:
            for statement in _POPULATE:
                await conn.execute(statement)
            # Prepared statements settle on the generic plan: check that one, not a custom
            # plan for lucky literals.
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            plans = {}
            for name, (sql, args) in _HOT.items():
                await conn.execute(f"PREPARE {name} AS {sql}")
                rows = await conn.fetch(f"EXPLAIN EXECUTE {name} ({args})")
                plans[name] = "\n".join(row[0] for row in rows)
            return plans
        finally:
            await conn.close()

    plans = asyncio.run(run())
    for name, plan in plans.items():
        assert "Seq Scan" not in plan, f"{name}:\n{plan}"
        assert "Index" in plan, f"{name}:\n{plan}"
    assert "items_by_position" in plans["page_asc"]
    assert "items_by_position" in plans["page_desc"]
    assert "items_by_id" in plans["find_item"]
    assert "items_search" in plans["search"]


# -- a database restart while parley runs ----------------------------------------------------


def _cluster(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action]
    if action == "stop":
        command += ["-m", "fast"]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def _can_control_cluster() -> bool:
    return os.path.isdir("/etc/postgresql") and os.geteuid() == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_control_cluster(), reason="needs root and a local pg_ctlcluster")
def test_database_restart_answers_503_then_recovers(database: str, tmp_path: Path) -> None:
    server = start_server(database, tmp_path / "server.log", args=["--pool-size", "3"])
    try:
        key = server.new_key()
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http:
            conv = http.post("/conversations", json={"metadata": {"k": "v"}}).json()["id"]
            assert http.get(f"/conversations/{conv}").status_code == 200
            try:
                _cluster("stop")
                down = http.get(f"/conversations/{conv}")
                write = http.post(f"/conversations/{conv}/items", json={"items": [message("x")]})
            finally:
                _cluster("start")
            for response in (down, write):
                assert response.status_code == 503, response.text
                error = response.json()["error"]
                assert error["type"] == "server_error"
                assert error["message"] == postgres.UNAVAILABLE_MESSAGE
                assert set(error) == {"message", "type", "param", "code"}
                assert response.headers["retry-after"] == "1"
            statuses = [http.get(f"/conversations/{conv}").status_code for _ in range(30)]
            # The pool drops dead connections and dials again: no restart of parley.
            assert statuses[-20:] == [200] * 20, statuses
            added = http.post(f"/conversations/{conv}/items", json={"items": [message("y")]})
            assert added.status_code == 200, added.text
        assert server.process.poll() is None
        assert "Traceback" not in server.log()
    finally:
        stop_server(server)


# -- connections -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_connection_leak_after_ten_thousand_requests(database: str, tmp_path: Path) -> None:
    server = start_server(database, tmp_path / "server.log", args=["--pool-size", "4"])
    name = database.rsplit("/", 1)[1]
    count = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
    try:
        key = server.new_key()
        statuses = asyncio.run(_hammer(server, key, total=10_000))
        assert sum(statuses.values()) == 10_000
        assert set(statuses) == {200, 404, 400}, statuses
        assert fetch(POSTGRES_URL or "", count, name)[0][0] <= 4
    finally:
        stop_server(server)
    assert fetch(POSTGRES_URL or "", count, name)[0][0] == 0


async def _hammer(server: LiveServer, key: str, total: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
        limits=limits,
    ) as http:
        conv = (await http.post("/conversations", json={"items": [message("hi")]})).json()["id"]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(total):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                kind = n % 10
                if kind == 0:
                    response = await http.post(
                        f"/conversations/{conv}/items", json={"items": [message(str(n))]}
                    )
                elif kind <= 4:
                    response = await http.get(f"/conversations/{conv}")
                elif kind <= 6:
                    response = await http.get(f"/conversations/{conv}/items?limit=5")
                elif kind <= 8:
                    response = await http.get("/conversations/conv_missing")
                else:
                    response = await http.post("/conversations", json={"metadata": "nope"})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(16)))
    return statuses


def test_statement_timeout_cancels_a_blocked_write_with_503(database: str) -> None:
    async def run() -> None:
        store = postgres.PostgresStore(database, pool_size=2, statement_timeout=0.3)
        await store.open()
        blocker = await asyncpg.connect(database)
        try:
            project = await store.ensure_project("p")
            await store.create_conversation(project, "conv_1", 1, b"{}", [])
            # Another session holds the conversation's row lock and does not let go.
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("SELECT 1 FROM conversations WHERE id = 'conv_1' FOR UPDATE")
            with pytest.raises(ServiceUnavailable):
                await store.create_items(project, "conv_1", [_item("msg_1", "x")], 2)
            await transaction.rollback()
            # The cancelled statement left nothing behind, and the pool goes on working.
            await store.create_items(project, "conv_1", [_item("msg_2", "y")], 3)
            page = await store.list_items(project, "conv_1", after=None, limit=5, order="asc")
            assert [item_id for item_id, _ in page.items] == ["msg_2"]
        finally:
            await blocker.close()
            await store.close()

    asyncio.run(run())


def test_deleting_conversations_takes_every_item_and_pair_even_one_appended_meanwhile(
    database: str,
) -> None:
    # Items and metadata rows go with their conversation through migration 0011's trigger
    # (no foreign key): also those of an append that committed while the DELETE waited.
    async def run() -> None:
        store = postgres.PostgresStore(database, pool_size=2)
        await store.open()
        appender = await asyncpg.connect(database)
        try:
            project = await store.ensure_project("p")
            for n in range(1, 5):
                await store.create_conversation(
                    project, f"conv_{n}", n, b'{"a":"1","b":"2"}', [_item(f"msg_{n}", "x")]
                )
            # An append in flight: it holds conv_1's row lock, its items not committed yet.
            transaction = appender.transaction()
            await transaction.start()
            status = await appender.execute(
                postgres_sql.SQL_CREATE_ITEMS,
                "conv_1",
                project,
                ["msg_late"],
                ["message"],
                [_item("msg_late", "late").data],
                5,
                ["late"],
                None,
            )
            assert status == "INSERT 0 1"
            deleting = asyncio.create_task(store.delete_conversation(project, "conv_1"))
            await asyncio.sleep(0.3)
            assert not deleting.done(), "the delete waits for the append's row lock"
            await transaction.commit()
            await deleting
            # A batch, as the retention sweeper deletes.
            await appender.execute(
                "DELETE FROM conversations WHERE id = ANY($1::text[])", ["conv_2", "conv_3"]
            )
            left = await appender.fetch(
                "SELECT c.id, (SELECT count(*) FROM items i WHERE i.conversation = c.seq), "
                "(SELECT count(*) FROM conversation_metadata m WHERE m.conversation = c.seq) "
                "FROM conversations c"
            )
            assert [tuple(row) for row in left] == [("conv_4", 1, 2)]
            assert await appender.fetchval("SELECT count(*) FROM items") == 1
            assert await appender.fetchval("SELECT count(*) FROM conversation_metadata") == 2
        finally:
            await appender.close()
            await store.close()

    asyncio.run(run())


# -- schema discipline -----------------------------------------------------------------------


def test_migrate_is_idempotent_and_a_newer_schema_is_refused(database: str, tmp_path: Path) -> None:
    def parley(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "parley", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")},
        )

    first = parley("migrate", "--database", database)
    assert first.returncode == 0 and "applied 0001_initial.sql" in first.stdout, first.stderr
    again = parley("migrate", "--database", database)
    assert again.returncode == 0 and "up to date" in again.stdout
    fetch(
        database,
        "INSERT INTO parley_migrations (version, name, applied_at) VALUES (9999, 'x.sql', 0)",
    )
    refused = parley("serve", "--database", database, "--port", str(free_port()))
    assert refused.returncode == 1
    assert "schema version 9999" in refused.stderr and "Upgrade parley" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert parley("migrate", "--database", database).returncode == 1


# -- SQLite → PostgreSQL ---------------------------------------------------------------------


def _item(item_id: str, text: str) -> NewItem:
    data = f'{{"id":"{item_id}","type":"message","role":"user","content":"{text}"}}'
    return NewItem(item_id, "message", data.encode())


async def _fill_sqlite(path: str) -> None:
    store = open_store(path)
    await store.open()
    try:
        for project in ("alpha", "beta"):
            pid = await store.ensure_project(project)
            await store.add_api_key(
                key_id=f"key_{project}",
                project_name=project,
                name=project,
                hint="sk-…0000",
                key_hash=project.encode() * 4,
            )
            for n in range(12):
                conv = f"conv_{project}_{n:02d}"
                metadata = f'{{"z":"{n}","a":"{project}"}}'.encode()
                items = [_item(f"msg_{n}_{i}", f"{project} {n} {i}") for i in range(n % 4)]
                await store.create_conversation(pid, conv, 1000 + n, metadata, items)
                await store.create_items(pid, conv, [_item(f"msg_{n}_x", "later")], 2000 + n)
                if n % 3 == 0:
                    await store.delete_item(pid, conv, f"msg_{n}_x")
        await store.revoke_api_key("key_beta")
    finally:
        await store.close()


_DUMP = {
    "projects": "SELECT id, name, created_at FROM projects ORDER BY id",
    "api_keys": "SELECT id, project_id, name, hint, key_hash, created_at, revoked_at "
    "FROM api_keys ORDER BY id",
    "conversations": "SELECT id, project_id, created_at, updated_at, metadata, next_position, "
    "item_count FROM conversations ORDER BY id",
    "items": "SELECT c.id, i.position, i.id, i.type, i.created_at, i.data FROM items i "
    "JOIN conversations c ON c.seq = i.conversation ORDER BY c.id, i.position",
    "metadata": "SELECT m.project_id, m.key, m.value, c.id, m.created_at "
    "FROM conversation_metadata m "
    "JOIN conversations c ON c.seq = m.conversation ORDER BY 1, 2, 3, 4",
}


def _dump_sqlite(path: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        dump = {
            name: [tuple(bytes(v) if isinstance(v, bytes) else v for v in row) for row in rows]
            for name, rows in ((n, conn.execute(sql).fetchall()) for n, sql in _DUMP.items())
        }
        dump["metadata"] = sorted(dump["metadata"])
        return dump
    finally:
        conn.close()


def _dump_postgres(url: str) -> dict[str, list[tuple[Any, ...]]]:
    dump = {name: [tuple(row) for row in fetch(url, sql)] for name, sql in _DUMP.items()}
    # PostgreSQL keeps metadata pairs as UTF-8 bytes; SQLite as text.
    dump["metadata"] = sorted(
        (project, key.decode(), value.decode(), conv, created_at)
        for project, key, value, conv, created_at in dump["metadata"]
    )
    return dump


def test_migrate_data_copies_sqlite_losslessly_and_resumes(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = str(tmp_path / "parley.db")
    asyncio.run(_fill_sqlite(source))
    expected = _dump_sqlite(source)
    assert len(expected["conversations"]) == 24 and len(expected["items"]) > 40

    class Interrupted(Exception):
        pass

    calls = []

    def advance(done: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise Interrupted

    # A first run dies after two batches...
    monkeypatch.setattr(sqlite_to_postgres, "BATCH_ITEMS", 5)
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        with pytest.raises(Interrupted):
            asyncio.run(sqlite_to_postgres.copy_store(reader, database, advance))
    finally:
        reader.close()
    partial = _dump_postgres(database)
    assert 0 < len(partial["conversations"]) < 24
    # ...and the command finishes the job, skipping what is already there.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "parley",
            "migrate-data",
            "--from",
            f"sqlite:///{source}",
            "--to",
            database,
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"parley: copying {source} into {database}" in done.stderr
    assert f"({len(partial['conversations'])} already there)" in done.stdout
    assert _dump_postgres(database) == expected

    # The copy is a working store: keys resolve, and appends continue after the old positions.
    async def use() -> list[str]:
        store = open_store(database)
        await store.open()
        try:
            assert await store.project_for_key(b"alpha" * 4) is not None
            assert await store.project_for_key(b"beta" * 4) is None
            pid = await store.ensure_project("alpha")
            await store.create_items(pid, "conv_alpha_03", [_item("msg_new", "new")], 3000)
            page = await store.list_items(pid, "conv_alpha_03", after=None, limit=10, order="asc")
            # The copied items are searchable: their text came along.
            hits, _ = await store.search_conversations(
                pid, "later", metadata=[], times=TimeFilter(), page=None, limit=50
            )
            assert sorted(h.record.id for h in hits) == [
                f"conv_alpha_{n:02d}" for n in range(12) if n % 3
            ]
            return [item_id for item_id, _ in page.items]
        finally:
            await store.close()

    assert asyncio.run(use()) == ["msg_3_0", "msg_3_1", "msg_3_2", "msg_new"]
    positions = fetch(
        database,
        "SELECT i.position FROM items i JOIN conversations c ON c.seq = i.conversation "
        "WHERE c.id = 'conv_alpha_03' ORDER BY i.position",
    )
    # Position 3 was the deleted item's: the gap is kept, as in the source.
    assert [row[0] for row in positions] == [0, 1, 2, 4]
