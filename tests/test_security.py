"""Keys and secrets: hashed at rest, revoked at once, never logged; the JSON access log; CORS."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, mint_key, start_server, stop_server
from tests.helpers import assert_error

ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A SQLite server with the access log on and one CORS origin allowed."""
    folder: Path = tmp_path_factory.mktemp("logged")
    live = start_server(
        str(folder / "parley.db"),
        folder / "server.log",
        args=["--access-log", "--cors-origin", ORIGIN],
    )
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def plain_logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The access log without CORS: requests take parley's direct dispatch, not Starlette's."""
    folder: Path = tmp_path_factory.mktemp("plain")
    live = start_server(str(folder / "parley.db"), folder / "server.log", args=["--access-log"])
    yield live
    stop_server(live)


def access_lines(server: LiveServer) -> list[dict[str, object]]:
    """The JSON lines of the server's log (everything else is granian's start-up chatter)."""
    lines = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def parley_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the `parley` command in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "parley", *args], capture_output=True, text=True, timeout=60
    )


def test_keys_are_stored_as_sha256_digests_only(logged: LiveServer) -> None:
    key = logged.new_key("hashed")
    assert (
        httpx.get(
            f"{logged.base_url}/conversations/conv_x", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 404
    )
    folder = Path(logged.database).parent
    for path in folder.glob("parley.db*"):  # the database, its WAL and shared memory
        raw = path.read_bytes()
        assert key.encode() not in raw, path
        assert logged.api_key.encode() not in raw, path
    with sqlite3.connect(f"file:{logged.database}?mode=ro", uri=True) as conn:
        digests = {row[0] for row in conn.execute("SELECT key_hash FROM api_keys")}
        hints = {row[0] for row in conn.execute("SELECT hint FROM api_keys")}
    assert hashlib.sha256(key.encode()).digest() in digests
    assert all(len(hint) <= 5 for hint in hints)  # "…abcd": never enough to guess from


def test_a_key_one_character_off_is_refused(logged: LiveServer) -> None:
    key = logged.new_key()
    near = key[:-1] + ("A" if key[-1] != "A" else "B")
    answer = httpx.get(
        f"{logged.base_url}/conversations/conv_x", headers={"Authorization": f"Bearer {near}"}
    )
    assert_error(answer, 401, code="invalid_api_key", param=None)
    assert near not in answer.text  # the error names the key by a short hint only


def test_revocation_from_another_process_is_effective_at_once(logged: LiveServer) -> None:
    key = logged.new_key(f"rev-{uuid.uuid4().hex[:8]}")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=logged.base_url, headers=headers, timeout=10) as client:
        assert client.post("/conversations", json={}).status_code == 200
        listed = parley_cli("keys", "list", "--json", "--database", logged.database)
        ids = [
            json.loads(line)["id"]
            for line in listed.stdout.splitlines()
            if json.loads(line)["hint"] == f"…{key[-4:]}"
        ]
        assert len(ids) == 1, listed.stdout
        revoked = parley_cli("keys", "revoke", ids[0], "--database", logged.database)
        assert revoked.returncode == 0, revoked.stderr
        # The very next request, with no pause: no cache may keep the key alive.
        for _ in range(5):
            assert_error(
                client.post("/conversations", json={}), 401, code="invalid_api_key", param=None
            )


def test_keys_and_bodies_never_reach_the_log(logged: LiveServer) -> None:
    good = logged.new_key("logs")
    wrong = f"sk-wrong-{uuid.uuid4().hex}"
    marker = f"body-marker-{uuid.uuid4().hex}"
    with httpx.Client(base_url=logged.base_url, timeout=10) as client:
        for key in (good, wrong):
            headers = {"Authorization": f"Bearer {key}"}
            client.post(
                "/conversations",
                json={"metadata": {"m": marker}, "items": [{"role": "user", "content": marker}]},
                headers=headers,
            )
            client.post("/conversations", content=b"{not json " + marker.encode(), headers=headers)
            client.get(f"/conversations/conv_{marker}", headers=headers)
            client.get(f"/conversations/conv_x/items?after={marker}", headers=headers)
        client.get("/conversations/conv_x", headers={"Authorization": f"Basic {wrong}"})
    time.sleep(0.2)  # stderr is written by another process
    log = logged.log()
    for secret in (good, wrong, logged.api_key, good[-12:], wrong[-12:], marker):
        assert secret not in log


@pytest.mark.parametrize("which", ["logged", "plain_logged"])
def test_access_log_lines_are_structured_json(which: str, request: pytest.FixtureRequest) -> None:
    logged: LiveServer = request.getfixturevalue(which)
    key = logged.new_key("access-log")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=logged.base_url, headers=headers, timeout=10) as client:
        created = client.post("/conversations", json={})
        conv = created.json()["id"]
        missing = client.get("/conversations/conv_nope/items")
        item = client.get(f"/conversations/{conv}/items/msg_nope")
        unauthorised = client.get(f"/conversations/{conv}", headers={"Authorization": "Bearer x"})
        unknown = client.get("/nowhere")
    time.sleep(0.2)
    by_id = {line["request_id"]: line for line in access_lines(logged)}
    for line in by_id.values():
        assert set(line) == {
            "ts",
            "request_id",
            "method",
            "route",
            "status",
            "duration_ms",
            "project",
        }
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    first = by_id[created.headers["x-request-id"]]
    assert first["route"] == "/v1/conversations" and first["status"] == 200
    assert first["method"] == "POST"
    assert isinstance(first["project"], str) and re.fullmatch(r"proj_\w+", first["project"])
    second = by_id[missing.headers["x-request-id"]]
    assert second["route"] == "/v1/conversations/{conversation_id}/items"
    assert second["status"] == 404 and second["project"] == first["project"]
    assert by_id[item.headers["x-request-id"]]["route"] == (
        "/v1/conversations/{conversation_id}/items/{item_id}"
    )
    third = by_id[unauthorised.headers["x-request-id"]]
    assert third["status"] == 401 and third["project"] is None
    assert by_id[unknown.headers["x-request-id"]]["route"] == "(unmatched)"


def test_no_access_log_unless_asked(server: LiveServer, http: httpx.Client) -> None:
    answer = http.post("/v1/conversations", json={})
    time.sleep(0.2)
    assert answer.headers["x-request-id"] not in server.log()


# -- CORS ---------------------------------------------------------------------------------


def preflight(server: LiveServer, origin: str) -> httpx.Response:
    return httpx.options(
        f"{server.base_url}/conversations",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
        },
    )


def test_cors_is_off_by_default(server: LiveServer, http: httpx.Client) -> None:
    answer = preflight(server, ORIGIN)
    assert "access-control-allow-origin" not in answer.headers
    assert_error(answer, 405, code="method_not_allowed", param=None)
    simple = http.post("/v1/conversations", json={}, headers={"Origin": ORIGIN})
    assert simple.status_code == 200
    assert not any(name.startswith("access-control-") for name in simple.headers)


def test_cors_allows_only_the_configured_origins(logged: LiveServer) -> None:
    allowed = preflight(logged, ORIGIN)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "x-stainless-os" in allowed.headers["access-control-allow-headers"].lower()
    refused = preflight(logged, "https://evil.example")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    key = logged.new_key()
    for origin, expected in ((ORIGIN, ORIGIN), ("https://evil.example", None)):
        answer = httpx.post(
            f"{logged.base_url}/conversations",
            json={},
            headers={"Authorization": f"Bearer {key}", "Origin": origin},
        )
        assert answer.status_code == 200
        assert answer.headers.get("access-control-allow-origin") == expected
    exposed = httpx.get(
        f"{logged.base_url}/conversations/conv_x",
        headers={"Authorization": f"Bearer {key}", "Origin": ORIGIN},
    )
    assert exposed.status_code == 404  # error answers carry the CORS headers too
    assert exposed.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in exposed.headers["access-control-expose-headers"]


def test_cors_origins_come_from_the_environment_too(tmp_path: Path) -> None:
    database = str(tmp_path / "parley.db")
    live = start_server(
        database,
        tmp_path / "server.log",
        env={"PARLEY_CORS_ORIGINS": "https://one.example https://two.example"},
    )
    try:
        for origin in ("https://one.example", "https://two.example"):
            assert preflight(live, origin).headers["access-control-allow-origin"] == origin
        assert "access-control-allow-origin" not in preflight(live, ORIGIN).headers
    finally:
        stop_server(live)
    assert mint_key(database, "after")  # the file is still a sound parley database
