"""Request bodies shaped like n8n's, and seeding a fresh server through its own HTTP API.

n8n's Conversations node sends easy messages without `type` (2–3 of them) and two metadata
pairs; the bodies here follow that shape. Seeding goes through HTTP so it works the same on
SQLite and PostgreSQL; the million-conversation store is seeded directly (bench/scale.py).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

METADATA = {"workflow": "support-bot", "session": "n8n-7f3a9c"}

CREATE_BODY: dict[str, Any] = {
    "metadata": METADATA,
    "items": [
        {"role": "system", "content": "You are a helpful travel assistant. Answer briefly."},
        {"role": "user", "content": "Hello, can you help me plan three days in Lisbon?"},
        {
            "role": "assistant",
            "content": "Of course! Day one: Alfama and the castle; day two: Belém; "
            "day three: a trip to Sintra.",
        },
    ],
}

ADD_ITEMS_BODY: dict[str, Any] = {
    "items": [
        {"role": "user", "content": "What should I eat in Belém?"},
        {"role": "assistant", "content": "Try a pastel de nata at the old bakery by the abbey."},
    ]
}

UPDATE_BODY: dict[str, Any] = {"metadata": {"workflow": "support-bot", "session": "n8n-8b21d0"}}

# Twenty more items for the conversations the list route reads, so a page holds 20.
LIST_FILL_BODY: dict[str, Any] = {
    "items": [
        {"role": "user" if n % 2 == 0 else "assistant", "content": f"Message number {n}."}
        for n in range(20)
    ]
}


@dataclass(frozen=True)
class Seeded:
    """Files the load generator reads: conversation ids and request bodies."""

    conversations: Path
    list_conversations: Path
    create_body: Path
    add_items_body: Path
    update_body: Path


def write_bodies(folder: Path) -> tuple[Path, Path, Path]:
    """Write the three POST bodies as JSON files; return (create, add items, update)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, body in (
        ("create.json", CREATE_BODY),
        ("add_items.json", ADD_ITEMS_BODY),
        ("update.json", UPDATE_BODY),
    ):
        path = folder / name
        path.write_text(json.dumps(body, separators=(",", ":")))
        paths.append(path)
    return paths[0], paths[1], paths[2]


async def _seed(url: str, api_key: str, conversations: int, listed: int) -> tuple[list[str], int]:
    headers = {"Authorization": f"Bearer {api_key}"}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        gate = asyncio.Semaphore(16)

        async def create() -> str:
            async with gate:
                answer = await client.post("/v1/conversations", json=CREATE_BODY, timeout=60)
                answer.raise_for_status()
                conversation_id: str = answer.json()["id"]
                return conversation_id

        async def fill(conversation_id: str) -> None:
            async with gate:
                path = f"/v1/conversations/{conversation_id}/items"
                answer = await client.post(path, json=LIST_FILL_BODY, timeout=60)
                answer.raise_for_status()

        ids = await asyncio.gather(*(create() for _ in range(conversations)))
        await asyncio.gather(*(fill(i) for i in ids[:listed]))
        return list(ids), len(CREATE_BODY["items"]) + len(LIST_FILL_BODY["items"])


def seed(url: str, api_key: str, folder: Path, *, conversations: int, listed: int) -> Seeded:
    """Create ``conversations`` (3 items, 2 metadata pairs); give ``listed`` of them 23 items."""
    ids, _ = asyncio.run(_seed(url, api_key, conversations, listed))
    folder.mkdir(parents=True, exist_ok=True)
    all_ids = folder / "conversations.txt"
    all_ids.write_text("\n".join(ids) + "\n")
    list_ids = folder / "list_conversations.txt"
    list_ids.write_text("\n".join(ids[:listed]) + "\n")
    create, add, update = write_bodies(folder)
    return Seeded(all_ids, list_ids, create, add, update)
