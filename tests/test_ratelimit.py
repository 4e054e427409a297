"""Per-key rate limits: 429 envelope with Retry-After, honoured by the `openai` SDK."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from parley.ratelimit import LocalRateLimiter, rate_limited
from tests.conftest import POSTGRES_SKIP, POSTGRES_URL, LiveServer, start_server, stop_server
from tests.helpers import assert_error


class Clock:
    """A clock the test moves by hand (the limiter takes any monotonic clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_gcra_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(rate=2.0, burst=3, clock=clock)

    def take(key: bytes = b"a") -> float:
        return asyncio.run(limiter.acquire(key))

    assert [take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert take() == pytest.approx(0.5)  # one token comes back every 1/rate seconds
    assert take(b"b") == 0.0  # another key has its own budget
    clock.now += 0.5
    assert take() == 0.0
    assert take() == pytest.approx(0.5)
    clock.now += 10  # idle time refills up to the burst, never beyond
    assert [take() for _ in range(4)][-1] == pytest.approx(0.5)


def test_the_429_names_the_wait_in_both_headers() -> None:
    error = rate_limited(0.2501)
    assert error.status == 429 and error.type == "requests"
    assert error.code == "rate_limit_exceeded"
    assert error.headers == {"retry-after-ms": "251", "retry-after": "1"}
    assert "0.25s" in error.message


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server allowing each key 1 request per second, 2 at once."""
    folder: Path = tmp_path_factory.mktemp("limited")
    live = start_server(
        str(folder / "parley.db"),
        folder / "server.log",
        args=["--rate-limit", "1", "--rate-burst", "2"],
    )
    yield live
    stop_server(live)


def test_over_the_limit_is_a_429_envelope_per_key(limited: LiveServer) -> None:
    key, other = limited.new_key(), limited.new_key()
    with httpx.Client(base_url=limited.base_url, timeout=10) as http:
        mine = {"Authorization": f"Bearer {key}"}
        answers = [http.post("/conversations", json={}, headers=mine) for _ in range(3)]
        assert [a.status_code for a in answers[:2]] == [200, 200]
        error = assert_error(
            answers[2], 429, code="rate_limit_exceeded", param=None, type="requests"
        )
        assert "try again in" in error["message"]
        retry_after = int(answers[2].headers["retry-after"])
        assert 1 <= retry_after <= 2
        assert 0 < int(answers[2].headers["retry-after-ms"]) <= 1000
        # Another key of the same server keeps its whole budget.
        theirs = {"Authorization": f"Bearer {other}"}
        assert http.post("/conversations", json={}, headers=theirs).status_code == 200
        # Unknown keys are refused before they can spend anyone's budget.
        assert http.get("/conversations/conv_x").status_code == 401


def test_failed_authentication_is_limited_per_client_address(limited: LiveServer) -> None:
    key = limited.new_key()
    time.sleep(2.1)  # whatever earlier tests spent from this address has come back
    with httpx.Client(base_url=limited.base_url, timeout=10) as http:
        guesses = [
            http.get("/conversations", headers={"Authorization": f"Bearer sk-guess-{n}"})
            for n in range(3)
        ]
        assert [g.status_code for g in guesses] == [401, 401, 429]
        error = assert_error(
            guesses[2], 429, code="rate_limit_exceeded", param=None, type="requests"
        )
        assert "failed authentication attempts from your address" in error["message"]
        # While the address is blocked, a right key is not even looked at: no oracle.
        mine = {"Authorization": f"Bearer {key}"}
        blocked = http.get("/conversations", headers=mine)
        assert blocked.status_code == 429
        time.sleep(float(blocked.headers["retry-after-ms"]) / 1000 + 0.05)
        assert http.get("/conversations", headers=mine).status_code == 200


def test_the_sdk_waits_as_told_and_then_succeeds(limited: LiveServer) -> None:
    key = limited.new_key()
    statuses: list[int] = []
    with (
        httpx.Client(event_hooks={"response": [lambda r: statuses.append(r.status_code)]}) as raw,
        limited.client(key, max_retries=2, http_client=raw) as client,
    ):
        client.conversations.create()
        client.conversations.create()  # the burst is spent
        conv = client.conversations.create()  # 429, Retry-After honoured, then 200
    assert conv.id.startswith("conv_")
    assert statuses[:3] == [200, 200, 429]
    assert statuses[-1] == 200


def test_without_retries_the_sdk_raises_rate_limit_error(limited: LiveServer) -> None:
    with limited.client(limited.new_key(), max_retries=0) as client:
        client.conversations.create()
        client.conversations.create()
        with pytest.raises(openai.RateLimitError) as caught:
            client.conversations.create()
    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limit_exceeded"


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason=POSTGRES_SKIP)
def test_the_limit_holds_across_processes_on_postgres(tmp_path: Path) -> None:
    from tests.pg import fresh_database

    with fresh_database() as url:
        live = start_server(
            url,
            tmp_path / "server.log",
            # One request per 1,000 s: no refill can blur the count however slow the box is.
            args=["--workers", "2", "--rate-limit", "0.001", "--rate-burst", "5"],
        )
        try:
            key = live.new_key()
            headers = {"Authorization": f"Bearer {key}"}
            statuses = []
            # New connections each time, so both worker processes take a share.
            for _ in range(20):
                answer = httpx.post(f"{live.base_url}/conversations", json={}, headers=headers)
                statuses.append(answer.status_code)
            assert statuses.count(200) == 5, statuses
            assert statuses.count(429) == 15
            log = live.log()
            assert log.count("Spawning worker") == 2  # two processes really shared one budget
        finally:
            stop_server(live)
