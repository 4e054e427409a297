"""Named credentials: file mode, redaction, resolution order, `parley credentials …`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from parley import credentials
from parley.cli import main
from tests.conftest import LiveServer, free_port


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG config folder; no credential variables from the outer shell."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("PARLEY_CREDENTIAL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "xdg" / "parley" / "credentials.json"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_redact() -> None:
    assert credentials.redact("sk-proj-abcdefghijklmnop1234") == "…1234"
    assert credentials.redact("key-0123456789wxyz") == "…wxyz"
    assert credentials.redact("sk-abcdef") == "…ef"  # 9 characters: 2 shown, not 7
    assert credentials.redact("short") == "…t"
    assert credentials.redact("abc") == "…"


def test_file_is_private_and_keys_never_printed(config: Path) -> None:
    secret = "sk-test-very-secret-key-9f3a"
    code, out, _ = run(
        "credentials", "add", "local", "--api-key", secret,
        "--base-url", "http://127.0.0.1:9/v1/", "--organization", "org-1",
        "--header-name", "X-Tenant", "--header-value", "tenant-secret-77",
    )  # fmt: skip
    assert code == 0, out
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert secret not in out and "…9f3a" in out
    stored = json.loads(config.read_text())
    assert stored["local"] == {
        "api_key": secret,
        "base_url": "http://127.0.0.1:9/v1",  # trailing slash normalised
        "organization_id": "org-1",
        "header_name": "X-Tenant",
        "header_value": "tenant-secret-77",
    }
    for args in (["credentials", "list"], ["credentials", "list", "--json"]):
        code, out, _ = run(*args)
        assert code == 0
        assert "local" in out and "…9f3a" in out
        assert secret not in out and "tenant-secret-77" not in out
    # A second credential rewrites the file: still 0600, the first one kept.
    assert run("credentials", "add", "other", "--api-key", "sk-other-0000")[0] == 0
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert set(json.loads(config.read_text())) == {"local", "other"}
    assert run("credentials", "remove", "other")[0] == 0
    assert set(json.loads(config.read_text())) == {"local"}
    code, out, err = run("credentials", "remove", "other")
    assert code == 1 and "no credential named 'other'" in err


def test_resolution_order(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials.save(credentials.Credential("a", "sk-aaaa-1111", "http://127.0.0.1:1/v1"))
    credentials.save(credentials.Credential("b", "sk-bbbb-2222", "http://127.0.0.1:2/v1"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-3333")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:3/v1/")
    env_only = credentials.resolve()
    assert (env_only.api_key, env_only.base_url) == ("sk-env-3333", "http://127.0.0.1:3/v1")
    monkeypatch.setenv("PARLEY_CREDENTIAL", "b")
    assert credentials.resolve().name == "b"
    assert credentials.resolve("a").name == "a"
    with pytest.raises(credentials.CredentialError, match="no credential named 'zz' \\(a, b\\)"):
        credentials.resolve("zz")
    monkeypatch.delenv("PARLEY_CREDENTIAL")
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(credentials.CredentialError, match="--credential NAME"):
        credentials.resolve()


def test_bad_input_is_refused(config: Path) -> None:
    code, _, err = run("credentials", "add", "x", "--api-key", "k", "--base-url", "ftp://h")
    assert code == 2 and "must start with http://" in err
    code, _, err = run("credentials", "add", "x", "--api-key", "k", "--header-name", "X-A")
    assert code == 2 and "both a name and a value" in err
    assert not config.exists()


def test_credentials_test_against_a_live_server(
    config: Path, server: LiveServer, api_key: str
) -> None:
    assert run("credentials", "add", "good", "--api-key", api_key,
               "--base-url", server.base_url)[0] == 0  # fmt: skip
    code, out, _ = run("credentials", "test", "good")
    assert code == 0 and "ok: credential 'good'" in out

    assert run("credentials", "add", "bad", "--api-key", "sk-wrong-key-0000",
               "--base-url", server.base_url)[0] == 0  # fmt: skip
    code, _, err = run("credentials", "test", "bad")
    assert code == 1
    assert "HTTP 401" in err and "credential 'bad'" in err and "…0000" in err
    assert "sk-wrong-key-0000" not in err

    assert run("credentials", "add", "noversion", "--api-key", api_key,
               "--base-url", server.url)[0] == 0  # fmt: skip
    code, _, err = run("credentials", "test", "noversion")
    assert code == 1 and "has no Conversations API" in err

    offline = f"http://127.0.0.1:{free_port()}/v1"
    assert run("credentials", "add", "off", "--api-key", api_key, "--base-url", offline)[0] == 0
    code, _, err = run("credentials", "test", "off")
    assert code == 1 and f"cannot connect to {offline}" in err


def test_add_reads_the_key_from_a_pipe_without_a_warning(config: Path) -> None:
    secret = "sk-piped-0123456789abcd"
    added = subprocess.run(
        [sys.executable, "-W", "error", "-m", "parley", "credentials", "add", "piped",
         "--base-url", "http://127.0.0.1:8080/v1"],
        input=f"{secret}\n", capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "PARLEY_NEW_API_KEY"},
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "Warning" not in added.stderr and secret not in added.stdout + added.stderr
    assert json.loads(config.read_text())["piped"]["api_key"] == secret
    empty = subprocess.run(
        [sys.executable, "-m", "parley", "credentials", "add", "none"],
        input="", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert empty.returncode == 2 and "no API key" in empty.stderr
