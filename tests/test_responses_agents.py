"""The OpenAI Agents SDK over parley: a two-turn, tool-using agent on one conversation."""

from __future__ import annotations

import asyncio
import json

import pytest

agents = pytest.importorskip("agents", reason="the Agents SDK (openai-agents) is a test extra")

from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from tests.conftest import LiveServer  # noqa: E402
from tests.upstream import FakeUpstream, Reply  # noqa: E402

# Traces would go to OpenAI's servers; this test talks to loopback only.
set_tracing_disabled(True)


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_two_turns_with_a_tool_on_one_conversation(
    responses_server: LiveServer, upstream: FakeUpstream, model: str
) -> None:
    upstream.script(
        model,
        Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]),
        Reply(text="It is sunny in Oslo."),
        Reply(text="You asked about Oslo."),
    )
    key = responses_server.new_key()

    async def run() -> tuple[str, str, list[str]]:
        client = AsyncOpenAI(base_url=responses_server.base_url, api_key=key, max_retries=0)
        try:
            agent = Agent(
                name="weather",
                instructions="Answer about the weather.",
                model=OpenAIResponsesModel(model=model, openai_client=client),
                tools=[get_weather],
            )
            conversation = await client.conversations.create()
            first = await Runner.run(agent, "Weather in Oslo?", conversation_id=conversation.id)
            second = await Runner.run(
                agent, "Which city did I ask about?", conversation_id=conversation.id
            )
            items = [
                item.type
                async for item in client.conversations.items.list(conversation.id, order="asc")
            ]
            return str(first.final_output), str(second.final_output), items
        finally:
            await client.close()

    first, second, items = asyncio.run(run())
    assert first == "It is sunny in Oslo."
    assert second == "You asked about Oslo."
    assert items == [
        "message",
        "function_call",
        "function_call_output",
        "message",
        "message",
        "message",
    ]
    calls = upstream.requests(model)
    assert len(calls) == 3
    # The tool call's result reached the model, and the second turn saw the whole first turn.
    assert calls[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_0",
        "content": "sunny in Oslo",
    }
    last = calls[2]["messages"]
    assert last[0] == {"role": "system", "content": "Answer about the weather."}
    assert [m["role"] for m in last[1:]] == ["user", "assistant", "tool", "assistant", "user"]
    assert last[-1]["content"] == "Which city did I ask about?"
    assert json.loads(last[2]["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
