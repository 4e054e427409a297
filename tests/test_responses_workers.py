"""Concurrent turns on one conversation from several server processes (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_URL, LiveServer, start_server, stop_server
from tests.upstream import FakeUpstream

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(POSTGRES_URL is None, reason="needs PARLEY_TEST_POSTGRES_URL (CI sets it)"),
]


@pytest.fixture
def two_workers(upstream: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    from tests.pg import fresh_database

    with fresh_database() as url:
        live = start_server(
            url, tmp_path / "server.log", args=["--upstream", upstream.url, "--workers", "2"]
        )
        yield live
        stop_server(live)


def test_turns_stay_adjacent_across_processes(two_workers: LiveServer, model: str) -> None:
    key = two_workers.new_key()
    auth = {"authorization": f"Bearer {key}"}
    base = two_workers.base_url
    conversation = httpx.post(f"{base}/conversations", json={}, headers=auth).json()["id"]
    failures: list[str] = []

    def turn(number: int) -> None:
        # A connection of its own each: the kernel spreads them over both workers.
        with httpx.Client(timeout=30) as client:
            for repeat in range(3):
                body = {
                    "model": model,
                    "input": f"turn {number}.{repeat}",
                    "conversation": conversation,
                }
                answer = client.post(f"{base}/responses", json=body, headers=auth)
                if answer.status_code != 200:
                    failures.append(answer.text)

    threads = [threading.Thread(target=turn, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    items = []
    after = None
    while True:
        params = {"order": "asc", "limit": 100, **({"after": after} if after else {})}
        page = httpx.get(
            f"{base}/conversations/{conversation}/items", params=params, headers=auth
        ).json()
        items += page["data"]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert len(items) == 60
    for user, answer in zip(items[::2], items[1::2], strict=True):
        assert user["role"] == "user" and answer["role"] == "assistant"
        assert answer["content"][0]["text"] == "echo: " + user["content"][0]["text"]
