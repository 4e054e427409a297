"""`parley serve` and `parley keys` as real processes: first key, key management, clean stops."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
import openai
import pytest

from tests.conftest import LiveServer, free_port, start_server, stop_server
from tests.helpers import assert_error

pytestmark = pytest.mark.slow

MINTED = re.compile(r"sk-parley-[A-Za-z0-9_-]{20,}")


def _parley(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m parley …` to completion."""
    full_env = {**os.environ, **(env or {})}
    for name in ("PARLEY_API_KEY", "PARLEY_DATABASE", "PARLEY_DATABASE_URL"):
        if env is None or name not in env:
            full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "parley", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=full_env,
    )


class _Serve:
    """`parley serve` without --api-key, stdout and stderr kept apart."""

    def __init__(self, database: Path, logs: Path) -> None:
        self.port = free_port()
        self.stdout = logs / f"serve-{self.port}.out"
        self.stderr = logs / f"serve-{self.port}.err"
        env = {**os.environ}
        env.pop("PARLEY_API_KEY", None)
        command = [sys.executable, "-m", "parley", "serve", "--port", str(self.port)]
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--database", str(database)],
                stdout=out,
                stderr=err,
                env=env,
            )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"parley serve exited early:\n{self.stderr.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"parley serve did not come up:\n{self.stderr.read_text()}")

    def stop(self) -> int:
        """SIGTERM, then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def test_first_start_on_an_empty_database_mints_and_prints_one_working_key(
    tmp_path: Path,
) -> None:
    database = tmp_path / "fresh.db"
    first = _Serve(database, tmp_path)
    try:
        printed = first.stderr.read_text()
        keys = MINTED.findall(printed)
        assert len(keys) == 1, printed
        assert MINTED.search(first.stdout.read_text()) is None
        with openai.OpenAI(
            base_url=f"{first.url}/v1", api_key=keys[0], max_retries=0, timeout=30
        ) as sdk:
            conversation = sdk.conversations.create(metadata={"made": "with the first key"})
            assert sdk.conversations.retrieve(conversation.id).metadata == {
                "made": "with the first key"
            }
    finally:
        assert first.stop() == 0
    second = _Serve(database, tmp_path)
    try:
        assert MINTED.search(second.stderr.read_text()) is None
        assert MINTED.search(second.stdout.read_text()) is None
        with openai.OpenAI(
            base_url=f"{second.url}/v1", api_key=keys[0], max_retries=0, timeout=30
        ) as sdk:
            assert sdk.conversations.retrieve(conversation.id).id == conversation.id
    finally:
        assert second.stop() == 0
    listed = _parley("keys", "list", "--json", "--database", str(database))
    assert listed.returncode == 0
    assert len(listed.stdout.strip().splitlines()) == 1


def test_keys_create_list_and_revoke(tmp_path: Path) -> None:
    database = str(tmp_path / "keys.db")
    created = _parley("keys", "create", "--project", "acme", "--name", "n8n prod", "-d", database)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert MINTED.fullmatch(key)
    match = re.search(r"key id (key_[0-9a-f]+) for project 'acme'", created.stderr)
    assert match is not None, created.stderr
    key_id = match.group(1)
    other = _parley("keys", "create", "-d", database)
    assert other.returncode == 0
    other_key = other.stdout.strip()

    listed = _parley("keys", "list", "--json", "-d", database)
    assert listed.returncode == 0
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {row["id"] for row in rows} >= {key_id}
    mine = next(row for row in rows if row["id"] == key_id)
    assert (mine["project"], mine["name"], mine["revoked_at"]) == ("acme", "n8n prod", None)
    assert mine["hint"] == f"…{key[-4:]}"
    table = _parley("keys", "list", "-d", database, env={"COLUMNS": "200"})
    assert table.returncode == 0
    for output in (listed.stdout + listed.stderr, table.stdout + table.stderr):
        assert key not in output and other_key not in output
        assert key[10:30] not in output
    assert key_id in table.stdout and "acme" in table.stdout and "active" in table.stdout

    revoked = _parley("keys", "revoke", key_id, "-d", database)
    assert revoked.returncode == 0 and key_id in revoked.stdout
    after = [
        json.loads(line)
        for line in _parley("keys", "list", "--json", "-d", database).stdout.splitlines()
    ]
    assert next(row for row in after if row["id"] == key_id)["revoked_at"] is not None
    again = _parley("keys", "revoke", key_id, "-d", database)
    assert again.returncode != 0
    assert f"no active key with id {key_id}" in again.stderr

    # The revoked key no longer works on a server; the other one does.
    server = start_server(database, tmp_path / "server.log", api_key=other_key)
    try:
        denied = httpx.post(
            f"{server.url}/v1/conversations",
            headers={"Authorization": f"Bearer {key}"},
            json={},
            timeout=30,
        )
        assert_error(denied, 401, code="invalid_api_key", param=None)
        allowed = httpx.post(
            f"{server.url}/v1/conversations",
            headers={"Authorization": f"Bearer {other_key}"},
            json={},
            timeout=30,
        )
        assert allowed.status_code == 200
    finally:
        assert stop_server(server) == 0


def test_keys_read_the_database_from_the_environment(tmp_path: Path) -> None:
    database = str(tmp_path / "env.db")
    created = _parley("keys", "create", "--project", "envy", env={"PARLEY_DATABASE": database})
    assert created.returncode == 0, created.stderr
    listed = _parley("keys", "list", "--json", env={"PARLEY_DATABASE": database})
    assert [json.loads(line)["project"] for line in listed.stdout.splitlines()] == ["envy"]


WRITES = 50


def test_sigterm_with_50_writes_in_flight_loses_no_acknowledged_write(tmp_path: Path) -> None:
    database = str(tmp_path / "durable.db")
    server = start_server(database, tmp_path / "first.log")
    with server.client() as sdk:
        conversation = sdk.conversations.create()

    async def write_all() -> list[str | BaseException]:
        async with httpx.AsyncClient(
            base_url=server.url,
            headers={"Authorization": f"Bearer {server.api_key}"},
            timeout=60,
            limits=httpx.Limits(max_connections=WRITES),
        ) as raw:

            async def write(index: int) -> str:
                response = await raw.post(
                    f"/v1/conversations/{conversation.id}/items",
                    json={"items": [{"role": "user", "content": f"write {index}"}]},
                )
                response.raise_for_status()
                item_id: str = response.json()["first_id"]
                return item_id

            tasks = [asyncio.create_task(write(index)) for index in range(WRITES)]
            # Stop the server once the first write is acknowledged: the rest are in flight.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            server.process.send_signal(signal.SIGTERM)
            return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(write_all())
    # One SIGTERM only (sent above): wait for the graceful stop, do not signal again.
    try:
        exit_code = server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stop_server(server, signal.SIGKILL)
        raise
    assert exit_code == 0, server.log()
    acknowledged = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert acknowledged, outcomes
    for outcome in outcomes:
        if not isinstance(outcome, str):
            # Refused or cut off by the shutdown: never a 5xx from a half-finished write.
            assert isinstance(outcome, httpx.TransportError), outcome

    again = start_server(database, tmp_path / "second.log", api_key=server.api_key)
    try:
        with again.client() as sdk:
            stored = list(sdk.conversations.items.list(conversation.id, order="asc", limit=100))
    finally:
        assert stop_server(again) == 0
    stored_ids = [item.id for item in stored]
    assert set(acknowledged) <= set(stored_ids)
    assert len(stored_ids) == len(set(stored_ids)) <= WRITES


def test_serve_help_names_the_env_fallbacks() -> None:
    from parley.cli.serve import serve

    shown = _parley("serve", "--help", env={"COLUMNS": "200"})
    assert shown.returncode == 0
    fallbacks = [
        name
        for option in serve.params
        if isinstance(option, click.Option) and option.envvar
        for name in ([option.envvar] if isinstance(option.envvar, str) else option.envvar)
    ]
    assert {"PARLEY_HOST", "PARLEY_PORT", "PARLEY_DATABASE", "PARLEY_API_KEY"} <= set(fallbacks)
    for name in fallbacks:
        assert name in shown.stdout, name


def test_serve_reads_its_settings_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    key = "sk-from-the-environment-0001"
    database = tmp_path / "from-env.db"
    env = {
        **os.environ,
        "PARLEY_HOST": "127.0.0.1",
        "PARLEY_PORT": str(port),
        "PARLEY_DATABASE": str(database),
        "PARLEY_API_KEY": key,
        "PARLEY_MAX_BODY_BYTES": "2048",
    }
    with (tmp_path / "env.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "parley", "serve"], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    server = LiveServer(str(database), port, key, process, tmp_path / "env.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, server.log()
            assert time.monotonic() < deadline, server.log()
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        headers = {"Authorization": f"Bearer {key}"}
        small = httpx.post(f"{server.url}/v1/conversations", json={}, headers=headers, timeout=30)
        assert small.status_code == 200
        big = httpx.post(
            f"{server.url}/v1/conversations",
            json={"metadata": {"blob": "x" * 3000}},
            headers=headers,
            timeout=30,
        )
        assert_error(big, 413, code="request_too_large", param=None)
        assert database.exists()
    finally:
        assert stop_server(server) == 0


@pytest.mark.parametrize("limit", [2048])
def test_max_body_bytes_flag_bounds_the_body(tmp_path: Path, limit: int) -> None:
    server = start_server(
        str(tmp_path / "small.db"), tmp_path / "small.log", args=["--max-body-bytes", str(limit)]
    )
    try:
        headers = {"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"}
        fits = json.dumps({"metadata": {"a": "x" * 500}}).encode()
        assert len(fits) < limit
        assert (
            httpx.post(
                f"{server.url}/v1/conversations", content=fits, headers=headers, timeout=30
            ).status_code
            == 200
        )
        over = b" " * (limit + 1 - 2) + b"{}"
        assert_error(
            httpx.post(f"{server.url}/v1/conversations", content=over, headers=headers, timeout=30),
            413,
            code="request_too_large",
            param=None,
            message=rf"The request body is too large: this server accepts at most {limit} bytes\.",
        )
    finally:
        assert stop_server(server) == 0


def test_four_servers_starting_at_once_with_one_fixed_key_all_serve(
    empty_database: str, tmp_path: Path
) -> None:
    """N replicas start together with one --api-key: on PostgreSQL none dies on it; on SQLite
    one serves and the others refuse cleanly (one file, one server)."""
    key = "sk-replicated-key"
    commands = []
    for index in range(4):
        port = free_port()
        command = [sys.executable, "-m", "parley", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--database", empty_database, "--api-key", key]
        commands.append((port, command, tmp_path / f"serve-{index}.log"))
    env = {k: v for k, v in os.environ.items() if k != "PARLEY_API_KEY"}
    processes = []
    for port, command, log in commands:
        with log.open("wb") as out:
            processes.append(
                (port, log, subprocess.Popen(command, stdout=out, stderr=out, env=env))
            )
    # On SQLite one file takes one server (issue 9): the first to claim it serves and the
    # others refuse in one line; on PostgreSQL every replica serves.
    sqlite = not empty_database.startswith("postgresql")
    try:
        serving = []
        for port, log, process in processes:
            deadline = time.monotonic() + 60
            while True:
                if sqlite and process.poll() is not None:
                    assert process.returncode == 1, log.read_text()
                    assert "is open in another parley serve" in log.read_text()
                    assert "Traceback" not in log.read_text()
                    break
                assert process.poll() is None, f"a replica died at start:\n{log.read_text()}"
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        serving.append(port)
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        assert len(serving) == (1 if sqlite else 4)
        for port in serving:
            with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key) as sdk:
                assert sdk.conversations.create().id.startswith("conv_")
    finally:
        for _, _, process in processes:
            process.send_signal(signal.SIGTERM)
        for _, _, process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_a_revoked_fixed_key_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    database = str(tmp_path / "parley.db")
    live = start_server(database, tmp_path / "first.log", api_key="sk-fixed-then-revoked")
    stop_server(live)
    listed = _parley("keys", "list", "--database", database, "--json")
    assert listed.returncode == 0, listed.stderr
    key_id = json.loads(listed.stdout.splitlines()[0])["id"]
    assert _parley("keys", "revoke", key_id, "--database", database).returncode == 0
    again = _parley(
        "serve",
        "--port",
        str(free_port()),
        "--database",
        database,
        "--api-key",
        "sk-fixed-then-revoked",
    )
    assert again.returncode != 0
    assert "cannot start" in again.stderr and "revoked" in again.stderr
    assert "Traceback" not in again.stderr


def test_api_key_file_keeps_the_key_out_of_process_listings(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-abcdef\n")  # a short fixed key, 9 characters
    database = str(tmp_path / "parley.db")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PARLEY_API_KEY"}
    command = [sys.executable, "-m", "parley", "serve", "--port", str(port)]
    command += ["--database", database, "--api-key-file", str(key_file)]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-abcdef") as sdk:
            assert sdk.conversations.create().id.startswith("conv_")
        listings = subprocess.run(
            ["ps", "-eww", "-o", "args"], capture_output=True, text=True
        ).stdout
        assert str(key_file) in listings and "sk-abcdef" not in listings
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    listed = _parley("keys", "list", "--json", "-d", database)
    assert [json.loads(line)["hint"] for line in listed.stdout.splitlines()] == ["…ef"]
    both = _parley("serve", "--api-key", "x", "--api-key-file", str(key_file), "-d", database)
    assert both.returncode == 2 and "not both" in both.stderr
    help_text = _parley("serve", "--help").stdout
    assert "--api-key-file" in help_text and "process listing" in help_text
