"""The Responses details OpenAI's types pin down: include and logprobs, refusals, reasoning, the
Response object's defaults, mid-stream failures and previous_response_id chains. A live parley
(both backends), the strict SDK, the deterministic upstream behind it."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer
from tests.upstream import FakeUpstream, Reply, logprob_of

LOGPROBS = "message.output_text.logprobs"


def items_of(client: openai.OpenAI, conversation_id: str) -> list[Any]:
    return list(client.conversations.items.list(conversation_id, order="asc", limit=100))


def stream_events(client: openai.OpenAI, **body: Any) -> list[Any]:
    with client.responses.stream(**body) as stream:
        return list(stream)


def without_bytes(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "token": entry["token"],
        "logprob": entry["logprob"],
        "top_logprobs": [
            {"token": t["token"], "logprob": t["logprob"]} for t in entry["top_logprobs"]
        ],
    }


# include and logprobs


@pytest.mark.parametrize("kind", ["chat", "responses"])
def test_logprobs_are_asked_for_and_mapped_back(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str, kind: str
) -> None:
    name = model if kind == "chat" else f"resp-{model}"
    upstream.script(name, Reply(text="two words"))
    response = rclient.responses.create(model=name, input="x", include=[LOGPROBS], top_logprobs=2)
    sent = upstream.requests(name)[-1]
    if kind == "chat":
        assert sent["logprobs"] is True and sent["top_logprobs"] == 2
    else:
        assert sent["include"] == [LOGPROBS] and sent["top_logprobs"] == 2
    assert response.top_logprobs == 2
    part = response.output[0].content[0]
    assert part.type == "output_text"
    expected = [logprob_of("two ", 2), logprob_of("words", 2)]
    assert [entry.model_dump() for entry in part.logprobs or []] == expected
    assert expected[0]["top_logprobs"][1]["token"] == "alt1"
    again = rclient.responses.retrieve(response.id, include=[LOGPROBS])
    assert again.model_dump() == response.model_dump()


def test_retrieve_and_input_items_check_include(
    responses_server: LiveServer, rclient: openai.OpenAI, model: str
) -> None:
    response = rclient.responses.create(model=model, input="x")
    listed = rclient.responses.input_items.list(response.id, include=[LOGPROBS])
    assert [item.type for item in listed] == ["message"]
    for path in (response.id, f"{response.id}/input_items"):
        answer = httpx.get(
            f"{responses_server.base_url}/responses/{path}?include[]=logprobs",
            headers={"authorization": f"Bearer {rclient.api_key}"},
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["param"] == "include[0]"


@pytest.mark.parametrize("kind", ["chat", "responses"])
def test_streamed_deltas_carry_their_logprobs(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str, kind: str
) -> None:
    name = model if kind == "chat" else f"resp-{model}"
    upstream.script(name, Reply(text="a bb ccc"))
    events = stream_events(rclient, model=name, input="x", include=[LOGPROBS], top_logprobs=1)
    pieces = ["a ", "bb ", "ccc"]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert [e.delta for e in deltas] == pieces
    assert [[lp.model_dump() for lp in e.logprobs] for e in deltas] == [
        [without_bytes(logprob_of(piece, 1))] for piece in pieces
    ]
    (done,) = [e for e in events if e.type == "response.output_text.done"]
    assert [lp.model_dump() for lp in done.logprobs] == [
        without_bytes(logprob_of(piece, 1)) for piece in pieces
    ]
    final = events[-1].response
    assert [lp.model_dump() for lp in final.output[0].content[0].logprobs] == [
        logprob_of(piece, 1) for piece in pieces
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_no_logprobs_when_not_asked(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str, stream: bool
) -> None:
    # A careless server sends them anyway; the answer shows what was asked for: nothing.
    upstream.script(model, Reply(text="hello there", logprobs_unasked=True))
    if stream:
        events = stream_events(rclient, model=model, input="x")
        assert all(e.logprobs == [] for e in events if e.type == "response.output_text.delta")
        response = events[-1].response
    else:
        response = rclient.responses.create(model=model, input="x", top_logprobs=3)
        # top_logprobs alone asks for nothing (OpenAI returns logprobs only with the include).
        assert response.top_logprobs == 3
    assert response.output[0].content[0].logprobs == []
    assert "logprobs" not in upstream.requests(model)[-1]


def test_include_values_parley_always_honours(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    image = {"type": "input_image", "image_url": "https://example.invalid/a.png", "detail": "auto"}
    response = rclient.responses.create(
        model=model,
        input=[{"role": "user", "content": [{"type": "input_text", "text": "see"}, image]}],
        include=["message.input_image.image_url", "computer_call_output.output.image_url"],
    )
    (item,) = rclient.responses.input_items.list(response.id)
    assert item.content[1].image_url == "https://example.invalid/a.png"
    assert "logprobs" not in upstream.requests(model)[-1]


@pytest.mark.parametrize(
    ("include", "code", "says"),
    [
        (["reasoning.encrypted_content"], "unsupported_value", "never encrypted"),
        (["file_search_call.results"], "unsupported_value", "file_search is a hosted tool"),
        (["web_search_call.action.sources"], "unsupported_value", "web_search is a hosted tool"),
        (["code_interpreter_call.outputs"], "unsupported_value", "code_interpreter"),
        (["message.output_text.logprob"], "invalid_value", "Supported values are"),
        ([7], "invalid_value", "Supported values are"),
    ],
)
def test_include_values_parley_cannot_honour_are_400(
    responses_server: LiveServer,
    rclient: openai.OpenAI,
    upstream: FakeUpstream,
    model: str,
    include: list[Any],
    code: str,
    says: str,
) -> None:
    conversation = rclient.conversations.create(items=[{"role": "user", "content": "hi"}])
    answer = httpx.post(
        f"{responses_server.base_url}/responses",
        json={
            "model": model,
            "input": "x",
            "conversation": conversation.id,
            "include": [LOGPROBS, *include],
        },
        headers={"authorization": f"Bearer {rclient.api_key}"},
        timeout=30,
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == "include[1]" and error["code"] == code
    assert says in error["message"]
    assert upstream.requests(model) == []
    assert len(items_of(rclient, conversation.id)) == 1


@pytest.mark.parametrize(
    ("value", "code"), [(21, "integer_above_max_value"), (-1, "integer_below_min_value")]
)
def test_top_logprobs_out_of_range(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str, value: int, code: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        rclient.responses.create(model=model, input="x", top_logprobs=value)
    assert caught.value.param == "top_logprobs" and caught.value.code == code
    assert upstream.requests(model) == []


# refusals


def test_a_refusal_is_a_refusal_part(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    conversation = rclient.conversations.create()
    upstream.script(model, Reply(text=None, refusal="I can't help with that."))
    response = rclient.responses.create(model=model, input="bad", conversation=conversation.id)
    (message,) = response.output
    assert [part.model_dump() for part in message.content] == [
        {"type": "refusal", "refusal": "I can't help with that."}
    ]
    assert response.output_text == ""
    stored = items_of(rclient, conversation.id)
    assert stored[-1].content[0].type == "refusal"
    # The next turn shows the model its own refusal, as assistant text.
    rclient.responses.create(model=model, input="again", conversation=conversation.id)
    assert upstream.requests(model)[-1]["messages"][1] == {
        "role": "assistant",
        "content": "I can't help with that.",
    }


def test_a_streamed_refusal_has_its_own_events(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    upstream.script(model, Reply(text="Well. ", refusal="No, sorry."))
    events = stream_events(rclient, model=model, input="x")
    kinds = [e.type for e in events]
    assert kinds[kinds.index("response.output_text.done") :] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.content_part.added",
        "response.refusal.delta",
        "response.refusal.delta",
        "response.refusal.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    refusal = [e for e in events if e.type.startswith("response.refusal")]
    assert "".join(e.delta for e in refusal[:2]) == "No, sorry."
    assert refusal[2].refusal == "No, sorry." and {e.content_index for e in refusal} == {1}
    (added,) = [e for e in events if e.type == "response.content_part.added" and e.content_index]
    assert added.part.model_dump() == {"type": "refusal", "refusal": ""}
    final = events[-1].response.output[0]
    assert [p.type for p in final.content] == ["output_text", "refusal"]
    assert final.content[1].refusal == "No, sorry."


# reasoning


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_becomes_a_reasoning_item(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str, field: str
) -> None:
    conversation = rclient.conversations.create()
    upstream.script(model, Reply(text="4", reasoning="2+2 is 4.", reasoning_field=field))
    response = rclient.responses.create(model=model, input="2+2?", conversation=conversation.id)
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert reasoning.summary == []
    assert [c.model_dump() for c in reasoning.content or []] == [
        {"type": "reasoning_text", "text": "2+2 is 4."}
    ]
    assert response.output_text == "4"
    # Stored in the conversation as OpenAI stores it, but never sent to a chat model again.
    stored = items_of(rclient, conversation.id)
    assert [i.type for i in stored] == ["message", "reasoning", "message"]
    assert stored[1].id == reasoning.id
    rclient.responses.create(model=model, input="and 3+3?", conversation=conversation.id)
    assert upstream.requests(model)[-1]["messages"] == [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "and 3+3?"},
    ]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_streamed_reasoning_has_its_own_events(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str, field: str
) -> None:
    upstream.script(model, Reply(text="yes", reasoning="Think it over.", reasoning_field=field))
    events = stream_events(rclient, model=model, input="x")
    kinds = [e.type for e in events]
    assert kinds[2:9] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
    ]
    assert kinds[9:11] == ["response.output_item.done", "response.output_item.added"]
    assert events[2].item.type == "reasoning" and events[2].output_index == 0
    assert events[3].part.model_dump() == {"type": "reasoning_text", "text": ""}
    assert "".join(e.delta for e in events[4:7]) == "Think it over."
    assert events[7].text == "Think it over."
    assert events[9].item.content[0].text == "Think it over."
    assert events[10].item.type == "message" and events[10].output_index == 1
    final = events[-1].response
    assert [i.type for i in final.output] == ["reasoning", "message"]
    assert final.output_text == "yes"


# the Response object's defaults


def test_the_response_shows_openai_defaults(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    response = rclient.responses.create(model=model, input="x")
    assert response.temperature == 1.0 and response.top_p == 1.0
    assert response.top_logprobs == 0
    assert response.tool_choice == "auto" and response.tools == []
    assert response.truncation == "disabled"
    assert response.service_tier == "default"
    assert response.reasoning is not None
    assert response.reasoning.effort is None and response.reasoning.summary is None
    assert response.text is not None and response.text.format.type == "text"
    assert response.parallel_tool_calls is True and response.background is False
    assert response.max_output_tokens is None and response.max_tool_calls is None
    assert response.metadata == {} and response.user is None
    # Shown, not sent: the model server keeps its own defaults.
    sent = upstream.requests(model)[-1]
    assert "temperature" not in sent and "top_p" not in sent and "logprobs" not in sent
    given = rclient.responses.create(model=model, input="x", temperature=0.2, top_p=0.5)
    assert given.temperature == 0.2 and given.top_p == 0.5


# mid-stream failures


@pytest.mark.parametrize(
    ("reply", "code", "says"),
    [
        (
            Reply(
                text="a b c d",
                mid_error_after=2,
                mid_error={
                    "error": {
                        "message": "maximum context length exceeded",
                        "type": "invalid_request_error",
                        "code": "context_length_exceeded",
                    }
                },
            ),
            "invalid_prompt",
            "failed mid-answer: maximum context length exceeded",
        ),
        (
            Reply(
                text="a b c d",
                mid_error_after=2,
                mid_error={"error": {"message": "bad", "code": 400}},
            ),
            "invalid_prompt",
            "failed mid-answer: bad",
        ),
        (
            Reply(
                text="a b c d",
                mid_error_after=2,
                mid_error={
                    "error": {"message": "engine died", "type": "server_error", "code": 500}
                },
            ),
            "server_error",
            "failed mid-answer: engine died",
        ),
        (
            Reply(
                text="a b c d",
                mid_error_after=2,
                mid_error={"error": {"message": "slow down", "type": "rate_limit_error"}},
            ),
            "rate_limit_exceeded",
            "failed mid-answer: slow down",
        ),
        (
            Reply(text="a b c d", mid_error_after=2, mid_error=b"{not json"),
            "server_error",
            "a stream chunk is not JSON",
        ),
        (
            Reply(text="a b c d", mid_error_after=2, mid_error={"choices": "nonsense"}),
            "server_error",
            "a stream chunk is not a chat completion chunk",
        ),
        (
            Reply(text="a b c d", break_after=3),
            "server_error",
            "the stream ended before the answer did",
        ),
    ],
)
def test_mid_stream_failures_are_named_and_append_nothing(
    rclient: openai.OpenAI,
    upstream: FakeUpstream,
    model: str,
    reply: Reply,
    code: str,
    says: str,
) -> None:
    conversation = rclient.conversations.create(items=[{"role": "user", "content": "before"}])
    upstream.script(model, reply)
    events = list(
        rclient.responses.create(model=model, input="x", conversation=conversation.id, stream=True)
    )
    assert any(e.type == "response.output_text.delta" for e in events)
    failed = events[-1]
    assert failed.type == "response.failed" and failed.response.status == "failed"
    assert failed.response.error is not None
    assert failed.response.error.code == code
    assert failed.response.error.message.startswith("The model server (upstream) ")
    assert says in failed.response.error.message
    assert len(items_of(rclient, conversation.id)) == 1
    with pytest.raises(openai.NotFoundError):
        rclient.responses.retrieve(failed.response.id)


def test_a_stalled_stream_is_named(rclient: openai.OpenAI, upstream: FakeUpstream) -> None:
    # The slow upstream's timeout is one second; the second chunk comes two seconds later.
    conversation = rclient.conversations.create()
    upstream.script("slow-stall", Reply(text="a b", chunk_delay=2.0))
    events = list(
        rclient.responses.create(
            model="slow-stall", input="x", conversation=conversation.id, stream=True
        )
    )
    error = events[-1].response.error
    assert events[-1].type == "response.failed" and error is not None
    assert error.code == "server_error"
    assert error.message == (
        "The model server (slow) stopped sending mid-answer: nothing arrived within its timeout."
    )
    assert items_of(rclient, conversation.id) == []


# previous_response_id chains


def test_a_chain_through_a_deleted_response_is_404_naming_it(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    first = rclient.responses.create(model=model, input="one")
    second = rclient.responses.create(model=model, input="two", previous_response_id=first.id)
    third = rclient.responses.create(model=model, input="three", previous_response_id=second.id)
    sent = len(upstream.requests(model))
    rclient.responses.delete(first.id)
    for newest in (third.id, second.id):
        with pytest.raises(openai.NotFoundError) as caught:
            rclient.responses.create(model=model, input="four", previous_response_id=newest)
        assert caught.value.param == "previous_response_id"
        assert caught.value.code == "previous_response_not_found"
        assert caught.value.body["message"].startswith(
            f"Previous response with id '{first.id}' not found: it is an earlier link of the "
            f"previous_response_id chain of '{newest}' and was deleted"
        )
    rclient.responses.delete(third.id)
    with pytest.raises(openai.NotFoundError) as caught:
        rclient.responses.create(model=model, input="four", previous_response_id=third.id)
    assert caught.value.body["message"] == f"Previous response with id '{third.id}' not found."
    assert len(upstream.requests(model)) == sent
