"""`parley serve` refuses to start, in one line and exit 1, what would go wrong after it started:
a port already served, a SQLite database another server has open, a bad host, a missing driver,
several workers on one SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


def _serve(
    *args: str, cwd: Path, python: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `parley serve ARGS` expecting it to refuse (a server that starts is stopped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    command = python or [sys.executable, "-m", "parley"]
    try:
        return subprocess.run(
            [*command, "serve", *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
        )
    except subprocess.TimeoutExpired as exc:  # it started: that is the failure
        raise AssertionError(f"parley serve {args} started: {exc.stderr!r}") from None


def _one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "serving on" not in result.stderr
    assert result.stdout == ""
    return lines[0]


def test_a_port_another_parley_serves_is_refused(tmp_path: Path) -> None:
    first = start_server(str(tmp_path / "one.db"), tmp_path / "one.log")
    try:
        line = _one_line_refusal(
            _serve("--port", str(first.port), "--database", "other.db", cwd=tmp_path)
        )
        assert f"port {first.port} on 127.0.0.1 is already in use" in line and "--port" in line
        assert not (tmp_path / "other.db").exists()
        # The first server still answers every request with its key (nothing split off).
        headers = {"Authorization": f"Bearer {first.api_key}"}
        statuses = {
            httpx.get(f"{first.base_url}/conversations", headers=headers, timeout=30).status_code
            for _ in range(20)
        }
        assert statuses == {200}
    finally:
        assert stop_server(first) == 0


def test_a_port_held_by_another_program_is_refused(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        line = _one_line_refusal(_serve("--port", str(port), cwd=tmp_path))
    assert f"port {port} on 127.0.0.1 is already in use" in line


def test_a_second_server_on_one_sqlite_file_is_refused_and_named(tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    first = start_server(str(database), tmp_path / "first.log")
    try:
        line = _one_line_refusal(
            _serve("--port", str(free_port()), "--database", str(database), cwd=tmp_path)
        )
        assert f"the SQLite database {database} is open in another parley serve" in line
        assert f"pid {first.process.pid}, http://127.0.0.1:{first.port}" in line
        assert f"kill {first.process.pid}" in line and "PostgreSQL" in line
        # restore, which replaces the file under a running server, refuses too.
        backup = tmp_path / "copy.db"
        taken = subprocess.run(
            [sys.executable, "-m", "parley", "backup", "-d", str(database), str(backup)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert taken.returncode == 0, taken.stderr
        restore = subprocess.run(
            [sys.executable, "-m", "parley", "restore", "--force", "-d", str(database),
             str(backup)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert restore.returncode == 1 and f"pid {first.process.pid}" in restore.stderr
    finally:
        assert stop_server(first) == 0
    # Stopped, it lets the next one in.
    second = start_server(str(database), tmp_path / "second.log")
    assert stop_server(second) == 0


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("no-such-host.invalid", "is not a host name or address"),
        ("300.1.1.1", "is not a host name or address"),
        ("192.0.2.1", "is --host an address of this machine?"),
    ],
)
def test_a_bad_host_is_one_line(tmp_path: Path, host: str, says: str) -> None:
    line = _one_line_refusal(_serve("--host", host, "--port", str(free_port()), cwd=tmp_path))
    assert says in line
    assert not (tmp_path / "parley.db").exists()


def test_postgres_without_asyncpg_is_one_line(tmp_path: Path) -> None:
    # A Python where asyncpg cannot be imported, as after `pip install conversations-server`.
    without = [sys.executable, "-c", "import sys; sys.modules['asyncpg'] = None; "
               "from parley.cli import main; main(prog_name='parley')"]  # fmt: skip
    line = _one_line_refusal(
        _serve("--database", "postgresql://nobody@127.0.0.1:1/x", cwd=tmp_path, python=without)
    )
    assert "needs asyncpg, which is not installed" in line and "pip install" in line


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    line = _one_line_refusal(_serve("--workers", "2", "--port", str(free_port()), cwd=tmp_path))
    assert "--workers 2 on SQLite" in line and "PostgreSQL" in line
