"""SQLite's key cache: a key found active is not looked up again until anything is committed to
the file, by any process; a key revoked anywhere, even by plain SQL, fails on its next request."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from parley import auth, ids
from parley.models import NewItem, ResponseRecord
from parley.store import open_store
from parley.store.sqlite_commits import CommitSignal
from parley.store.sqlite_schema import migrate
from tests.conftest import start_server, stop_server
from tests.helpers import assert_error


def _in_another_process(database: str, sql: str, *params: object) -> None:
    """Run one statement (and commit it) in a Python process of its own."""
    script = (
        "import sqlite3, sys, ast\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('PRAGMA busy_timeout = 10000')\n"
        "conn.execute(sys.argv[2], ast.literal_eval(sys.argv[3]))\n"
        "conn.close()\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, database, sql, repr(params)], check=True, timeout=60
    )


def test_the_wal_index_header_changes_with_every_commit_of_any_process(tmp_path: Path) -> None:
    database = str(tmp_path / "parley.db")
    migrate(database)
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        signal = CommitSignal.open(database, conn)
        assert signal is not None
        before = signal.version()
        # Reads, here and elsewhere, change nothing.
        conn.execute("SELECT count(*) FROM conversations").fetchone()
        _in_another_process(database, "SELECT count(*) FROM api_keys")
        assert signal.version() == before
        seen = {before}
        for n in range(3):
            _in_another_process(
                database,
                "INSERT INTO projects (id, name, created_at) VALUES (?, ?, 0)",
                f"proj_{n}",
                f"p{n}",
            )
            now = signal.version()
            assert now not in seen
            seen.add(now)
        signal.close()
    finally:
        conn.close()


def test_a_file_not_in_wal_mode_has_no_signal(tmp_path: Path) -> None:
    database = str(tmp_path / "plain.db")
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("CREATE TABLE t (x)")
        assert CommitSignal.open(database, conn) is None
    finally:
        conn.close()


def test_a_key_is_looked_up_again_only_after_a_commit(tmp_path: Path) -> None:
    async def run() -> list[int]:
        store = open_store(str(tmp_path / "parley.db"))
        await store.open()
        try:
            plain, _ = await auth.create_key(store, "cached", name="t")
            digest = auth.hash_key(plain)
            statements: list[str] = []
            store._auth.set_trace_callback(statements.append)  # type: ignore[attr-defined]
            counts = []
            for _ in range(3):
                before = len(statements)
                assert await store.project_for_key(digest) is not None
                counts.append(len(statements) - before)
            # Any commit, here one of this process's own writes, sends the next check to
            # the database once more.
            await store.ensure_project("another")
            before = len(statements)
            assert await store.project_for_key(digest) is not None
            assert await store.project_for_key(digest) is not None
            counts.append(len(statements) - before)
            # An unknown key is never cached: each check looks it up.
            before = len(statements)
            assert await store.project_for_key(b"\0" * 32) is None
            assert await store.project_for_key(b"\0" * 32) is None
            counts.append(len(statements) - before)
            return counts
        finally:
            await store.close()

    assert asyncio.run(run()) == [1, 0, 0, 1, 2]


def _message(text: str) -> NewItem:
    return NewItem(
        ids.new_id("msg_"),
        "message",
        json.dumps(
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        ).encode(),
    )


def test_the_cache_outlives_this_processs_own_conversation_writes_only(tmp_path: Path) -> None:
    database = str(tmp_path / "parley.db")

    async def run() -> list[int]:
        store = open_store(database)
        await store.open()
        try:
            plain, _ = await auth.create_key(store, "cached", name="t")
            digest = auth.hash_key(plain)
            project = await store.project_for_key(digest)
            assert project is not None
            statements: list[str] = []
            store._auth.set_trace_callback(statements.append)  # type: ignore[attr-defined]
            counts = []

            async def checks() -> None:
                before = len(statements)
                assert await store.project_for_key(digest) == project
                assert await store.project_for_key(digest) == project
                counts.append(len(statements) - before)

            # A conversation, an append, an update, a stored turn, deletes: all key-neutral
            # commits of this process, one after another; the cache holds through them all.
            await store.create_conversation(project, "conv_1", 1, b"{}", [_message("a")])
            await checks()
            await store.create_items(project, "conv_1", [_message("b")], 2)
            await store.update_conversation(project, "conv_1", b'{"k":"v"}')
            turn = ResponseRecord(ids.new_id("resp_"), 3, b"{}", b"[]")
            await store.commit_response(project, "conv_1", [_message("c")], 3, turn)
            await checks()
            await store.delete_response(project, turn.id)
            await store.delete_conversation(project, "conv_1")
            await checks()
            # A commit of another kind (a project, here) sends the check to the database.
            await store.ensure_project("another")
            await checks()
            # So does a commit of another process, even between two of ours.
            await store.create_conversation(project, "conv_2", 4, b"{}", [])
            await asyncio.to_thread(
                _in_another_process,
                database,
                "UPDATE api_keys SET name = 'renamed' WHERE key_hash = ?",
                digest,
            )
            await store.create_items(project, "conv_2", [_message("d")], 5)
            await checks()
            # And a revoke there, followed by our own writes, is still seen at once.
            await asyncio.to_thread(
                _in_another_process,
                database,
                "UPDATE api_keys SET revoked_at = 1 WHERE key_hash = ?",
                digest,
            )
            await store.create_items(project, "conv_2", [_message("e")], 6)
            await store.create_items(project, "conv_2", [_message("f")], 7)
            assert await store.project_for_key(digest) is None
            return counts
        finally:
            await store.close()

    assert asyncio.run(run()) == [0, 0, 0, 1, 1]


def test_a_revoke_committed_just_after_our_own_commit_is_not_taken_for_ours(
    tmp_path: Path,
) -> None:
    # The writer reads the header after its COMMIT has let go of the lock, so another
    # connection may have committed in between: here it always has (a revoke, made from the
    # header read itself). The change counter then moved by two, and the cache must not
    # trust the key.
    database = str(tmp_path / "parley.db")

    async def run() -> str | None:
        store = open_store(database)
        await store.open()
        other = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        try:
            plain, _ = await auth.create_key(store, "raced", name="t")
            digest = auth.hash_key(plain)
            project = await store.project_for_key(digest)
            assert project is not None
            await store.create_conversation(project, "conv_1", 1, b"{}", [])
            assert await store.project_for_key(digest) == project  # cached
            writer: Any = store._writer  # type: ignore[attr-defined]
            real = writer.header
            reads = 0

            def racing() -> bytes:
                nonlocal reads
                reads += 1
                if reads == 2:  # the read after COMMIT
                    other.execute(
                        "UPDATE api_keys SET revoked_at = 1 WHERE key_hash = ?", (digest,)
                    )
                return bytes(real())

            writer.header = racing
            await store.create_items(project, "conv_1", [_message("x")], 2)
            writer.header = real
            assert reads == 2
            return await store.project_for_key(digest)
        finally:
            other.close()
            await store.close()

    assert asyncio.run(run()) is None


def test_a_key_revoked_by_plain_sql_in_another_process_fails_on_its_next_request(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "parley.db")
    live = start_server(database, tmp_path / "server.log")
    try:
        key = live.new_key("plain-sql")
        with httpx.Client(base_url=live.url, timeout=30) as http:
            headers = {"Authorization": f"Bearer {key}"}
            made = http.post("/v1/conversations", json={}, headers=headers)
            assert made.status_code == 200, made.text
            conv = made.json()["id"]
            paths = [f"/v1/conversations/{conv}", f"/v1/conversations/{conv}/items"]
            for path in paths * 3:  # seen active, and answered from the cache
                assert http.get(path, headers=headers).status_code == 200
            # Not through parley at all: the sqlite3 module in a process of its own.
            _in_another_process(
                database,
                "UPDATE api_keys SET revoked_at = ? WHERE key_hash = ?",
                int(time.time()),
                auth.hash_key(key),
            )
            for path in paths:
                assert_error(
                    http.get(path, headers=headers), 401, code="invalid_api_key", param=None
                )
            # Other keys of the file still work.
            other = {"Authorization": f"Bearer {live.api_key}"}
            assert http.get("/v1/conversations", headers=other).status_code == 200
    finally:
        stop_server(live)


def _index_lock_holder(database: str) -> int:
    """The pid holding a lock on the WAL index's "dead man switch" byte, or 0 when none does.

    walformat.html, 2.3: every process with the file open holds a shared lock on byte 128 of
    the -shm file; a process that finds none resets the index when it opens the file.
    """
    fd = os.open(database + "-shm", os.O_RDONLY)
    try:
        # struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid (with padding).
        asked = struct.pack("hhxxxxqqixxxx", fcntl.F_WRLCK, os.SEEK_SET, 128, 1, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, asked)
        kind, _, _, _, pid = struct.unpack("hhxxxxqqixxxx", answer)
        return 0 if kind == fcntl.F_UNLCK else int(pid)
    finally:
        os.close(fd)


def test_the_server_keeps_its_hold_on_the_wal_index(tmp_path: Path) -> None:
    # The server maps the -shm file for its signal. Had it closed that descriptor, the kernel
    # would have dropped every lock its SQLite holds on the file (POSIX record locks), and
    # the next process to open the file would have reset the index under the server's feet
    # (seen as a SIGBUS in tests/test_backup.py).
    database = str(tmp_path / "parley.db")
    live = start_server(database, tmp_path / "server.log")
    try:
        headers = {"Authorization": f"Bearer {live.api_key}"}
        with httpx.Client(base_url=live.url, headers=headers, timeout=30) as http:
            made = http.post("/v1/conversations", json={})
            assert made.status_code == 200, made.text
            assert http.get(f"/v1/conversations/{made.json()['id']}").status_code == 200
            assert _index_lock_holder(database) != 0
            _in_another_process(database, "SELECT count(*) FROM conversations")
            assert http.get(f"/v1/conversations/{made.json()['id']}").status_code == 200
            assert _index_lock_holder(database) != 0
        assert live.process.poll() is None
    finally:
        stop_server(live)
