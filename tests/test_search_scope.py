"""Search scoped inside the index (SQLite 0009, PostgreSQL 0010): a store indexed before the
scope migrates to it with every item still found, in its own project only."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import pytest

from parley.models import TimeFilter
from parley.search import item_text
from parley.store import open_store
from parley.store.migrations import migrations
from parley.store.sqlite_extensions import scoped
from parley.store.sqlite_ops import item_key
from parley.store.sqlite_schema import _statements, migrate
from tests.conftest import POSTGRES_SKIP, POSTGRES_URL


def _item(n: int, text: str) -> bytes:
    return (
        b'{"type":"message","id":"msg_%d","status":"completed","role":"user",'
        b'"content":[{"type":"input_text","text":"%s"}]}' % (n, text.encode())
    )


# Two projects; the word "heron" in both, "egret" in the first only.
SEEDED = [("proj_a", "a heron and an egret"), ("proj_b", "one heron"), ("proj_a", "no bird")]


def _search(database: str, project: str, query: str) -> list[tuple[str, list[str]]]:
    async def run() -> list[tuple[str, list[str]]]:
        store = open_store(database)
        await store.open()
        try:
            rows, _ = await store.search_conversations(
                project, query, metadata=[], times=TimeFilter(), page=None, limit=10
            )
        finally:
            await store.close()
        return [(row.record.id, [snippet for _, snippet in row.items]) for row in rows]

    return asyncio.run(run())


def test_sqlite_index_of_an_older_store_is_scoped_by_the_migration(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(
            "CREATE TABLE parley_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at INTEGER NOT NULL)"
        )
        for version, name, sql in migrations("sqlite"):
            if version >= 8:  # a store from before the clustered items (0008) and the scope
                break
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO parley_migrations VALUES (?, ?, 0)", (version, name))
        now = int(time.time())
        for project in ("proj_a", "proj_b"):
            conn.execute(
                "INSERT INTO projects (id, name, created_at) VALUES (?, ?, 0)", (project, project)
            )
        for n, (project, text) in enumerate(SEEDED, 1):
            conn.execute(
                "INSERT INTO conversations (seq, id, project_id, created_at, updated_at, "
                "metadata, next_position, item_count) VALUES (?, ?, ?, ?, ?, ?, 1, 1)",
                (n, f"conv_{n}", project, now, now, b"{}"),
            )
            data = _item(n, text)
            conn.execute(
                "INSERT INTO items (seq, conversation, position, id, type, created_at, data) "
                "VALUES (?, ?, 0, ?, 'message', ?, ?)",
                (n, n, f"msg_{n}", now, data),
            )
            # The index as it was: one text column, rowid = the item's seq.
            conn.execute("INSERT INTO items_fts (rowid, body) VALUES (?, ?)", (n, item_text(data)))
    assert {"0008_clustered_items.sql", "0009_search_scope.sql"} <= set(migrate(path))
    assert _search(path, "proj_a", "heron") == [("conv_1", ["a **heron** and an egret"])]
    assert _search(path, "proj_b", "heron") == [("conv_2", ["one **heron**"])]
    assert _search(path, "proj_b", "egret") == []
    with contextlib.closing(sqlite3.connect(path)) as conn:
        # Inside the index: the scoped query alone finds only the project's rows.
        found = conn.execute(
            "SELECT rowid FROM items_fts WHERE items_fts MATCH ?", (scoped("proj_b", "heron"),)
        ).fetchall()
    assert found == [(item_key(2, 0),)]  # the row key since 0008: (conversation, position)


@pytest.mark.parametrize(
    "query",
    ['x) OR (scope : "70726f6a5f61"', "heron) OR (egret", '"heron" OR egret)', "(heron"],
)
def test_sqlite_a_query_cannot_close_the_scope(query: str) -> None:
    match = scoped("proj_b", query)
    assert match.startswith('scope : "70726f6a5f62" AND body : (')
    inner = match[len('scope : "70726f6a5f62" AND body : (') : -1]
    depth = 0
    quoted = False
    for char in inner:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            depth += {"(": 1, ")": -1}.get(char, 0)
            assert depth >= 0, match


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason=POSTGRES_SKIP)
def test_postgres_items_of_an_older_store_are_scoped_by_the_migration() -> None:
    import asyncpg

    from parley.store.postgres_schema import migrate_connection
    from tests.pg import fresh_database, migrate_until

    async def seed(url: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrate_until(conn, 9)
            for project in ("proj_a", "proj_b"):
                await conn.execute(
                    "INSERT INTO projects (id, name, created_at) VALUES ($1, $1, 0)", project
                )
            for n, (project, text) in enumerate(SEEDED, 1):
                seq = await conn.fetchval(
                    "INSERT INTO conversations (id, project_id, created_at, updated_at, metadata,"
                    " next_position, item_count) VALUES ($1, $2, 0, 0, '{}', 1, 1) RETURNING seq",
                    f"conv_{n}",
                    project,
                )
                data = _item(n, text)
                await conn.execute(
                    "INSERT INTO items (conversation, position, id, type, created_at, data, "
                    "search_text) VALUES ($1, 0, $2, 'message', 0, $3, $4)",
                    seq,
                    f"msg_{n}",
                    data,
                    item_text(data),
                )
            applied = await migrate_connection(conn)
            assert applied == [name for version, name, _ in migrations("postgres") if version >= 10]
            assert applied[0] == "0010_search_scope.sql"
            scopes = await conn.fetch("SELECT id, search_scope FROM items ORDER BY id")
            assert [tuple(row) for row in scopes] == [
                ("msg_1", "proj_a"),
                ("msg_2", "proj_b"),
                ("msg_3", "proj_a"),
            ]
        finally:
            await conn.close()

    with fresh_database() as url:
        asyncio.run(seed(url))
        # ts_headline may drop a short leading word ("a"): the marks are what matter.
        [(found, [snippet])] = _search(url, "proj_a", "heron")
        assert found == "conv_1" and "**heron** and an egret" in snippet
        [(found, [snippet])] = _search(url, "proj_b", "heron")
        assert found == "conv_2" and "**heron**" in snippet
        assert _search(url, "proj_b", "egret") == []
