"""Export and import: a project's conversations move between stores with ids, order, metadata
and every item intact, and a repeated import changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import msgspec

from tests.conftest import LiveServer, start_server, stop_server


def _parley(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "parley", *args], input=stdin, capture_output=True, timeout=120
    )


def _snapshot(server: LiveServer, key: str) -> list[dict[str, object]]:
    """Every conversation of the key's project with all its items, via the HTTP API."""
    out = []
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as http:
        page = http.get("/v1/conversations", params={"limit": 100, "order": "asc"}).json()
        for conv in page["data"]:
            items = http.get(
                f"/v1/conversations/{conv['id']}/items", params={"limit": 100, "order": "asc"}
            ).json()["data"]
            out.append({**conv, "items": items})
    return out


def test_export_then_import_into_a_fresh_store(server: LiveServer, tmp_path: Path) -> None:
    project = f"transfer-{tmp_path.name}"
    key = server.new_key(project)
    with server.client(key) as client:
        for n in range(3):
            conv = client.conversations.create(
                items=[{"role": "user", "content": f"hello {n}"}], metadata={"n": str(n)}
            )
            client.conversations.items.create(
                conv.id,
                items=[
                    {"type": "function_call", "call_id": f"c{n}", "name": "f", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": f"c{n}", "output": "ok"},
                ],
            )
    before = _snapshot(server, key)

    dump = tmp_path / "dump.jsonl"
    exported = _parley("export", "--database", server.database, "-p", project, "-o", str(dump))
    assert exported.returncode == 0, exported.stderr
    lines = dump.read_bytes().splitlines()
    assert msgspec.json.decode(lines[0])["parley_export"] == 1
    assert len(lines) == 4

    target = str(tmp_path / "target.db")
    imported = _parley("import", str(dump), "--database", target, "-p", "moved")
    assert imported.returncode == 0, imported.stderr
    assert b"imported 3 conversations (9 items)" in imported.stderr
    again = _parley("import", "-", "--database", target, "-p", "moved", stdin=dump.read_bytes())
    assert b"imported 0 conversations" in again.stderr and b"skipped 3" in again.stderr

    moved = start_server(target, tmp_path / "moved.log")
    try:
        after = _snapshot(moved, moved.new_key("moved"))
    finally:
        stop_server(moved)
    assert after == before


def test_import_reports_bad_lines_and_exits_1(tmp_path: Path) -> None:
    bad = b'{"parley_export": 1}\nnot json\n{"id": "conv_x", "items": [{"type": "nope"}]}\n'
    result = _parley("import", "-", "--database", str(tmp_path / "t.db"), stdin=bad)
    assert result.returncode == 1
    assert b"line 2: not JSON" in result.stderr
    assert b"Invalid value: 'nope'" in result.stderr


def test_import_into_a_second_project_names_the_clash_and_new_ids_get_through(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "one.db")
    server = start_server(database, tmp_path / "one.log")
    try:
        key = server.new_key("first")
        with server.client(key) as client:
            made = [
                client.conversations.create(
                    items=[{"role": "user", "content": f"hi {n}"}], metadata={"n": str(n)}
                ).id
                for n in range(2)
            ]
        dump = tmp_path / "first.jsonl"
        assert _parley("export", "-d", database, "-p", "first", "-o", str(dump)).returncode == 0

        clash = _parley("import", str(dump), "-d", database, "-p", "second")
        assert clash.returncode == 1
        err = clash.stderr.decode()
        assert "IntegrityError" not in err and "Traceback" not in err
        assert "imported 0 conversations" in err
        for conversation_id in made:
            assert f"{conversation_id} is in project 'first'" in err
        assert "--new-ids second.ids.jsonl" in err

        mapping = tmp_path / "second.ids.jsonl"
        copied = _parley(
            "import", str(dump), "-d", database, "-p", "second", "--new-ids", str(mapping)
        )
        assert copied.returncode == 0, copied.stderr
        assert b"imported 2 conversations (2 items)" in copied.stderr
        pairs = [msgspec.json.decode(line) for line in mapping.read_bytes().splitlines()]
        assert [pair["old"] for pair in pairs] == made
        assert all(pair["new"].startswith("conv_") and pair["new"] not in made for pair in pairs)
        # A re-run reuses the mapping: nothing new, nothing duplicated.
        rerun = _parley(
            "import", str(dump), "-d", database, "-p", "second", "--new-ids", str(mapping)
        )
        assert rerun.returncode == 0 and b"skipped 2 already present" in rerun.stderr
        assert len(mapping.read_bytes().splitlines()) == 2

        second = _snapshot(server, server.new_key("second"))
        first = _snapshot(server, key)
    finally:
        stop_server(server)
    assert [conv["id"] for conv in second] == [pair["new"] for pair in pairs]
    assert [conv["id"] for conv in first] == made
    strip = [{**c, "id": None, "items": [{**i, "id": None} for i in c["items"]]} for c in first]
    same = [{**c, "id": None, "items": [{**i, "id": None} for i in c["items"]]} for c in second]
    assert strip == same
