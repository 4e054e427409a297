"""Settings: defaults once, a TOML file under the flags' names, PARLEY_* variables, flags."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from parley import settings
from parley.settings import DEFAULTS, PostgresOptions, Settings, SettingsError
from tests.conftest import start_server, stop_server
from tests.helpers import assert_error


def test_every_flag_has_its_default_and_variable_here() -> None:
    assert DEFAULTS.max_body_bytes == 4 * 1024 * 1024
    assert DEFAULTS.body_timeout == 30.0 and DEFAULTS.statement_timeout == 30.0
    assert DEFAULTS.postgres == PostgresOptions(pool_size=10)
    assert DEFAULTS.sqlite.synchronous == "FULL"
    assert settings.default("pool_size") == 10 and settings.default("sqlite_synchronous") == "FULL"
    assert settings.ENV["pool_size"] == "PARLEY_POOL_SIZE"
    assert settings.ENV["cors_origins"] == "PARLEY_CORS_ORIGINS"
    assert "sqlite" not in settings.ENV and "postgres" not in settings.ENV
    with pytest.raises(AttributeError):
        DEFAULTS.port = 1  # type: ignore[misc]


def test_later_layers_win_and_tables_hold_backend_options() -> None:
    file = {"port": 9000, "max_body_bytes": 2048, "postgres": {"pool_size": 3}}
    env = {"port": "9001", "sqlite_synchronous": "NORMAL"}
    flags = {"port": 9002}
    chosen = settings.build(file, env, flags, strict=False)
    assert chosen.port == 9002 and chosen.max_body_bytes == 2048
    assert chosen.postgres.pool_size == 3 and chosen.sqlite.synchronous == "NORMAL"
    # A flag's name works in the file as well as the table.
    assert settings.build({"pool_size": 7}).postgres.pool_size == 7


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_body_bytes": 10}, r"max_body_bytes: Expected `int` >= 1024"),
        ({"port": "eighty"}, r"port: Expected `int`, got `str`"),
        ({"postgres": {"pool_sise": 2}}, r"postgres: Object contains unknown field `pool_sise`"),
        ({"sqlite_synchronous": "SOMETIMES"}, r"sqlite → synchronous: Invalid enum value"),
        ({"colour": "blue"}, r"Object contains unknown field `colour`"),
    ],
)
def test_a_bad_setting_is_named(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings.build(values)


def test_variables_are_read_as_text() -> None:
    values = settings.from_env(
        {
            "PARLEY_PORT": "8081",
            "PARLEY_ACCESS_LOG": "yes",
            "PARLEY_MIGRATE": "0",
            "PARLEY_CORS_ORIGINS": "https://a.example, https://b.example",
            "PARLEY_RATE_LIMIT": "",
            "PARLEY_DATABASE_URL": "postgresql://db/parley",
            "PARLEY_POOL_SIZE": "4",
            "HOME": "/root",
        }
    )
    chosen = settings.build(values, strict=False)
    assert (chosen.port, chosen.access_log, chosen.migrate) == (8081, True, False)
    assert chosen.cors_origins == ("https://a.example", "https://b.example")
    assert chosen.rate_limit == 0.0 and chosen.database == "postgresql://db/parley"
    assert chosen.postgres.pool_size == 4
    both = settings.from_env({"PARLEY_DATABASE": "a.db", "PARLEY_DATABASE_URL": "b.db"})
    assert both["database"] == "a.db"


def test_files_are_checked_when_read(tmp_path: Path) -> None:
    good = tmp_path / "parley.toml"
    good.write_text(
        'port = 9000\ncors_origins = ["https://a.example"]\n[sqlite]\nsynchronous = "NORMAL"\n'
    )
    assert settings.build(settings.read_file(str(good))).sqlite.synchronous == "NORMAL"
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    with pytest.raises(SettingsError, match="broken.toml: not valid TOML"):
        settings.read_file(str(broken))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("workers = 0\n")
    with pytest.raises(SettingsError, match=r"wrong.toml: workers: Expected `int` >= 1"):
        settings.read_file(str(wrong))
    with pytest.raises(SettingsError, match="missing.toml"):
        settings.read_file(str(tmp_path / "missing.toml"))


def test_settings_travel_whole_and_hide_the_key() -> None:
    chosen = Settings(api_key="sk-secret-value", cors_origins=("https://a.example",))
    assert pickle.loads(pickle.dumps(chosen)) == chosen
    assert "sk-secret-value" not in repr(chosen)
    assert "cors_origins=('https://a.example',)" in repr(chosen)


@pytest.mark.slow
def test_serve_takes_a_config_file_below_variables_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "parley.toml"
    config.write_text("max_body_bytes = 2048\nbody_timeout = 5\naccess_log = true\n")
    server = start_server(
        str(tmp_path / "p.db"),
        tmp_path / "server.log",
        args=["--config", str(config), "--no-access-log"],
    )
    try:
        headers = {"Authorization": f"Bearer {server.api_key}"}
        big = {"metadata": {"blob": "x" * 3000}}
        answer = httpx.post(f"{server.url}/v1/conversations", json=big, headers=headers)
        assert_error(answer, 413, code="request_too_large", param=None)
        assert httpx.post(f"{server.url}/v1/conversations", json={}, headers=headers).is_success
    finally:
        assert stop_server(server) == 0
    # The flag turned the file's access log off.
    assert not [line for line in server.log().splitlines() if line.startswith('{"ts"')]


def test_serve_refuses_a_bad_config_file_before_starting(tmp_path: Path) -> None:
    config = tmp_path / "parley.toml"
    config.write_text(json.dumps({"max_body_bytes": 1}).replace(":", " =").strip("{}") + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "parley", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "max_body_bytes: Expected `int` >= 1024" in done.stderr
    assert not (tmp_path / "parley.db").exists()


def test_create_app_takes_single_settings_too(tmp_path: Path) -> None:
    from parley.app import create_app

    app = create_app(database=str(tmp_path / "one.db"), pool_size=3, max_body_bytes=2048)
    chosen: Settings = app.state.settings  # type: ignore[attr-defined]
    assert chosen.database == str(tmp_path / "one.db")
    assert chosen.postgres.pool_size == 3 and chosen.max_body_bytes == 2048
    with pytest.raises(SettingsError, match="max_body_bytes"):
        create_app(max_body_bytes=1)
