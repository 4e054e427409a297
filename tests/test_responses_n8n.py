"""n8n's Message a Model bodies, byte for byte as captured, against a live parley; the tool loop
(n8n-io/n8n#22987) with parley's dedupe on, and off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.upstream import FakeUpstream, Reply

# Captured from n8n 2.41.1 (reference §5), the model name aside.
CAPTURED = (
    '{"model":"%s","input":[{"role":"user","content":[{"type":"input_text",'
    '"text":"What did I say first?"}]}],"parallel_tool_calls":true,"store":true,'
    '"background":false,"conversation":"%s"}'
)
CALCULATOR = {
    "type": "function",
    "name": "calculator",
    "description": "Useful for getting the result of a math expression.",
    "parameters": {
        "type": "object",
        "properties": {"input": {"type": "string"}},
        "required": ["input"],
        "additionalProperties": False,
    },
    "strict": False,
}
QUESTION = {"role": "user", "content": [{"type": "input_text", "text": "What is 6 times 7?"}]}


def n8n_post(
    server: LiveServer,
    key: str,
    path: str,
    body: str | dict[str, Any],
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    """A request as n8n sends it: base URL + path concatenated, its headers (and ``extra``, as
    the credential's custom header adds)."""
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.post(
        f"{server.base_url}/{path}",  # a credential URL ending in '/' gives '//' (captured)
        content=content,
        headers={
            "accept": "application/json",
            "content-type": "application/json",
            "authorization": f"Bearer {key}",
            "openai-organization": "",
            "user-agent": "n8n",
            "connection": "close",
            **(extra or {}),
        },
        timeout=30,
    )


def create_conversation(server: LiveServer, key: str, text: str) -> str:
    body = {"items": [{"role": "user", "content": [{"type": "input_text", "text": text}]}]}
    answer = n8n_post(server, key, "/conversations", body)
    assert answer.status_code == 200
    return str(answer.json()["id"])


def stored(server: LiveServer, key: str, conversation: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{server.base_url}/conversations/{conversation}/items?order=asc&limit=100",
        headers={"authorization": f"Bearer {key}"},
    )
    return list(answer.json()["data"])


def test_captured_message_a_model_body(
    responses_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    key = responses_server.new_key()
    conversation = create_conversation(responses_server, key, "I like tea.")
    answer = n8n_post(responses_server, key, "/responses", CAPTURED % (model, conversation))
    assert answer.status_code == 200, answer.text
    response = answer.json()
    assert response["conversation"] == {"id": conversation}
    assert response["output"][0]["content"][0]["text"] == "echo: What did I say first?"
    # n8n treats a present `error` as failure only when it is not null; it is null here.
    assert response["error"] is None
    assert upstream.requests(model)[-1]["messages"] == [
        {"role": "user", "content": "I like tea."},
        {"role": "user", "content": "What did I say first?"},
    ]
    assert [i["type"] for i in stored(responses_server, key, conversation)] == ["message"] * 3


def run_tool_loop(
    server: LiveServer, upstream: FakeUpstream, model: str, extra: dict[str, str] | None = None
) -> tuple[str, str]:
    """n8n's loop: the question with the tool, then the question again with the tool's output."""
    key = server.new_key()
    conversation = create_conversation(server, key, "Hi, I am Bo.")
    upstream.script(model, Reply(tool_calls=[("calculator", '{"input":"6*7"}')]), Reply(text="42"))
    base = {
        "model": model,
        "parallel_tool_calls": True,
        "store": True,
        "background": False,
        "conversation": conversation,
        "tools": [CALCULATOR],
    }
    first = n8n_post(server, key, "/responses", {**base, "input": [QUESTION]}, extra)
    assert first.status_code == 200, first.text
    (call,) = first.json()["output"]
    assert call["type"] == "function_call" and call["name"] == "calculator"
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "42"}
    second = n8n_post(server, key, "/responses", {**base, "input": [QUESTION, output]}, extra)
    assert second.status_code == 200, second.text
    assert second.json()["output"][0]["content"][0]["text"] == "42"
    return key, conversation


ONCE = [
    ("message", "user"),
    ("message", "user"),
    ("function_call", None),
    ("function_call_output", None),
    ("message", "assistant"),
]
# What OpenAI itself does: the question is stored, and shown to the model, twice.
TWICE = [
    ("message", "user"),
    ("message", "user"),
    ("function_call", None),
    ("message", "user"),
    ("function_call_output", None),
    ("message", "assistant"),
]


def kinds(items: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(i["type"], i.get("role")) for i in items]


@pytest.mark.parametrize(("header", "expected"), [("off", TWICE), ("OFF", TWICE), ("on", ONCE)])
def test_the_dedupe_header_switches_it_per_request(
    responses_server: LiveServer,
    upstream: FakeUpstream,
    model: str,
    header: str,
    expected: list[tuple[str, str | None]],
) -> None:
    extra = {"X-Parley-Tool-Loop-Dedupe": header}
    key, conversation = run_tool_loop(responses_server, upstream, model, extra)
    assert kinds(stored(responses_server, key, conversation)) == expected
    messages = upstream.requests(model)[-1]["messages"]
    assert sum(m.get("content") == "What is 6 times 7?" for m in messages) == len(expected) - 4


def test_a_bad_dedupe_header_is_400_before_the_model(
    responses_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    key = responses_server.new_key()
    conversation = create_conversation(responses_server, key, "Hi")
    body = {"model": model, "input": [QUESTION], "conversation": conversation}
    answer = n8n_post(
        responses_server, key, "/responses", body, {"X-Parley-Tool-Loop-Dedupe": "maybe"}
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["message"] == (
        "Invalid 'X-Parley-Tool-Loop-Dedupe' header: 'maybe'. Expected 'on' or 'off'."
    )
    assert error["code"] == "invalid_value"
    assert upstream.requests(model) == []
    assert len(stored(responses_server, key, conversation)) == 1


def test_tool_loop_stores_and_sends_the_question_once(
    responses_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    key, conversation = run_tool_loop(responses_server, upstream, model)
    assert kinds(stored(responses_server, key, conversation)) == ONCE
    messages = upstream.requests(model)[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "user", "assistant", "tool"]
    assert sum(m.get("content") == "What is 6 times 7?" for m in messages) == 1


@pytest.fixture
def no_dedupe_server(upstream: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    live = start_server(
        str(tmp_path / "parley.db"),
        tmp_path / "server.log",
        args=["--upstream", upstream.url, "--no-tool-loop-dedupe"],
    )
    yield live
    stop_server(live)


def test_tool_loop_with_the_dedupe_switched_off(
    no_dedupe_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    key, conversation = run_tool_loop(no_dedupe_server, upstream, model)
    assert kinds(stored(no_dedupe_server, key, conversation)) == TWICE
    messages = upstream.requests(model)[-1]["messages"]
    assert sum(m.get("content") == "What is 6 times 7?" for m in messages) == 2


def test_the_header_turns_it_on_where_the_server_has_it_off(
    no_dedupe_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    extra = {"X-Parley-Tool-Loop-Dedupe": "on"}
    key, conversation = run_tool_loop(no_dedupe_server, upstream, model, extra)
    assert kinds(stored(no_dedupe_server, key, conversation)) == ONCE
