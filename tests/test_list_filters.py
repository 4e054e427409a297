"""GET /v1/conversations with created_after, created_before, updated_after and order (parley
extensions), alone and with metadata, walked page by page on a live server, both backends.

Conversations with chosen creation times are written straight into the server's database
(as `parley import` would), so time filters can be tested without waiting for the clock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from parley import ids
from parley.store import open_store
from tests.conftest import LiveServer
from tests.helpers import assert_error


def seed(database: str, project: str, rows: list[tuple[int, dict[str, str]]]) -> list[str]:
    """Store conversations created at the given times in ``project``; return their ids."""

    async def run() -> list[str]:
        store = open_store(database)
        await store.open()
        try:
            project_id = await store.ensure_project(project)
            made = []
            for created_at, metadata in rows:
                conversation_id = ids.conversation_id()
                encoded = (
                    "{" + ",".join(f'"{k}":"{v}"' for k, v in metadata.items()) + "}"
                ).encode()
                await store.create_conversation(
                    project_id, conversation_id, created_at, encoded, []
                )
                made.append(conversation_id)
            return made
        finally:
            await store.close()

    return asyncio.run(run())


def walk(http: httpx.Client, params: dict[str, Any]) -> list[str]:
    """Every id of a listing, following `after` cursors, checking each page's fields."""
    seen: list[str] = []
    after = None
    for _ in range(100):
        query = {**params, **({"after": after} if after else {})}
        answer = http.get("/v1/conversations", params=query)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        page_ids = [c["id"] for c in page["data"]]
        assert len(page_ids) <= int(params.get("limit", 20))
        seen += page_ids
        if not page["has_more"]:
            return seen
        after = page["last_id"]
    raise AssertionError("paging did not end")


@pytest.fixture
def project(server: LiveServer) -> tuple[str, httpx.Client]:
    name = f"p-{uuid.uuid4().hex[:12]}"
    key = server.new_key(name)
    return name, httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"})


def test_time_filters_alone_and_combined_with_paging(
    server: LiveServer, project: tuple[str, httpx.Client]
) -> None:
    name, http = project
    # Created out of order on purpose: listing follows created_at, not insertion.
    times = [1000 + 10 * n for n in (3, 0, 7, 1, 9, 4, 2, 8, 6, 5)]
    made = seed(
        server.database,
        name,
        [(t, {"parity": "even" if (t // 10) % 2 == 0 else "odd"}) for t in times],
    )
    by_time = [cid for _, cid in sorted(zip(times, made, strict=True))]
    parity = {cid: ((t // 10) % 2 == 0) for t, cid in zip(times, made, strict=True)}
    with http:
        assert walk(http, {"limit": 3}) == by_time[::-1]
        assert walk(http, {"limit": 4, "order": "asc"}) == by_time
        # Bounds are exclusive.
        assert walk(http, {"created_after": 1020, "limit": 2, "order": "asc"}) == by_time[3:]
        assert walk(http, {"created_before": 1030, "limit": 2}) == by_time[:3][::-1]
        window = {"created_after": 1010, "created_before": 1080, "limit": 2, "order": "asc"}
        assert walk(http, window) == by_time[2:8]
        evens = [c for c in by_time if parity[c]]
        assert walk(http, {"metadata[parity]": "even", "limit": 2}) == evens[::-1]
        both = {**window, "metadata[parity]": "even"}
        assert walk(http, both) == [c for c in by_time[2:8] if parity[c]]
        assert walk(http, {"created_after": 2000}) == []
        # updated_after: only what changed since the seed.
        since = int(time.time()) - 1
        assert walk(http, {"updated_after": since}) == []
        touched = [by_time[1], by_time[6]]
        for cid in touched:
            answer = http.post(f"/v1/conversations/{cid}", json={"metadata": {"parity": "x"}})
            assert answer.status_code == 200
        assert walk(http, {"updated_after": since, "order": "asc", "limit": 1}) == touched
        assert walk(http, {"updated_after": since, "created_after": 1050}) == [by_time[6]]
        assert walk(http, {"updated_after": since, "metadata[parity]": "x"}) == touched[::-1]


def test_time_filters_see_only_their_project(
    server: LiveServer, project: tuple[str, httpx.Client]
) -> None:
    name, http = project
    mine = seed(server.database, name, [(500, {})])
    seed(server.database, f"other-{uuid.uuid4().hex[:8]}", [(500, {}), (501, {})])
    with http:
        assert walk(http, {"created_before": 600}) == mine
        assert walk(http, {"created_after": 400, "created_before": 600}) == mine


@pytest.mark.parametrize("name", ["created_after", "created_before", "updated_after"])
def test_bad_time_values_get_the_envelope(project: tuple[str, httpx.Client], name: str) -> None:
    _, http = project
    with http:
        for value, code in (
            ("soon", "invalid_type"),
            ("1.5", "invalid_type"),
            ("-1", "invalid_value"),
        ):
            answer = http.get("/v1/conversations", params={name: value})
            assert_error(answer, 400, code=code, param=name)
        assert_error(
            http.get("/v1/conversations", params={"order": "up"}),
            400,
            code="invalid_value",
            param="order",
        )
