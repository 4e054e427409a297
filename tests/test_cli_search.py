"""`parley conversation search` and Node.search against a live server, as a person runs them."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import openai
import pytest
from click.testing import CliRunner, Result

from parley.cli import main
from parley.credentials import Credential
from parley.node import Node
from parley.sdk import ValidationError
from tests.conftest import LiveServer


@pytest.fixture
def env(server: LiveServer, api_key: str, tmp_path: Path) -> dict[str, str | None]:
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "OPENAI_API_KEY": api_key,
        "OPENAI_BASE_URL": server.base_url + "/",
        "PARLEY_CREDENTIAL": None,
        "OPENAI_ORG_ID": None,
        "COLUMNS": "200",
    }


def cli(env: dict[str, str | None], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=stdin)


def _say(client: openai.OpenAI, text: str, **metadata: str) -> str:
    return client.conversations.create(
        metadata=metadata, items=[{"type": "message", "role": "user", "content": text}]
    ).id


def test_search_prints_a_table_of_hits_best_first(
    env: dict[str, str | None], client: openai.OpenAI
) -> None:
    word = f"zebra{uuid.uuid4().hex[:6]}"
    dense = _say(client, f"{word} {word} {word} grazing", topic="a")
    sparse = _say(client, f"a long story of lions, hyenas, rivers, dust and one {word}", topic="b")
    _say(client, "nothing relevant")
    shown = cli(env, "conversation", "search", word)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert out.index(dense) < out.index(sparse)
    assert f"{word} {word} {word}" in out  # the snippet, marks dropped for bold
    assert "**" not in out
    assert '{"topic": "a"}' in out
    filtered = cli(env, "conversation", "search", word, "--metadata", "topic=b")
    assert sparse in filtered.stdout and dense not in filtered.stdout
    none = cli(env, "conversation", "search", f"absent{uuid.uuid4().hex[:6]}")
    assert none.exit_code == 0 and "No conversation matches." in none.stdout


def test_search_json_pages_to_the_limit_and_filters_by_time(
    env: dict[str, str | None], client: openai.OpenAI
) -> None:
    word = f"okapi{uuid.uuid4().hex[:6]}"
    made = [_say(client, f"{word} number {n}") for n in range(5)]
    result = cli(env, "conversation", "search", word, "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    [page] = [json.loads(line) for line in result.stdout.splitlines()]
    assert page["object"] == "list" and len(page["data"]) == 3 and page["has_more"] is True
    rest = cli(env, "conversation", "search", word, "--page", page["next_page"], "--json")
    [after] = [json.loads(line) for line in rest.stdout.splitlines()]
    found = [hit["conversation"]["id"] for hit in page["data"] + after["data"]]
    assert sorted(found) == sorted(made) and after["has_more"] is False
    later = int(time.time()) + 3600
    empty = cli(env, "conversation", "search", word, "--created-after", str(later), "--json")
    assert json.loads(empty.stdout)["data"] == []


def test_search_runs_once_per_input_item(
    env: dict[str, str | None], client: openai.OpenAI, tmp_path: Path
) -> None:
    words = [f"ibex{uuid.uuid4().hex[:6]}", f"gnu{uuid.uuid4().hex[:6]}"]
    made = {word: _say(client, f"saw a {word} today") for word in words}
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"q": w}) + "\n" for w in words) + '{"q": ""}\n')
    result = cli(
        env,
        "conversation",
        "search",
        "{{ $json.q }}",
        "--input",
        str(questions),
        "--json",
        "--continue-on-fail",
    )
    assert result.exit_code == 1  # the empty query failed, the others ran
    rows: list[dict[str, Any]] = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["data"][0]["conversation"]["id"] for row in rows[:2]] == [made[w] for w in words]
    assert "error" in rows[2]
    assert "item 2: A search query is required" in result.stderr


def test_node_search_and_its_errors(server: LiveServer, api_key: str) -> None:
    credential = Credential(name="t", base_url=server.base_url, api_key=api_key)
    with Node(credential) as node:
        cid = node.create([("user", "the quokka smiled")], {"metadata": {"k": "v"}})["id"]
        found = node.search("quokka", metadata={"k": "v"})
        assert [hit["conversation"]["id"] for hit in found["data"]] == [cid]
        assert "**quokka**" in found["data"][0]["items"][0]["snippet"]
        assert node.search("quokka", metadata={"k": "other"})["data"] == []
        with pytest.raises(ValidationError):
            node.search("   ")
