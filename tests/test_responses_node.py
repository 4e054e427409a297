"""Message a Model from Python (parley.node) and from the shell (`parley response create`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from parley.cli import main
from parley.client import ValidationError
from parley.credentials import Credential
from parley.node import Node, message_model_body
from tests.conftest import LiveServer
from tests.upstream import FakeUpstream, Reply


@pytest.fixture
def key(responses_server: LiveServer) -> str:
    return responses_server.new_key()


@pytest.fixture
def env(responses_server: LiveServer, key: str, tmp_path: Path) -> dict[str, str | None]:
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "OPENAI_API_KEY": key,
        "OPENAI_BASE_URL": responses_server.base_url,
        "PARLEY_CREDENTIAL": None,
        "OPENAI_ORG_ID": None,
    }


def cli(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def test_the_body_is_what_n8n_sends() -> None:
    body = message_model_body(
        "gpt-4o-mini", [("user", "What did I say first?")], {"conversationId": "conv_1"}
    )
    assert json.dumps(body, separators=(",", ":")) == (
        '{"model":"gpt-4o-mini","input":[{"role":"user","content":[{"type":"input_text",'
        '"text":"What did I say first?"}]}],"parallel_tool_calls":true,"store":true,'
        '"background":false,"conversation":"conv_1"}'
    )
    with pytest.raises(ValidationError):
        message_model_body("", [("user", "x")])
    with pytest.raises(ValidationError):
        message_model_body("m", [])


def test_message_a_model_in_a_conversation(
    responses_server: LiveServer, key: str, model: str
) -> None:
    with Node(Credential("t", key, responses_server.base_url)) as node:
        conversation = node.create([("user", "I am Bo.")])
        simple = node.message_model(
            model,
            [("user", "Who am I?")],
            {"conversationId": conversation["id"], "instructions": "Be short."},
        )
        assert list(simple) == ["output"]
        assert simple["output"][0]["content"][0]["text"] == "echo: Who am I?"
        whole = node.message_model(
            model, [("user", "Again")], {"conversationId": conversation["id"]}, simplify=False
        )
        assert whole["object"] == "response" and whole["conversation"] == {"id": conversation["id"]}
        items = node.list_items(conversation["id"], order="asc")["data"]
        assert [i["content"][0]["text"] for i in items] == [
            "I am Bo.",
            "Who am I?",
            "echo: Who am I?",
            "Again",
            "echo: Again",
        ]


def test_cli_streams_the_text(
    responses_server: LiveServer, upstream: FakeUpstream, env: dict[str, str | None], model: str
) -> None:
    made = json.loads(cli(env, "conversation", "create", "--message", "user:hi").stdout)
    upstream.script(model, Reply(text="one two three four", chunk_delay=0.4))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "parley",
            "response",
            "create",
            "--model",
            model,
            "--conversation",
            made["id"],
            "--input",
            "go",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
    )
    assert process.stdout is not None
    # Read the pipe itself: communicate() below reads the descriptor, not Python's buffer.
    first = b""
    while len(first) < 4:
        first += os.read(process.stdout.fileno(), 4 - len(first))
    # The first word is on the terminal while the model is still producing the rest.
    assert first == b"one " and process.poll() is None
    rest, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert first + rest == b"one two three four\n"
    assert b"resp_" in err and b"(completed)" in err


def test_cli_prints_a_refusal_and_not_the_reasoning(
    env: dict[str, str | None], upstream: FakeUpstream, model: str
) -> None:
    upstream.script(model, Reply(text=None, refusal="Not that.", reasoning="Should I? No."))
    result = cli(env, "response", "create", "--model", model, "--input", "x")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Not that.\n"


def test_cli_json_and_per_item_runs(env: dict[str, str | None], tmp_path: Path, model: str) -> None:
    whole = cli(env, "response", "create", "--model", model, "--input", "hello", "--json")
    assert whole.exit_code == 0, whole.output
    answer: dict[str, Any] = json.loads(whole.stdout)
    assert (
        answer["object"] == "response"
        and answer["output"][0]["content"][0]["text"] == "echo: hello"
    )
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"q": "first"}\n{"q": "second"}\n')
    run = cli(
        env,
        "response",
        "create",
        "--model",
        model,
        "--input",
        "{{ $json.q }}",
        "--input-file",
        str(questions),
    )
    assert run.exit_code == 0, run.output
    outputs = [json.loads(line) for line in run.stdout.splitlines()]
    assert [o["output"][0]["content"][0]["text"] for o in outputs] == [
        "echo: first",
        "echo: second",
    ]


def test_cli_errors_say_what_went_wrong(env: dict[str, str | None], model: str) -> None:
    missing = cli(
        env, "response", "create", "--model", model, "--conversation", "conv_nope", "--input", "x"
    )
    assert missing.exit_code == 1
    assert "conv_nope" in missing.output
    nothing = cli(env, "response", "create", "--model", model)
    assert nothing.exit_code == 2 and "--input" in nothing.output
