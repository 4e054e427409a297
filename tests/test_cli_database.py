"""Database commands as real processes: which database they use, that reading never creates one,
and tables that never cut an id."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _parley(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "80", **(env or {})}
    for name in ("PARLEY_API_KEY", "PARLEY_DATABASE", "PARLEY_DATABASE_URL"):
        if env is None or name not in env:
            full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "parley", *args],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=cwd,
        env=full_env,
    )


@pytest.mark.parametrize(
    "command",
    [["keys", "list"], ["keys", "revoke", "key_x"], ["export"], ["backup", "copy.db"]],
)
def test_reading_commands_never_create_a_database(tmp_path: Path, command: list[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _parley(*command, cwd=elsewhere)
    assert result.returncode == 1
    assert str(elsewhere / "parley.db") in result.stderr
    assert "Traceback" not in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_every_command_names_its_database_and_reads_parley_database(tmp_path: Path) -> None:
    database = tmp_path / "server" / "parley.db"
    database.parent.mkdir()
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {"PARLEY_DATABASE": str(database)}

    created = _parley("keys", "create", "--project", "acme", cwd=cwd, env=env)
    assert created.returncode == 0, created.stderr
    assert f"created a new database at {database}" in created.stderr
    again = _parley("keys", "create", "--project", "acme", cwd=cwd, env=env)
    assert f"parley: database {database}" in again.stderr and "new database" not in again.stderr

    dump = cwd / "acme.jsonl"
    runs = {
        "list": _parley("keys", "list", "--json", cwd=cwd, env=env),
        "migrate": _parley("migrate", cwd=cwd, env=env),
        "export": _parley("export", "-p", "acme", "-o", str(dump), cwd=cwd, env=env),
        "import": _parley("import", str(dump), "-p", "copy", cwd=cwd, env=env),
        "backup": _parley("backup", str(cwd / "b.db"), cwd=cwd, env=env),
    }
    for name, result in runs.items():
        assert result.returncode == 0, (name, result.stderr)
        assert f"parley: database {database}" in result.stderr, (name, result.stderr)
    assert "exported 0 conversations" in runs["export"].stderr
    # stdout stays the command's output alone: two JSON lines, no database line.
    assert [json.loads(line)["project"] for line in runs["list"].stdout.splitlines()] == [
        "acme",
        "acme",
    ]
    assert list(cwd.iterdir()) and not (cwd / "parley.db").exists()


def test_keys_table_shows_whole_ids_at_80_columns(tmp_path: Path) -> None:
    database = str(tmp_path / "keys.db")
    made = _parley(
        "keys",
        "create",
        "-d",
        database,
        "--project",
        "a-rather-long-project-name",
        "--name",
        "the n8n production workflow key [prod]",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    match = re.search(r"key id (key_[0-9a-f]+)", made.stderr)
    assert match is not None
    key_id = match.group(1)
    for columns in ("80", "60", "200"):
        shown = _parley("keys", "list", "-d", database, cwd=tmp_path, env={"COLUMNS": columns})
        assert shown.returncode == 0, shown.stderr
        assert key_id in shown.stdout, shown.stdout
        assert "[prod]" in shown.stdout  # shown as typed, not read as markup
        # Hints read "…abcd"; any other "…" would be a cell cut short.
        assert "…" not in re.sub(r"(?<![\w-])…[\w-]{0,4}", "", shown.stdout), shown.stdout
        assert max(len(line) for line in shown.stdout.splitlines()) <= max(int(columns), 60)
    # What is shown is what revoke takes.
    revoked = _parley("keys", "revoke", key_id, "-d", database, cwd=tmp_path)
    assert revoked.returncode == 0 and f"revoked {key_id}" in revoked.stdout


def test_an_unusable_database_url_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    down = _parley("keys", "list", "-d", "postgresql://nobody@127.0.0.1:1/x", cwd=tmp_path)
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert "Error: The database is unavailable right now" in down.stderr
    # A Python without asyncpg, as after a plain `pip install conversations-server`.
    code = (
        "import sys; sys.modules['asyncpg'] = None; from parley.cli import main; "
        "main(['keys', 'list', '-d', 'postgresql://nobody@127.0.0.1:1/x'], prog_name='parley')"
    )
    missing = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=90, cwd=tmp_path
    )
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "needs asyncpg, which is not installed: pip install asyncpg" in missing.stderr
