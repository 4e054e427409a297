"""How parley talks HTTP to its model servers: pooled connections (streams too), a client that
leaves cancels the call, a stall mid-stream, long stream events, a clean shutdown."""

from __future__ import annotations

import asyncio
import gc
import uuid
from pathlib import Path

import httpx
import openai
import pytest

from parley.upstreams import ModelCall, UpstreamConfig, Upstreams
from parley.upstreams.base import Finish, TextDelta
from tests.conftest import LiveServer, start_server, stop_server
from tests.upstream import FakeUpstream, Reply

# A model of each upstream kind: the catch-all is Chat Completions, resp-* the Responses API.
KINDS = ["m", "resp"]


def kind_model(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}"


def test_client_gone_before_the_upstream_answers_cancels_it(
    responses_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    key = responses_server.new_key()
    upstream.script(model, Reply(text=" ".join(["word"] * 40), delay=0.8, chunk_delay=0.05))
    with pytest.raises(httpx.ReadTimeout):
        # The client gives up while the upstream has not even sent its headers.
        httpx.post(
            f"{responses_server.base_url}/responses",
            json={"model": model, "input": "go", "stream": True},
            headers={"authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(10, read=0.3),
        )
    # The upstream saw parley hang up: parley had closed the connection, not waited on it.
    assert upstream.wait_cancelled(model) == 1


def test_a_stall_mid_stream_fails_the_response_and_appends_nothing(
    rclient: openai.OpenAI, upstream: FakeUpstream
) -> None:
    # slow-* upstreams have a one-second timeout; the second chunk comes 1.5 s after the first.
    model = f"slow-{uuid.uuid4().hex[:10]}"
    conversation = rclient.conversations.create(items=[{"role": "user", "content": "before"}])
    upstream.script(model, Reply(text="a b c", chunk_delay=1.5))
    events = list(
        rclient.responses.create(model=model, input="x", conversation=conversation.id, stream=True)
    )
    assert events[-1].type == "response.failed"
    error = events[-1].response.error
    assert error is not None and error.code == "server_error"
    assert "stopped sending mid-answer" in error.message
    assert len(list(rclient.conversations.items.list(conversation.id))) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_stream_events_longer_than_any_line_buffer(
    rclient: openai.OpenAI, upstream: FakeUpstream, kind: str
) -> None:
    model = kind_model(kind)
    # Two chunks of 150 KB each: every upstream event is one SSE line longer than 128 KiB
    # (for the Responses API, response.completed carries all 300 KB at once).
    text = "".join(f"{n:07d} " for n in range(37_500))
    upstream.script(model, Reply(text=text, chunks=2))
    events = list(rclient.responses.create(model=model, input="x", stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == text
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) == 2 and "".join(deltas) == text


def test_one_pooled_connection_per_upstream_and_a_clean_shutdown(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    # A server of this test's own: its upstream sessions serve no other test's calls, so
    # sequential calls must all travel over one connection per upstream.
    config = tmp_path / "parley.toml"
    config.write_text(
        f'[[upstreams]]\nname = "own"\nurl = "{upstream.url}"\nmodels = ["resp-*"]\n'
        'api = "responses"\n'
    )
    live = start_server(
        str(tmp_path / "parley.db"),
        tmp_path / "server.log",
        args=["--upstream", upstream.url, "--config", str(config)],
        # Shown in the log, if the server leaves a socket or a session unclosed.
        env={"PYTHONWARNINGS": "always::ResourceWarning"},
    )
    models = [kind_model(kind) for kind in KINDS]
    try:
        with live.client(live.new_key()) as client:
            for model in models:
                for number in range(6):
                    if number % 2:
                        events = list(client.responses.create(model=model, input="s", stream=True))
                        assert events[-1].type == "response.completed"
                        assert events[-1].response.output_text == "echo: s"
                    else:
                        answer = client.responses.create(model=model, input="w")
                        assert answer.output_text == "echo: w"
    finally:
        code = stop_server(live)
    for model in models:
        # Streamed or not, the calls went over one kept-alive connection.
        ports = upstream.ports(model)
        assert len(ports) == 6 and len(set(ports)) == 1, (model, ports)
    log = live.log()
    assert code == 0, log
    for sign in ("ResourceWarning", "Unclosed", "unclosed", "Traceback"):
        assert sign not in log, log


def test_closing_the_upstreams_closes_their_sessions(upstream: FakeUpstream) -> None:
    # What the app's lifespan does at shutdown. A session left open warns (ResourceWarning)
    # when collected, and warnings are errors here.
    models = [kind_model(kind) for kind in KINDS]

    async def run() -> None:
        upstreams = Upstreams(
            [
                UpstreamConfig(url=upstream.url, name="r", api="responses", models=("resp-*",)),
                UpstreamConfig(url=upstream.url),
            ]
        )
        for model in models:
            for stream in (False, True):
                call = ModelCall(
                    model=model,
                    instructions=None,
                    items=[{"type": "message", "role": "user", "content": "hi"}],
                    stream=stream,
                )
                answer = await upstreams.for_model(model).start(call)
                events = [event async for event in answer]
                await answer.aclose()
                text = "".join(e.text for e in events if isinstance(e, TextDelta))
                assert text == "echo: hi" and isinstance(events[-1], Finish)
        await upstreams.close()

    asyncio.run(run())
    gc.collect()
