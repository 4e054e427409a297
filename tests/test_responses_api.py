"""POST/GET/DELETE /v1/responses against a live parley (both backends), the strict SDK as client,
the deterministic upstream behind it."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer
from tests.upstream import FakeUpstream, Reply


def items_of(client: openai.OpenAI, conversation_id: str) -> list[Any]:
    """Every item of a conversation, oldest first."""
    return list(client.conversations.items.list(conversation_id, order="asc", limit=100))


def text_of(item: Any) -> str:
    return "".join(getattr(part, "text", "") for part in item.content)


def test_string_input_without_conversation(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    response = rclient.responses.create(model=model, input="Hello there")
    assert response.status == "completed"
    assert response.output_text == "echo: Hello there"
    assert response.conversation is None
    assert response.model == model
    assert response.store is True
    assert response.usage is not None and response.usage.total_tokens > 0
    (message,) = response.output
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    sent = upstream.requests(model)
    assert sent[-1]["messages"] == [{"role": "user", "content": "Hello there"}]
    assert "stream" not in sent[-1]
    assert rclient.responses.retrieve(response.id).model_dump() == response.model_dump()


def test_each_input_form_reaches_the_model(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    rclient.responses.create(
        model=model,
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Answer in English."},
            {"role": "system", "content": [{"type": "input_text", "text": "System rule."}]},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look "},
                    {"type": "input_text", "text": "here"},
                ],
            },
            {"role": "assistant", "content": "Earlier answer"},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "and this"},
                    {
                        "type": "input_image",
                        "image_url": "https://example.invalid/a.png",
                        "detail": "low",
                    },
                ],
            },
        ],
        temperature=0.5,
        top_p=0.9,
        max_output_tokens=64,
        user="u-1",
    )
    body = upstream.requests(model)[-1]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Answer in English."},
        {"role": "system", "content": "System rule."},
        {"role": "user", "content": "Look here"},
        {"role": "assistant", "content": "Earlier answer"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and this"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.invalid/a.png", "detail": "low"},
                },
            ],
        },
    ]
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9
    assert body["max_tokens"] == 64 and body["user"] == "u-1"


def test_conversation_as_string_then_object(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    conversation = rclient.conversations.create(
        items=[{"role": "user", "content": "My name is Ada."}]
    )
    first = rclient.responses.create(
        model=model, input="What is my name?", conversation=conversation.id, instructions="Be kind."
    )
    assert first.conversation is not None and first.conversation.id == conversation.id
    stored = items_of(rclient, conversation.id)
    assert [(i.type, getattr(i, "role", None)) for i in stored] == [
        ("message", "user"),
        ("message", "user"),
        ("message", "assistant"),
    ]
    # The output item in the response is the stored item, id and all.
    assert stored[-1].id == first.output[0].id
    assert text_of(stored[-1]) == "echo: What is my name?"
    second = rclient.responses.create(
        model=model, input="And again?", conversation={"id": conversation.id}
    )
    assert second.conversation is not None and second.conversation.id == conversation.id
    assert upstream.requests(model)[-1]["messages"] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "user", "content": "What is my name?"},
        {"role": "assistant", "content": "echo: What is my name?"},
        {"role": "user", "content": "And again?"},
    ]
    stored = items_of(rclient, conversation.id)
    assert len(stored) == 5 and stored[-1].id == second.output[0].id
    # Instructions are context, never an item.
    assert all("Be kind." not in text_of(i) for i in stored)


def test_conversation_without_input(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    conversation = rclient.conversations.create(items=[{"role": "user", "content": "Just this"}])
    response = rclient.responses.create(model=model, conversation=conversation.id)
    assert response.output_text == "echo: Just this"
    assert len(items_of(rclient, conversation.id)) == 2


def test_stream_with_the_sdk_helper(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    conversation = rclient.conversations.create()
    with rclient.responses.stream(
        model=model, input="one two three", conversation=conversation.id
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "echo: one two three" and len(deltas) == 4
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert final.output_text == "echo: one two three"
    assert upstream.requests(model)[-1]["stream"] is True
    again = rclient.responses.retrieve(final.id)
    assert again.output_text == final.output_text and again.output[0].id == final.output[0].id
    assert again.status == final.status == "completed" and again.usage == final.usage
    stored = items_of(rclient, conversation.id)
    assert [i.id for i in stored][-1] == final.output[0].id


def test_stream_true_iterates_and_equals_the_whole_answer(
    rclient: openai.OpenAI, model: str
) -> None:
    events = list(rclient.responses.create(model=model, input="same answer", stream=True))
    streamed = events[-1].response
    whole = rclient.responses.create(model=model, input="same answer")
    assert events[-1].type == "response.completed"
    assert streamed.output_text == whole.output_text
    strip = {"id", "created_at", "completed_at", "output"}
    assert {k: v for k, v in streamed.model_dump().items() if k not in strip} == {
        k: v for k, v in whole.model_dump().items() if k not in strip
    }


def test_first_delta_arrives_before_the_upstream_finishes(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    upstream.script(model, Reply(text="slow stream of words", chunk_delay=0.4))
    began = time.monotonic()
    first = None
    with rclient.responses.stream(model=model, input="x") as stream:
        for event in stream:
            if event.type == "response.output_text.delta" and first is None:
                first = time.monotonic() - began
        total = time.monotonic() - began
    assert first is not None
    # Six chunks 0.4 s apart: the whole answer takes over 2 s, the first word far less.
    assert total > 2.0 and first < 1.5


def test_stored_response_routes(rclient: openai.OpenAI, model: str) -> None:
    inputs = [{"role": "user", "content": f"part {n}"} for n in range(5)]
    response = rclient.responses.create(model=model, input=inputs)  # type: ignore[arg-type]
    listed = rclient.responses.input_items.list(response.id)
    assert [text_of(i) for i in listed.data] == [f"part {n}" for n in reversed(range(5))]
    asc = rclient.responses.input_items.list(response.id, order="asc", limit=2)
    assert [text_of(i) for i in asc.data] == ["part 0", "part 1"] and asc.has_more
    rest = rclient.responses.input_items.list(response.id, order="asc", after=asc.data[-1].id)
    assert [text_of(i) for i in rest.data] == ["part 2", "part 3", "part 4"] and not rest.has_more
    assert rest.first_id == rest.data[0].id and rest.last_id == rest.data[-1].id
    raw = rclient.responses.with_raw_response.delete(response.id)
    assert raw.http_response.json() == {"id": response.id, "object": "response", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        rclient.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        rclient.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        rclient.responses.input_items.list(response.id)


def test_previous_response_id_chain(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    first = rclient.responses.create(model=model, input="one", instructions="Old rules")
    second = rclient.responses.create(model=model, input="two", previous_response_id=first.id)
    third = rclient.responses.create(model=model, input="three", previous_response_id=second.id)
    assert third.previous_response_id == second.id
    assert upstream.requests(model)[-1]["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "echo: one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "echo: two"},
        {"role": "user", "content": "three"},
    ]
    unstored = rclient.responses.create(model=model, input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        rclient.responses.retrieve(unstored.id)
    with pytest.raises(openai.NotFoundError) as caught:
        rclient.responses.create(model=model, input="y", previous_response_id=unstored.id)
    assert unstored.id in caught.value.body["message"]


def test_store_false_still_appends_to_the_conversation(rclient: openai.OpenAI, model: str) -> None:
    conversation = rclient.conversations.create()
    response = rclient.responses.create(
        model=model, input="kept", conversation=conversation.id, store=False
    )
    assert [i.id for i in items_of(rclient, conversation.id)][-1] == response.output[0].id
    with pytest.raises(openai.NotFoundError):
        rclient.responses.retrieve(response.id)


def test_ten_concurrent_turns_stay_adjacent(rclient: openai.OpenAI, model: str) -> None:
    conversation = rclient.conversations.create()
    errors: list[BaseException] = []

    def turn(number: int) -> None:
        try:
            rclient.responses.create(
                model=model, input=f"turn {number}", conversation=conversation.id
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=turn, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    stored = items_of(rclient, conversation.id)
    assert len(stored) == 20
    seen = set()
    for user, answer in zip(stored[::2], stored[1::2], strict=True):
        assert user.role == "user" and answer.role == "assistant"
        assert text_of(answer) == "echo: " + text_of(user)
        seen.add(text_of(user))
    assert seen == {f"turn {n}" for n in range(10)}


def test_function_tools_round_trip(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    conversation = rclient.conversations.create()
    upstream.script(model, Reply(tool_calls=[("add", '{"a": 1, "b": 2}'), ("mul", '{"a": 3}')]))
    tools = [
        {
            "type": "function",
            "name": "add",
            "description": "Add",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        },
        {"type": "function", "name": "mul", "parameters": {"type": "object", "properties": {}}},
    ]
    first = rclient.responses.create(
        model=model,
        input="compute",
        conversation=conversation.id,
        tools=tools,
        tool_choice="auto",  # type: ignore[arg-type]
    )
    calls = first.output
    assert [(c.type, c.name, c.arguments, c.call_id) for c in calls] == [  # type: ignore[union-attr]
        ("function_call", "add", '{"a": 1, "b": 2}', "call_0"),
        ("function_call", "mul", '{"a": 3}', "call_1"),
    ]
    sent = upstream.requests(model)[-1]
    assert sent["tools"][0] == {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        },
    }
    assert sent["tool_choice"] == "auto" and sent["parallel_tool_calls"] is True
    second = rclient.responses.create(
        model=model,
        conversation=conversation.id,
        tools=tools,  # type: ignore[arg-type]
        input=[
            {"type": "function_call_output", "call_id": "call_0", "output": "3"},
            {"type": "function_call_output", "call_id": "call_1", "output": "9"},
        ],
    )
    assert upstream.requests(model)[-1]["messages"] == [
        {"role": "user", "content": "compute"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
                },
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "mul", "arguments": '{"a": 3}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": "3"},
        {"role": "tool", "tool_call_id": "call_1", "content": "9"},
    ]
    assert [i.type for i in items_of(rclient, conversation.id)] == [
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
        "message",
    ]
    assert second.output[0].type == "message"


def test_streamed_function_call_events(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    upstream.script(model, Reply(text="Let me add.", tool_calls=[("add", '{"a": 1, "b": 2}')]))
    tools = [
        {"type": "function", "name": "add", "parameters": {"type": "object", "properties": {}}}
    ]
    with rclient.responses.stream(model=model, input="add", tools=tools) as stream:  # type: ignore[arg-type]
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    assert kinds.index("response.output_text.done") < kinds.index(
        "response.function_call_arguments.delta"
    )
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done[0].arguments == '{"a": 1, "b": 2}'
    # OpenAI's ResponseFunctionCallArgumentsDoneEvent requires the function's name.
    assert done[0].model_dump()["name"] == "add"
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output[1].status == "completed"  # type: ignore[union-attr]


def test_length_finish_is_incomplete_and_still_stored(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    conversation = rclient.conversations.create()
    upstream.script(
        model, Reply(text="cut off", finish="length"), Reply(text="cut", finish="length")
    )
    response = rclient.responses.create(
        model=model, input="long", conversation=conversation.id, max_output_tokens=16
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete"  # type: ignore[union-attr]
    assert items_of(rclient, conversation.id)[-1].id == response.output[0].id
    events = list(rclient.responses.create(model=model, input="long", stream=True))
    assert events[-1].type == "response.incomplete"


def test_json_schema_format_is_passed_on(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    upstream.script(model, Reply(text='{"x": 1}'))
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    response = rclient.responses.create(
        model=model,
        input="json please",
        text={"format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": True}},
    )
    assert upstream.requests(model)[-1]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": True},
    }
    assert response.text is not None and response.text.format.type == "json_schema"
    rclient.responses.create(model=model, input="j", text={"format": {"type": "json_object"}})
    assert upstream.requests(model)[-1]["response_format"] == {"type": "json_object"}


def test_upstream_gets_its_own_key_never_the_clients(
    responses_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    key = responses_server.new_key()
    with responses_server.client(key) as client:
        client.responses.create(model=model, input="k")
    headers = {k.lower(): v for k, v in upstream.headers(model)[-1].items()}
    assert headers["authorization"] == "Bearer sk-upstream-secret"
    assert key not in str(upstream.headers(model))
    assert "sk-upstream-secret" not in responses_server.log()


def test_models(rclient: openai.OpenAI) -> None:
    names = [m.id for m in rclient.models.list()]
    assert names == ["fake-model", "fake-other", "org/big-model"]
    assert rclient.models.retrieve("fake-other").id == "fake-other"
    assert rclient.models.retrieve("org/big-model").id == "org/big-model"
    with pytest.raises(openai.NotFoundError):
        rclient.models.retrieve("no-such-model")


def test_client_disconnect_cancels_the_upstream(
    responses_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    key = responses_server.new_key()
    with responses_server.client(key) as client:
        conversation = client.conversations.create()
    upstream.script(model, Reply(text=" ".join(["word"] * 40), chunk_delay=0.1))
    body = {"model": model, "input": "go", "stream": True, "conversation": conversation.id}
    with httpx.stream(
        "POST",
        f"{responses_server.base_url}/responses",
        json=body,
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    ) as answer:
        for line in answer.iter_lines():
            if "output_text.delta" in line:
                break
    assert upstream.wait_cancelled(model) == 1
    with responses_server.client(key) as client:
        assert items_of(client, conversation.id) == []


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstreams_own_responses_api(
    rclient: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    model = f"resp-{'stream' if stream else 'whole'}-{time.monotonic_ns()}"
    conversation = rclient.conversations.create(items=[{"role": "user", "content": "Earlier"}])
    if stream:
        events = list(
            rclient.responses.create(
                model=model, input="Now", conversation=conversation.id, stream=True
            )
        )
        assert events[-1].type == "response.completed"
        response = events[-1].response
    else:
        response = rclient.responses.create(model=model, input="Now", conversation=conversation.id)
    assert response.output_text == "echo: Now"
    assert response.output[0].id.startswith("msg_") and response.output[0].id != "msg_up"
    sent = upstream.requests(model)[-1]
    # Stateless upstream: the whole context, nothing stored there, no parley ids.
    assert sent["store"] is False
    assert [(i["role"], i["content"][0]["text"]) for i in sent["input"]] == [
        ("user", "Earlier"),
        ("user", "Now"),
    ]
    assert all("id" not in item for item in sent["input"])
    stored = items_of(rclient, conversation.id)
    assert [i.id for i in stored][-1] == response.output[0].id
