"""n8n's tool-loop repeats, found without a server (the live side is in test_responses_n8n)."""

from __future__ import annotations

from typing import Any

from parley.responses.context import tool_loop_repeats


def user(value: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}


def call(call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "calc", "arguments": "{}"}


def output(call_id: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": "4"}


def answer(value: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": value}],
    }


def test_the_repeated_user_turn_is_dropped() -> None:
    history = [user("hi"), answer("hello"), user("2+2?"), call("c1")]
    assert tool_loop_repeats(history, [user("2+2?"), output("c1")]) == {0}


def test_a_second_round_drops_the_outputs_already_stored() -> None:
    history = [user("2+2?"), call("c1"), output("c1"), call("c2")]
    assert tool_loop_repeats(history, [user("2+2?"), output("c1"), output("c2")]) == {0, 1}


def test_a_system_and_user_lead_is_dropped_whole() -> None:
    system = {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "s"}]}
    history = [system, user("q"), call("c1")]
    assert tool_loop_repeats(history, [system, user("q"), output("c1")]) == {0, 1}


def test_the_string_form_matches_the_parts_form() -> None:
    history = [user("q"), call("c1")]
    inputs = [{"type": "message", "role": "user", "content": "q"}, output("c1")]
    assert tool_loop_repeats(history, inputs) == {0}


def test_nothing_is_dropped_otherwise() -> None:
    # No pending calls: a user may well say the same thing twice.
    assert tool_loop_repeats([user("q"), answer("a")], [user("q")]) == set()
    # Different words.
    assert tool_loop_repeats([user("q"), call("c1")], [user("other"), output("c1")]) == set()
    # No output for the pending call.
    assert tool_loop_repeats([user("q"), call("c1")], [user("q")]) == set()
    # An output for some other call.
    assert tool_loop_repeats([user("q"), call("c1")], [user("q"), output("zz")]) == set()
    # Only outputs: nothing repeated.
    assert tool_loop_repeats([user("q"), call("c1")], [output("c1")]) == set()
