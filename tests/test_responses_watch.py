"""The client-leaves watch of /v1/responses (parley.responses.api.Watch): it cancels the work in
the request's own task and takes that cancellation back, so nothing else is swallowed and no
cancellation is left pending. In-process on real asyncio tasks, then against a live server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import openai
import pytest

from parley.responses.api import Watch, _ClientGone
from tests.conftest import LiveServer
from tests.upstream import FakeUpstream, Reply


class Client:
    """An ASGI receive(): the request's body, then nothing until ``leave()``."""

    def __init__(self) -> None:
        self._left = asyncio.Event()
        self._sent = False

    async def receive(self) -> dict[str, Any]:
        if not self._sent:
            self._sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._left.wait()
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        self._left.set()


def run(body: Any) -> None:
    asyncio.run(body())


def test_work_that_ends_first_gives_its_result_and_leaves_nothing_pending() -> None:
    async def body() -> None:
        client = Client()
        watch = Watch(client.receive)

        async def work() -> int:
            await asyncio.sleep(0.01)
            return 7

        assert await watch.run(work()) == 7
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        client.leave()
        await asyncio.sleep(0.01)  # the watcher sees the leave now: nothing of ours to cancel
        assert task.cancelling() == 0
        await asyncio.sleep(0.01)  # not cancelled

    run(body)


def test_a_client_that_leaves_cancels_the_work_and_the_request_goes_on() -> None:
    async def body() -> None:
        client = Client()
        watch = Watch(client.receive)
        cleaned = asyncio.Event()

        async def work() -> None:
            try:
                await asyncio.sleep(10)
            finally:
                await asyncio.sleep(0)  # cleanup may await after the cancellation
                cleaned.set()

        asyncio.get_running_loop().call_later(0.05, client.leave)
        began = time.monotonic()
        with pytest.raises(_ClientGone):
            await watch.run(work())
        assert time.monotonic() - began < 2 and cleaned.is_set()
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0.01)  # no cancellation left pending on the request's task
        # A later run on the same watch: the client is gone, the work never starts.
        started = False

        async def later() -> None:
            nonlocal started
            started = True

        with pytest.raises(_ClientGone):
            await watch.run(later())
        assert not started

    run(body)


@pytest.mark.parametrize("client_leaves_too", [False, True])
def test_a_cancellation_from_elsewhere_propagates(client_leaves_too: bool) -> None:
    # The server stopping, say: never taken for the client leaving, even at the same moment.
    async def body() -> None:
        client = Client()
        watch = Watch(client.receive)

        async def request() -> None:
            await watch.run(asyncio.sleep(10))

        task = asyncio.create_task(request())
        await asyncio.sleep(0.02)
        if client_leaves_too:
            client.leave()
            await asyncio.sleep(0)  # the watcher cancels the task
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(body)


def test_work_that_swallows_the_cancellation_still_ends_the_request() -> None:
    async def body() -> None:
        client = Client()
        watch = Watch(client.receive)

        async def stubborn() -> str:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass
            return "finished anyway"

        asyncio.get_running_loop().call_later(0.02, client.leave)
        with pytest.raises(_ClientGone):
            await watch.run(stubborn())
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        await asyncio.sleep(0.01)

    run(body)


def test_a_whole_answer_abandoned_by_its_client_cancels_the_upstream_and_appends_nothing(
    responses_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    key = responses_server.new_key()
    with responses_server.client(key) as client:
        conversation = client.conversations.create()
    upstream.script(model, Reply(text="too late", delay=1.0))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{responses_server.base_url}/responses",
            json={"model": model, "input": "go", "conversation": conversation.id},
            headers={"authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(10, read=0.3),
        )
    assert upstream.wait_cancelled(model) == 1
    with responses_server.client(key) as client:
        assert list(client.conversations.items.list(conversation.id)) == []
        # The server goes on: the next turn on that conversation is whole.
        answer = client.responses.create(model=model, input="again", conversation=conversation.id)
        assert answer.output_text == "echo: again"
        assert len(list(client.conversations.items.list(conversation.id))) == 2
    assert "Traceback" not in responses_server.log()


def test_many_abandoned_calls_leave_the_server_answering(
    responses_server: LiveServer, rclient: openai.OpenAI, upstream: FakeUpstream, model: str
) -> None:
    upstream.script(model, *[Reply(text="late", delay=0.4) for _ in range(8)])
    for _ in range(8):
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{responses_server.base_url}/responses",
                json={"model": model, "input": "go", "store": False},
                headers={"authorization": f"Bearer {rclient.api_key}"},
                timeout=httpx.Timeout(10, read=0.05),
            )
    assert rclient.responses.create(model=model, input="hi").output_text == "echo: hi"
