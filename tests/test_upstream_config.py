"""Upstreams from settings: [[upstreams]] tables of the config file, then --upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from parley import settings
from parley.settings import SettingsError
from parley.upstreams import Upstreams
from parley.upstreams.config import upstream_configs


def test_a_config_file_with_upstreams(tmp_path: Path) -> None:
    path = tmp_path / "parley.toml"
    path.write_text(
        'upstream = "http://127.0.0.1:3/v1"\nupstream_api_key = "sk-catch-all"\n\n'
        '[[upstreams]]\nname = "vllm"\nurl = "http://127.0.0.1:1/v1"\nmodels = ["Qwen/*", "x"]\n'
        'api_key_env = "MY_VLLM_KEY"\ntimeout = 5\n\n'
        '[[upstreams]]\nurl = "http://127.0.0.1:2/v1"\napi = "responses"\n'
    )
    chosen = settings.build(settings.read_file(str(path)))
    first, second, last = upstream_configs(chosen, {"MY_VLLM_KEY": "sk-from-env"})
    assert (first.name, first.models, first.api_key, first.timeout) == (
        "vllm",
        ("Qwen/*", "x"),
        "sk-from-env",
        5.0,
    )
    assert (second.api, second.models, second.api_key) == ("responses", ("*",), None)
    assert (last.url, last.models, last.api_key) == (
        "http://127.0.0.1:3/v1",
        ("*",),
        "sk-catch-all",
    )
    # Keys never show in a repr (a log line).
    assert "sk-catch-all" not in repr(chosen)


def test_models_are_routed_to_the_first_match() -> None:
    chosen = settings.build(
        {
            "upstream": "http://127.0.0.1:2/v1",
            "upstreams": [{"name": "a", "url": "http://127.0.0.1:1/v1", "models": ["llama*"]}],
        }
    )
    upstreams = Upstreams(upstream_configs(chosen))
    assert upstreams.for_model("llama3.2").name == "a"
    assert upstreams.for_model("qwen").name == "upstream"


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"url": "ftp://x"}, "http(s) base URL"),
        ({"url": "http://x/v1", "models": [""]}, "'models'"),
        ({"url": "http://x/v1", "api_key": "a", "api_key_env": "B"}, "not both"),
        ({"url": "http://x/v1", "api_key_env": "PARLEY_TEST_UNSET_VARIABLE"}, "is not set"),
    ],
)
def test_bad_tables_say_what_is_wrong(table: dict[str, Any], says: str) -> None:
    chosen = settings.build({"upstreams": [table]})
    with pytest.raises(SettingsError) as caught:
        upstream_configs(chosen, {})
    assert says in str(caught.value) and "upstreams → 1" in str(caught.value)


@pytest.mark.parametrize(
    "table",
    [
        {"url": "http://x/v1", "api": "grpc"},
        {"url": "http://x/v1", "timeout": 0},
        {"url": "http://x/v1", "colour": "red"},
        {"models": ["x"]},
    ],
)
def test_tables_are_typed(table: dict[str, Any]) -> None:
    with pytest.raises(SettingsError):
        settings.build({"upstreams": [table]})
