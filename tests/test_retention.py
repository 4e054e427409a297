"""Retention (a parley extension): `parley projects set --retention` and the sweeper of a live
server deleting exactly what is old while writes go on, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from parley import ids, retention
from parley.cli import main
from parley.models import NewItem
from parley.store import open_store
from tests.conftest import start_server, stop_server
from tests.test_usage import _store_responses


def _seed_old(database: str, project: str, count: int, age: int) -> list[str]:
    """Conversations (with an item each) last updated ``age`` seconds ago."""

    async def run() -> list[str]:
        store = open_store(database)
        await store.open()
        try:
            pid = await store.ensure_project(project)
            made = []
            for n in range(count):
                cid = ids.conversation_id()
                item = NewItem(
                    f"msg_old{n}_{uuid.uuid4().hex[:6]}",
                    "message",
                    b'{"type":"message","role":"user","status":"completed",'
                    b'"content":[{"type":"input_text","text":"ancient tortoise"}]}',
                )
                await store.create_conversation(pid, cid, int(time.time()) - age, b"{}", [item])
                made.append(cid)
            return made
        finally:
            await store.close()

    return asyncio.run(run())


def _response() -> str:
    return json.dumps({"id": f"resp_{uuid.uuid4().hex}", "object": "response", "usage": None})


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_durations() -> None:
    assert retention.parse_duration("30d") == 30 * 86400
    assert retention.parse_duration(" 12h ") == 12 * 3600
    assert retention.parse_duration("off") is None
    for bad in ("30", "d", "-1d", "1y", "0s"):
        with pytest.raises(ValueError):
            retention.parse_duration(bad)
    assert retention.describe(30 * 86400) == "30d"
    assert retention.describe(None) == "off"


def test_sweeper_deletes_exactly_what_is_old_while_writes_go_on(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    short, keep = f"ret-{uuid.uuid4().hex[:8]}", f"keep-{uuid.uuid4().hex[:8]}"
    # One SQLite file serves one server: this one gets a file of its own.
    if backend == "sqlite":
        database_url = str(tmp_path / "sweep.db")
    live = start_server(database_url, tmp_path / "sweep.log", args=["--sweep-interval", "0.3"])
    try:
        key, keep_key = live.new_key(short), live.new_key(keep)
        old = _seed_old(database_url, short, 450, age=7200)  # more than two sweep batches
        kept_old = _seed_old(database_url, keep, 3, age=7200)
        now = int(time.time())
        old_responses = _store_responses(
            database_url, short, [_response() for _ in range(3)], now - 7200
        )
        new_responses = _store_responses(database_url, short, [_response()], now)
        with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}) as http:
            fresh = [http.post("/v1/conversations", json={}).json()["id"] for _ in range(3)]
            # Touched now: an old conversation that gets a new item is no longer old.
            revived = old.pop()
            assert (
                http.post(
                    f"/v1/conversations/{revived}/items",
                    json={"items": [{"role": "user", "content": "still here"}]},
                ).status_code
                == 200
            )
            assert "retention 1h" in _cli(
                "projects", "set", short, "--retention", "1h", "-d", database_url
            )
            written: list[str] = []
            stop = threading.Event()

            def writer() -> None:
                with httpx.Client(
                    base_url=live.url, headers={"Authorization": f"Bearer {key}"}
                ) as w:
                    while not stop.is_set():
                        answer = w.post("/v1/conversations", json={"metadata": {"w": "1"}})
                        assert answer.status_code == 200, answer.text
                        written.append(answer.json()["id"])

            thread = threading.Thread(target=writer)
            thread.start()
            try:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    usage = http.get("/v1/usage").json()
                    # Only once the writer wrote: a sweep that ends first is no sweep under writes.
                    if written and usage["conversations"] == len(fresh) + 1 + len(written):
                        break
                    time.sleep(0.2)
            finally:
                stop.set()
                thread.join()
            assert len(written) > 0
            for cid in old[:5] + old[-5:]:
                assert http.get(f"/v1/conversations/{cid}").status_code == 404
            for cid in [*fresh, revived, *written]:
                assert http.get(f"/v1/conversations/{cid}").status_code == 200, cid
            usage = http.get("/v1/usage").json()
            assert usage["conversations"] == len(fresh) + 1 + len(written)
            search = http.get("/v1/conversations/search", params={"q": "tortoise"}).json()
            assert [hit["conversation"]["id"] for hit in search["data"]] == [revived]
            # Stored responses expire by age too.
            assert usage["responses"] == len(new_responses)
            for rid in old_responses:
                assert http.get(f"/v1/responses/{rid}").status_code == 404
            for rid in new_responses:
                assert http.get(f"/v1/responses/{rid}").status_code == 200
        with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {keep_key}"}) as h:
            # A project without retention keeps everything, however old.
            for cid in kept_old:
                assert h.get(f"/v1/conversations/{cid}").status_code == 200
        assert "removed" in live.log() and "expired conversations" in live.log()
    finally:
        stop_server(live)


def test_projects_list_and_set(database_url: str, tmp_path: Path) -> None:
    name = f"listed-{uuid.uuid4().hex[:8]}"
    _seed_old(database_url, name, 2, age=10)
    from tests.conftest import mint_key

    mint_key(database_url, name)
    _cli("projects", "set", name, "--retention", "30d", "-d", database_url)
    listed = _cli("projects", "list", "--json", "-d", database_url)
    import json

    [mine] = [p for p in map(json.loads, listed.splitlines()) if p["name"] == name]
    assert mine["retention_seconds"] == 30 * 86400
    assert mine["active_keys"] == 1
    assert mine["usage"]["conversations"] == 2 and mine["usage"]["items"] == 2
    table = _cli("projects", "list", "-d", database_url)
    assert "listed-" in table and "30d" in table  # rich may wrap a long name
    _cli("projects", "set", name, "--retention", "off", "-d", database_url)
    assert "off" in _cli("projects", "list", "-d", database_url)
    missing = CliRunner().invoke(
        main, ["projects", "set", "nope-" + name, "--retention", "1d", "-d", database_url]
    )
    assert missing.exit_code == 1 and "no project named" in missing.output
    bad = CliRunner().invoke(
        main, ["projects", "set", name, "--retention", "soon", "-d", database_url]
    )
    assert bad.exit_code == 2 and "not a duration" in bad.output


def _tombstones(database: str, ids_: list[str]) -> dict[str, tuple[str, int, int]]:
    """(project_id, created_at, seq) of each deleted conversation's tombstone, read raw."""

    async def run() -> dict[str, tuple[str, int, int]]:
        if database.startswith("postgres"):
            import asyncpg

            conn = await asyncpg.connect(database)
            try:
                rows = await conn.fetch(
                    "SELECT id, project_id, created_at, seq FROM deleted_conversations "
                    "WHERE id = ANY($1::text[])",
                    ids_,
                )
            finally:
                await conn.close()
            return {row[0]: (row[1], row[2], row[3]) for row in rows}
        import sqlite3

        with contextlib.closing(sqlite3.connect(database)) as conn:
            marks = ", ".join("?" * len(ids_))
            found = conn.execute(
                "SELECT id, project_id, created_at, seq FROM deleted_conversations "
                f"WHERE id IN ({marks})",
                ids_,
            ).fetchall()
        return {row[0]: (row[1], row[2], row[3]) for row in found}

    return asyncio.run(run())


