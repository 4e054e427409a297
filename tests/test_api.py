"""The API layer in process (httpx's ASGI transport, the official SDK over it): parsing and
answers without a server process; the live-server suite checks the same over a socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from parley.settings import Settings
from tests.helpers import assert_error
from tests.inprocess import in_process


def test_the_sdk_round_trips_in_process(tmp_path: Path) -> None:
    async def run() -> None:
        async with in_process(str(tmp_path / "api.db")) as app:
            sdk = app.sdk()
            conversation = await sdk.conversations.create(
                items=[{"role": "user", "content": "hi"}], metadata={"topic": "demo"}
            )
            again = await sdk.conversations.retrieve(conversation.id)
            assert again.metadata == {"topic": "demo"}
            items = await sdk.conversations.items.list(conversation.id)
            assert [item.type for item in items.data] == ["message"]
            with pytest.raises(openai.NotFoundError):
                await sdk.conversations.retrieve("conv_missing")

    asyncio.run(run())


@pytest.mark.parametrize(
    ("query", "param", "code"),
    [
        ({"limit": "0"}, "limit", "integer_below_min_value"),
        ({"limit": "101"}, "limit", "integer_above_max_value"),
        ({"limit": "ten"}, "limit", "invalid_type"),
        ({"order": "up"}, "order", "invalid_value"),
        ({"after": "msg_\x00"}, "after", "invalid_value"),
        ({"include[]": "nope"}, "include[0]", "invalid_value"),
    ],
)
def test_query_parameters_are_checked(
    tmp_path: Path, query: dict[str, str], param: str, code: str
) -> None:
    async def run() -> None:
        async with in_process(str(tmp_path / "api.db")) as app:
            created = await app.http.post("/v1/conversations", json={})
            conversation = created.json()["id"]
            answer = await app.http.get(f"/v1/conversations/{conversation}/items", params=query)
            assert_error(answer, 400, code=code, param=param)

    asyncio.run(run())


def test_the_body_limit_comes_from_the_settings(tmp_path: Path) -> None:
    async def run() -> None:
        async with in_process(str(tmp_path / "api.db"), Settings(max_body_bytes=1024)) as app:
            big = {"metadata": {"k": "v" * 500, "l": "w" * 500}}
            answer = await app.http.post("/v1/conversations", json=big)
            assert_error(answer, 413, code="request_too_large", param=None)
            assert (await app.http.post("/v1/conversations", json={})).status_code == 200

    asyncio.run(run())
