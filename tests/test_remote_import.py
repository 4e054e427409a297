"""`parley import --from URL`: copying from another live parley (ids, order, created_at kept),
run twice (the second changes nothing), with --ids, with failures, and killed then resumed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley import credentials
from parley.credentials import Credential
from parley.remote_import import read_ids
from tests.conftest import LiveServer, start_server, stop_server


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second parley, on SQLite, holding what is to be copied."""
    folder = tmp_path_factory.mktemp("source")
    live = start_server(str(folder / "source.db"), folder / "source.log")
    yield live
    stop_server(live)


def _fill(source: LiveServer, count: int, items: int) -> list[str]:
    made = []
    with httpx.Client(
        base_url=source.base_url, headers={"Authorization": f"Bearer {source.api_key}"}
    ) as http:
        for n in range(count):
            body: list[dict[str, Any]] = [
                {"type": "message", "role": "user", "content": f"message {n}.{i}"}
                for i in range(items)
            ]
            body[0] = {
                "type": "function_call",
                "call_id": f"call_{n}",
                "name": "lookup",
                "arguments": json.dumps({"n": n}),
            }
            conv = http.post(
                "/conversations", json={"metadata": {"n": str(n)}, "items": body[:20]}
            ).json()["id"]
            for start in range(20, items, 20):
                http.post(f"/conversations/{conv}/items", json={"items": body[start : start + 20]})
            made.append(conv)
    return made


def _dump(server: LiveServer, key: str, conversation_ids: list[str]) -> list[Any]:
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as h:
        dumped = []
        for cid in conversation_ids:
            conv = h.get(f"/conversations/{cid}")
            if conv.status_code == 404:
                dumped.append(None)
                continue
            items: list[Any] = []
            after = None
            while True:
                page = h.get(
                    f"/conversations/{cid}/items",
                    params={"order": "asc", "limit": 100, **({"after": after} if after else {})},
                ).json()
                items += page["data"]
                if not page["has_more"]:
                    break
                after = page["last_id"]
            dumped.append((conv.json(), items))
        return dumped


@pytest.fixture
def env(source: LiveServer, tmp_path: Path) -> dict[str, str]:
    """A shell whose stored credential `old` holds the source's key."""
    config = tmp_path / "xdg"
    environ = {**os.environ, "XDG_CONFIG_HOME": str(config)}
    previous = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(config)
    try:
        credentials.save(Credential("old", source.api_key, "http://127.0.0.1:9/v1"))
    finally:
        if previous is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = previous
    return environ


def _import(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parley", "import", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_copies_everything_and_a_second_run_changes_nothing(
    server: LiveServer, source: LiveServer, env: dict[str, str]
) -> None:
    made = _fill(source, 6, 25)
    project = f"moved-{uuid.uuid4().hex[:8]}"
    args = ["--from", source.base_url, "--credential", "old", "-p", project, "-d", server.database]
    first = _import(env, *args)
    assert first.returncode == 0, first.stderr
    # The source lists its own conversations; other tests' conversations may be there too.
    assert "skipped 0 already present, 0 failed" in first.stderr
    key = server.new_key(project)
    expected = _dump(source, source.api_key, made)
    assert _dump(server, key, made) == expected
    assert all(entry is not None and len(entry[1]) == 25 for entry in expected)
    second = _import(env, *args)
    assert second.returncode == 0, second.stderr
    assert "imported 0 conversations (0 items)" in second.stderr
    assert _dump(server, key, made) == expected


def test_ids_file_in_n8n_form_and_failures_with_reasons(
    server: LiveServer, source: LiveServer, env: dict[str, str], tmp_path: Path
) -> None:
    made = _fill(source, 3, 2)
    ids = tmp_path / "ids.jsonl"
    ids.write_text(
        json.dumps({"json": {"id": made[0], "object": "conversation"}, "pairedItem": {"item": 0}})
        + "\n"
        + json.dumps({"id": made[1]})
        + f"\n{made[2]}\n\nconv_missing\n"
    )
    project = f"picked-{uuid.uuid4().hex[:8]}"
    done = _import(
        env,
        "--from", source.base_url, "--credential", "old", "--ids", str(ids),
        "-p", project, "-d", server.database,
    )  # fmt: skip
    assert done.returncode == 1
    assert "imported 3 conversations (6 items), skipped 0 already present, 1 failed" in done.stderr
    assert "conv_missing" in done.stderr and "404" in done.stderr
    key = server.new_key(project)
    assert _dump(server, key, made) == _dump(source, source.api_key, made)


def test_killed_then_resumed(server: LiveServer, source: LiveServer, env: dict[str, str]) -> None:
    made = _fill(source, 30, 45)
    ids_file = Path(env["XDG_CONFIG_HOME"]).parent / "ids.txt"
    ids_file.write_text("\n".join(made))
    project = f"resumed-{uuid.uuid4().hex[:8]}"
    key = server.new_key(project)
    args = [
        "--from", source.base_url, "--credential", "old", "--ids", str(ids_file),
        "-p", project, "-d", server.database, "--concurrency", "1",
    ]  # fmt: skip
    running = subprocess.Popen(
        [sys.executable, "-m", "parley", "import", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    copied = 0
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as h:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and running.poll() is None:
            copied = h.get("/usage").json()["conversations"]
            if copied >= 2:
                break
            time.sleep(0.005)
        running.send_signal(signal.SIGKILL)
        running.wait()
        copied = h.get("/usage").json()["conversations"]
    assert 0 < copied < 30
    # Killed between transactions or inside one: never half a conversation.
    partial = _dump(server, key, made)
    expected = _dump(source, source.api_key, made)
    assert all(got is None or got == want for got, want in zip(partial, expected, strict=True))
    resumed = _import(env, *args)
    assert resumed.returncode == 0, resumed.stderr
    found = re.search(
        r"imported (\d+) conversations? .*skipped (\d+) already present", resumed.stderr
    )
    assert found, resumed.stderr
    imported, skipped = int(found[1]), int(found[2])
    assert imported + skipped == 30
    # The kill may land after a transaction reached the file but before the server's reads
    # could see it: that conversation is whole, and the resumed import skips it.
    assert skipped in (copied, copied + 1)
    assert _dump(server, key, made) == expected


def test_read_ids() -> None:
    assert read_ids(["conv_a", "", "# note", '{"id": "conv_b"}', "conv_a"]) == ["conv_a", "conv_b"]
    for bad in (["hello world"], ['{"id": 3}'], ["{oops"]):
        with pytest.raises(ValueError):
            read_ids(bad)


def test_a_source_that_cannot_list_needs_ids(
    server: LiveServer, env: dict[str, str], tmp_path: Path
) -> None:
    # An OpenAI-like source: no GET /conversations (any URL answering 404 for it).
    nowhere = f"{server.url}/not-an-api"
    done = _import(env, "--from", nowhere, "--credential", "old", "-d", server.database)
    assert done.returncode == 1
    assert "pass their ids with --ids FILE" in done.stderr
