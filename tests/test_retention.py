"""Retention (a parley extension): `parley projects set --retention` and the sweeper of a live
server deleting exactly what is old while writes go on, on both backends."""

from __future__ import annotations

import asyncio
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
                    if usage["conversations"] == len(fresh) + 1 + len(written):
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
