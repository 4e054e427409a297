"""Every error of /v1/responses in OpenAI's envelope, with nothing appended; project isolation."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import httpx
import openai
import pytest

from parley import auth
from parley.store import open_store
from tests.conftest import LiveServer
from tests.helpers import assert_error
from tests.upstream import FakeUpstream, Reply


def count(client: openai.OpenAI, conversation_id: str) -> int:
    return len(list(client.conversations.items.list(conversation_id, limit=100)))


@pytest.fixture
def conversation(rclient: openai.OpenAI) -> str:
    return rclient.conversations.create(items=[{"role": "user", "content": "before"}]).id


def raw(server: LiveServer, key: str, body: Any) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/responses",
        json=body,
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )


@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        ({"background": True}, "background", "unsupported_parameter"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type", "unsupported_value"),
        (
            {"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]},
            "tools[0].type",
            "unsupported_value",
        ),
        ({"frobnicate": 1}, "frobnicate", "unknown_parameter"),
        ({"reasoning": {"effort": "high"}}, "reasoning", "unsupported_parameter"),
        ({"temperature": 3}, "temperature", "decimal_above_max_value"),
        ({"input": 5}, "input", "invalid_type"),
        ({"input": [{"type": "bogus"}]}, "input[0].type", "invalid_value"),
        ({"tool_choice": "sometimes"}, "tool_choice", "invalid_value"),
        ({"metadata": {"k": 1}}, "metadata.k", "invalid_type"),
        (
            {
                "input": [
                    {
                        "type": "web_search_call",
                        "id": "ws_1",
                        "status": "completed",
                        "action": {"type": "search", "query": "q"},
                    }
                ]
            },
            "input[0].type",
            "unsupported_value",
        ),
    ],
)
def test_bad_requests_name_the_field_and_append_nothing(
    responses_server: LiveServer,
    rclient: openai.OpenAI,
    upstream: FakeUpstream,
    model: str,
    conversation: str,
    extra: dict[str, Any],
    param: str,
    code: str,
) -> None:
    body = {"model": model, "input": "hi", "conversation": conversation, **extra}
    answer = raw(responses_server, rclient.api_key, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["code"] == code
    assert set(error) == {"message", "type", "param", "code"}
    assert upstream.requests(model) == []
    assert count(rclient, conversation) == 1


def test_background_false_and_nulls_are_accepted(rclient: openai.OpenAI, model: str) -> None:
    response = rclient.responses.create(
        model=model,
        input="x",
        background=False,
        truncation="disabled",
        include=[],
        reasoning=None,
        service_tier="auto",  # type: ignore[arg-type]
    )
    assert response.status == "completed"


def test_conversation_and_previous_response_are_exclusive(
    rclient: openai.OpenAI, model: str, conversation: str
) -> None:
    first = rclient.responses.create(model=model, input="x")
    with pytest.raises(openai.BadRequestError) as caught:
        rclient.responses.create(
            model=model, input="y", conversation=conversation, previous_response_id=first.id
        )
    assert "Mutually exclusive" in caught.value.body["message"]
    assert count(rclient, conversation) == 1


def test_missing_model_and_input(rclient: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        rclient.responses.create(input="x")  # type: ignore[call-overload]
    assert caught.value.param == "model"
    with pytest.raises(openai.BadRequestError) as caught:
        rclient.responses.create(model="m")  # type: ignore[call-overload]
    assert caught.value.param == "input"


def test_bad_conversation_prefix_is_400(rclient: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        rclient.responses.create(model=model, input="x", conversation="chat_123")
    assert (
        caught.value.body["message"]
        == "Invalid 'conversation': 'chat_123'. Expected an ID that begins with 'conv'."
    )


def test_unknown_or_foreign_conversation_is_404_before_the_model(
    responses_server: LiveServer,
    rclient: openai.OpenAI,
    upstream: FakeUpstream,
    model: str,
    conversation: str,
) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        rclient.responses.create(model=model, input="x", conversation="conv_nope")
    assert caught.value.body["message"] == "Conversation with id 'conv_nope' not found."
    with responses_server.client(responses_server.new_key()) as other:
        with pytest.raises(openai.NotFoundError):
            other.responses.create(model=model, input="x", conversation=conversation)
    assert upstream.requests(model) == []
    assert count(rclient, conversation) == 1


def test_a_key_revoked_elsewhere_never_reaches_the_model(
    responses_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    # Revoked in the database by another process after this server saw it active: on
    # PostgreSQL the server then checks it inside the context read, or right before the model
    # when it reads nothing; either way before the model is called. (A refused key is
    # forgotten, so each call gets a key of its own.)
    database = responses_server.database
    project = f"p-{uuid.uuid4().hex[:12]}"

    async def store_call(call: Any) -> Any:
        store = open_store(database)
        await store.open()
        try:
            return await call(store)
        finally:
            await store.close()

    async def mint(store: Any) -> tuple[str, str]:
        plain, info = await auth.create_key(store, project, name="t")
        return plain, info.id

    with responses_server.client(responses_server.new_key(project)) as sdk:
        conversation = sdk.conversations.create(items=[{"role": "user", "content": "hi"}]).id
    bodies = [
        {"model": model, "input": "x", "conversation": conversation},
        {"model": model, "input": "x", "store": False},
        {"model": model, "input": "x"},
        {"model": model, "input": "x", "stream": True, "conversation": conversation},
        {"model": model, "input": "x", "stream": True, "store": False},
    ]
    for body in bodies:
        key, key_id = asyncio.run(store_call(mint))
        with responses_server.client(key) as sdk:  # seen active by this server
            sdk.responses.create(model=model, input="seen", store=False)
        called = len(upstream.requests(model))
        assert asyncio.run(store_call(lambda store, key_id=key_id: store.revoke_api_key(key_id)))
        assert_error(raw(responses_server, key, body), 401, code="invalid_api_key", param=None)
        assert len(upstream.requests(model)) == called, body
    with responses_server.client(responses_server.new_key(project)) as fresh:
        assert count(fresh, conversation) == 1


def test_project_isolation_on_every_response_route(
    responses_server: LiveServer, rclient: openai.OpenAI, model: str
) -> None:
    mine = rclient.responses.create(model=model, input="secret")
    with responses_server.client(responses_server.new_key()) as other:
        for call in (
            lambda: other.responses.retrieve(mine.id),
            lambda: other.responses.delete(mine.id),
            lambda: other.responses.input_items.list(mine.id),
            lambda: other.responses.create(model=model, input="x", previous_response_id=mine.id),
        ):
            with pytest.raises(openai.NotFoundError):
                call()
    assert rclient.responses.retrieve(mine.id).output_text == "echo: secret"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (
            Reply(
                status=400,
                error={
                    "error": {
                        "message": "context too long",
                        "type": "invalid_request_error",
                        "param": "messages",
                        "code": "context_length_exceeded",
                    }
                },
            ),
            400,
            "context_length_exceeded",
        ),
        (Reply(status=404, error={"error": "model 'x' not found"}), 404, None),
        (Reply(status=500), 502, "upstream_error"),
        (Reply(status=401), 502, "upstream_auth_failed"),
    ],
)
def test_upstream_errors_are_mapped_and_append_nothing(
    rclient: openai.OpenAI,
    upstream: FakeUpstream,
    model: str,
    conversation: str,
    reply: Reply,
    status: int,
    code: str | None,
    stream: bool,
) -> None:
    upstream.script(model, reply)
    with pytest.raises(openai.APIStatusError) as caught:
        if stream:
            list(
                rclient.responses.create(
                    model=model, input="x", conversation=conversation, stream=True
                )
            )
        else:
            rclient.responses.create(model=model, input="x", conversation=conversation)
    assert caught.value.status_code == status
    assert caught.value.code == code
    if status == 400:
        assert caught.value.body["message"] == "context too long"
    if status == 404:
        assert caught.value.body["message"] == "model 'x' not found"
    assert count(rclient, conversation) == 1


def test_upstream_429_passes_retry_after(
    responses_server: LiveServer,
    rclient: openai.OpenAI,
    upstream: FakeUpstream,
    model: str,
    conversation: str,
) -> None:
    upstream.script(
        model,
        Reply(
            status=429,
            headers={"retry-after": "7"},
            error={
                "error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}
            },
        ),
    )
    answer = raw(
        responses_server,
        rclient.api_key,
        {"model": model, "input": "x", "conversation": conversation},
    )
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "7"
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"
    assert count(rclient, conversation) == 1


def test_unreachable_upstream_is_502(rclient: openai.OpenAI, conversation: str) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        rclient.responses.create(model="dead-model", input="x", conversation=conversation)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_unreachable"
    assert (
        "dead" in caught.value.body["message"] and "127.0.0.1" not in caught.value.body["message"]
    )
    assert count(rclient, conversation) == 1


def test_slow_upstream_is_504(
    rclient: openai.OpenAI, upstream: FakeUpstream, conversation: str
) -> None:
    upstream.script("slow-one", Reply(delay=2.5))
    with pytest.raises(openai.APIStatusError) as caught:
        rclient.responses.create(model="slow-one", input="x", conversation=conversation)
    assert caught.value.status_code == 504 and caught.value.code == "upstream_timeout"
    assert count(rclient, conversation) == 1


def test_mid_stream_failure_ends_with_response_failed(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str, conversation: str
) -> None:
    upstream.script(model, Reply(text="a b c d e f", break_after=3))
    events = list(
        rclient.responses.create(model=model, input="x", conversation=conversation, stream=True)
    )
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "server_error"
    assert any(e.type == "response.output_text.delta" for e in events)
    assert count(rclient, conversation) == 1
    with pytest.raises(openai.NotFoundError):
        rclient.responses.retrieve(failed.id)


def test_unreadable_upstream_answer_is_502(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str, conversation: str
) -> None:
    upstream.script(model, Reply(raw=b"<html>oops</html>"), Reply(status=503))
    for _ in range(2):
        with pytest.raises(openai.APIStatusError) as caught:
            rclient.responses.create(model=model, input="x", conversation=conversation)
        assert caught.value.status_code == 502
    assert count(rclient, conversation) == 1


def test_no_upstream_configured_says_so(server: LiveServer) -> None:
    with server.client(server.new_key()) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            client.responses.create(model="any", input="x")
    assert caught.value.status_code == 501
    assert caught.value.code == "no_upstream"
    assert "--upstream" in caught.value.body["message"]


def test_unknown_model_on_a_pattern_server(rclient: openai.OpenAI) -> None:
    # The catch-all upstream serves every name; its own 404 comes back as is.
    with pytest.raises(openai.NotFoundError):
        rclient.models.retrieve("dead-nothing")


def test_an_input_item_with_an_id_the_conversation_holds_is_400_before_the_model(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str, conversation: str
) -> None:
    held = next(iter(rclient.conversations.items.list(conversation))).id
    reused = {"type": "message", "id": held, "role": "user", "content": "again"}
    with pytest.raises(openai.BadRequestError) as caught:
        rclient.responses.create(model=model, input=[reused], conversation=conversation)
    assert caught.value.param == "input[0].id" and caught.value.code == "duplicate_item"
    assert held in caught.value.body["message"]
    assert upstream.requests(model) == []
    assert count(rclient, conversation) == 1
    # A fresh id in the same place is fine: the turn is appended.
    fresh = {**reused, "id": "msg_" + uuid.uuid4().hex}
    rclient.responses.create(model=model, input=[fresh], conversation=conversation)
    assert count(rclient, conversation) == 3


def test_two_turns_racing_to_one_id_store_one_whole_turn_and_refuse_the_other(
    rclient: openai.OpenAI, upstream: FakeUpstream, model: str, conversation: str
) -> None:
    # Both turns read the conversation before either commits (the model takes 0.5 s): each
    # passes the context's check, and the store's unique index decides at the append.
    upstream.script(model, Reply(text="first", delay=0.5), Reply(text="second", delay=0.5))
    same = {"type": "message", "id": "msg_" + uuid.uuid4().hex, "role": "user", "content": "x"}
    outcomes: list[Any] = []

    def turn() -> None:
        try:
            outcomes.append(
                rclient.responses.create(model=model, input=[same], conversation=conversation)
            )
        except openai.BadRequestError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=turn) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(upstream.requests(model)) == 2
    refused = [o for o in outcomes if isinstance(o, openai.BadRequestError)]
    done = [o for o in outcomes if not isinstance(o, openai.BadRequestError)]
    assert len(refused) == 1 and len(done) == 1, outcomes
    assert refused[0].code == "duplicate_item" and same["id"] in refused[0].body["message"]
    assert refused[0].param == "input[0].id"
    # The stored turn is whole (its input, then its answer); nothing of the refused one.
    stored = list(rclient.conversations.items.list(conversation, order="asc"))
    assert [item.id for item in stored[1:]] == [same["id"], done[0].output[0].id]
    assert len(stored) == 3
