"""Items ↔ Chat Completions messages: the pure translation, both ways."""

from __future__ import annotations

from typing import Any

import pytest

from parley.errors import InvalidRequest
from parley.upstreams.base import (
    Finish,
    ModelCall,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from parley.upstreams.translate import ChunkReader, chat_body, completion_events, to_messages


def msg(role: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": list(parts)}


def text(kind: str, value: str) -> dict[str, Any]:
    return {"type": kind, "text": value}


def test_roles_and_text_parts() -> None:
    items = [
        msg("developer", text("input_text", "dev")),
        msg("system", text("input_text", "sys")),
        msg("user", text("input_text", "a"), text("input_text", "b")),
        msg("assistant", {"type": "output_text", "text": "ok", "annotations": [], "logprobs": []}),
    ]
    assert to_messages("inst", items) == [
        {"role": "system", "content": "inst"},
        {"role": "system", "content": "dev"},
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "ab"},
        {"role": "assistant", "content": "ok"},
    ]


def test_images_become_image_url_parts() -> None:
    items = [
        msg(
            "user",
            text("input_text", "see"),
            {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "auto"},
            {"type": "input_image", "image_url": "https://x.invalid/i.png", "detail": "high"},
        )
    ]
    assert to_messages(None, items) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "see"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.invalid/i.png", "detail": "high"},
                },
            ],
        }
    ]


def test_consecutive_function_calls_join_the_assistant_turn() -> None:
    items = [
        msg("user", text("input_text", "go")),
        msg("assistant", text("output_text", "Calling.")),
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": '{"x":1}'},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [text("input_text", "two")]},
        {"type": "function_call", "call_id": "c3", "name": "f", "arguments": "{}"},
    ]
    assert to_messages(None, items) == [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": "Calling.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": '{"x":1}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c3", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
    ]


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"type": "web_search_call", "id": "ws_1"}, "input[0].type"),
        ({"type": "computer_call", "id": "cu_1"}, "input[0].type"),
        (msg("user", {"type": "input_file", "file_id": "file_1"}), "input[0].content[0]"),
        (msg("user", {"type": "input_image", "file_id": "file_1"}), "input[0].content[0]"),
        (
            msg("system", {"type": "input_image", "image_url": "https://x.invalid"}),
            "input[0].content",
        ),
    ],
)
def test_what_chat_cannot_take_is_refused_by_name(item: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_messages(None, [item])
    assert caught.value.param == param


def test_history_items_are_named_by_id() -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_messages(None, [{"type": "web_search_call", "id": "ws_9"}], history=1)
    assert caught.value.param == "conversation"
    assert "'ws_9'" in caught.value.message


def test_chat_body_options() -> None:
    call = ModelCall(
        model="m",
        instructions=None,
        items=[msg("user", text("input_text", "hi"))],
        stream=True,
        tools=[
            {"type": "function", "name": "f", "description": None, "parameters": {}, "strict": True}
        ],
        tool_choice={"type": "function", "name": "f"},
        parallel_tool_calls=False,
        temperature=0.0,
        max_output_tokens=100,
        text_format={"type": "json_object"},
    )
    assert chat_body(call) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {}, "strict": True}}
        ],
        "parallel_tool_calls": False,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "temperature": 0.0,
        "max_tokens": 100,
        "response_format": {"type": "json_object"},
    }


def test_whole_completion_events() -> None:
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "hm",
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": 1},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
    assert list(completion_events(body)) == [
        TextDelta("hm"),
        ToolCallStart(0, "call_a", "f"),
        ToolCallDelta(0, "{}"),
        Finish("tool_calls", Usage(5, 2, 1, 0)),
    ]


def test_stream_chunks_and_late_usage() -> None:
    reader = ChunkReader()
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    ]
    events = [event for chunk in chunks for event in reader.feed(chunk)]
    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        ToolCallStart(0, "c", "f"),
        ToolCallDelta(0, "{}"),
        Finish("tool_calls", Usage(3, 4)),
    ]
    assert list(reader.close()) == []


def test_stream_without_usage_finishes_on_close() -> None:
    reader = ChunkReader()
    assert (
        list(reader.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})) == []
    )
    assert list(reader.close()) == [Finish("length")]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_refusal_and_logprobs_of_a_whole_completion(field: str) -> None:
    entry = {
        "token": "é",
        "logprob": -0.25,
        "bytes": None,
        "top_logprobs": [{"token": "é", "logprob": -0.25, "bytes": [195, 169]}],
    }
    body = {
        "choices": [
            {
                "message": {"content": "é", "refusal": "no", field: "hmm"},
                "logprobs": {"content": [entry]},
                "finish_reason": "stop",
            }
        ]
    }
    assert list(completion_events(body)) == [
        ReasoningDelta("hmm"),
        TextDelta(
            "é",
            [
                {
                    "token": "é",
                    "bytes": [195, 169],
                    "logprob": -0.25,
                    "top_logprobs": [{"token": "é", "bytes": [195, 169], "logprob": -0.25}],
                }
            ],
        ),
        RefusalDelta("no"),
        Finish("stop"),
    ]


def test_reasoning_and_refusal_chunks() -> None:
    reader = ChunkReader()
    chunks = [
        {"choices": [{"index": 0, "delta": {"reasoning_content": "a"}}]},
        {"choices": [{"index": 0, "delta": {"reasoning": "b"}}]},
        {"choices": [{"index": 0, "delta": {"content": "c", "reasoning": None}}]},
        {"choices": [{"index": 0, "delta": {"refusal": "d"}, "finish_reason": "stop"}]},
    ]
    events = [event for chunk in chunks for event in reader.feed(chunk)]
    assert events == [ReasoningDelta("a"), ReasoningDelta("b"), TextDelta("c"), RefusalDelta("d")]


def test_logprobs_are_asked_for_only_when_wanted() -> None:
    call = ModelCall(model="m", instructions=None, items=[], stream=False)
    assert "logprobs" not in chat_body(call) and "top_logprobs" not in chat_body(call)
    wanted = ModelCall(model="m", instructions=None, items=[], stream=False, logprobs=True)
    assert chat_body(wanted)["logprobs"] is True and "top_logprobs" not in chat_body(wanted)
    top = ModelCall(
        model="m", instructions=None, items=[], stream=False, logprobs=True, top_logprobs=0
    )
    assert chat_body(top)["top_logprobs"] == 0