def test_swept_conversations_leave_tombstones_as_api_deletes_do(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    project = f"tomb-{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        database_url = str(tmp_path / "tomb.db")
    live = start_server(database_url, tmp_path / "tomb.log", args=["--sweep-interval", "0.3"])
    try:
        key = live.new_key(project)
        old = _seed_old(database_url, project, 4, age=7200)
        with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {key}"}) as http:
            fresh = [http.post("/v1/conversations", json={}).json()["id"] for _ in range(3)]
            walk = http.get("/v1/conversations", params={"order": "asc", "limit": 2}).json()
            assert [c["id"] for c in walk["data"]] == old[:2]
            # The first goes by an API delete, the rest by the sweeper.
            assert http.delete(f"/v1/conversations/{old[0]}").status_code == 200
            _cli("projects", "set", project, "--retention", "1h", "-d", database_url)
            deadline = time.monotonic() + 20
            while http.get("/v1/usage").json()["conversations"] > len(fresh):
                assert time.monotonic() < deadline, "the sweeper did not run"
                time.sleep(0.2)
            # A walk whose cursor was swept goes on where it stood, as after an API delete.
            for cursor in (walk["last_id"], old[0], old[3]):
                page = http.get("/v1/conversations", params={"order": "asc", "after": cursor})
                assert page.status_code == 200, page.text
                assert [c["id"] for c in page.json()["data"]] == fresh
            back = http.get("/v1/conversations", params={"order": "desc", "after": old[2]})
            assert back.status_code == 200 and back.json()["data"] == []
        stones = _tombstones(database_url, old)
        assert set(stones) == set(old)
        projects = {stone[0] for stone in stones.values()}
        assert len(projects) == 1  # the project's id, the same for both kinds of delete
        created = [stone[1] for stone in stones.values()]
        assert max(created) - min(created) <= 2  # seeded together, two hours ago
        seqs = [stones[cid][2] for cid in old]
        assert seqs == sorted(seqs) and len(set(seqs)) == 4
    finally:
        stop_server(live)
