"""`parley import --from URL`: copy conversations from any Conversations API into a store.

The source is read through the official SDK (OpenAI itself, or another parley); each
conversation, with its metadata, created_at and every item (ids and order kept), is stored in
one transaction through the same path as `parley import FILE` (:func:`transfer.import_one`).
A conversation already in the target project is skipped, so a second run changes nothing and
an interrupted run, run again, carries on where it stopped. Several conversations are fetched
at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import openai

from parley.credentials import Credential
from parley.errors import NotFound
from parley.sdk import translate
from parley.store import Store
from parley.transfer import ImportSummary, import_one

DEFAULT_CONCURRENCY = 4
_PAGE = 100


class SourceError(Exception):
    """The source cannot be read at all (unreachable, key refused, cannot list)."""


def read_ids(lines: Iterable[str]) -> list[str]:
    """Conversation ids from a file: one per line, or JSON Lines such as n8n's outputs.

    A JSON line gives its ``id`` (or ``json.id``, n8n's paired form, or ``conversation_id``);
    blank lines and ``#`` comments are skipped; repeated ids count once.
    """
    found: dict[str, None] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                entry = msgspec.json.decode(line)
            except msgspec.DecodeError:
                raise ValueError(f"line {number}: not valid JSON") from None
            if isinstance(entry, dict) and isinstance(entry.get("json"), dict):
                entry = entry["json"]
            value = (
                entry.get("id") or entry.get("conversation_id") if isinstance(entry, dict) else None
            )
            if not isinstance(value, str) or not value.startswith("conv_"):
                raise ValueError(f"line {number}: no conversation id (conv_…) in {line[:60]!r}")
            found[value] = None
        elif line.startswith("conv_") and " " not in line:
            found[line] = None
        else:
            raise ValueError(f"line {number}: {line[:60]!r} is not a conversation id")
    return list(found)


def async_client(credential: Credential) -> openai.AsyncOpenAI:
    """The SDK's async client for ``credential`` (it retries 429 and 5xx itself)."""
    return openai.AsyncOpenAI(
        api_key=credential.api_key,
        base_url=credential.base_url,
        organization=credential.organization_id or None,
        default_headers=credential.headers() or None,
        max_retries=3,
        timeout=60.0,
    )


async def list_ids(client: openai.AsyncOpenAI, credential: Credential) -> list[str]:
    """Every conversation id of a parley source, oldest first (OpenAI cannot list them)."""
    found: list[str] = []
    params: dict[str, Any] = {"limit": _PAGE, "order": "asc"}
    while True:
        try:
            page = await client.get("/conversations", cast_to=object, options={"params": params})
        except openai.NotFoundError:
            raise SourceError(
                f"{credential.base_url} cannot list conversations (OpenAI has no such route): "
                "pass their ids with --ids FILE"
            ) from None
        except (openai.OpenAIError, ValueError) as exc:
            raise SourceError(translate(exc, credential).explain()) from None
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise SourceError(f"unexpected answer from {credential.base_url}: {page!r:.200}")
        found += [entry["id"] for entry in page["data"]]
        if not page.get("has_more") or not page.get("last_id"):
            return found
        params["after"] = page["last_id"]


async def fetch(client: openai.AsyncOpenAI, conversation_id: str) -> dict[str, Any]:
    """One conversation of the source as an export entry: metadata, created_at, items."""
    conversation = await client.conversations.retrieve(conversation_id)
    items: list[Any] = []
    async for item in client.conversations.items.list(conversation_id, order="asc", limit=_PAGE):
        items.append(item.to_dict(mode="json"))
    return {
        "id": conversation.id,
        "created_at": conversation.created_at,
        "metadata": conversation.metadata or {},
        "items": items,
    }


async def import_conversations(
    store: Store,
    project: str,
    client: openai.AsyncOpenAI,
    credential: Credential,
    conversation_ids: list[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_done: Callable[[], None] = lambda: None,
) -> ImportSummary:
    """Copy each conversation into ``project`` (a project id); skip those already there."""
    summary = ImportSummary()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for conversation_id in conversation_ids:
        queue.put_nowait(conversation_id)

    async def worker() -> None:
        while True:
            try:
                conversation_id = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await _copy(store, project, client, credential, conversation_id, summary)
            finally:
                on_done()

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return summary


async def _copy(
    store: Store,
    project: str,
    client: openai.AsyncOpenAI,
    credential: Credential,
    conversation_id: str,
    summary: ImportSummary,
) -> None:
    try:
        await store.retrieve_conversation(project, conversation_id)
        summary.skipped += 1
        return
    except NotFound:
        pass
    try:
        entry = await fetch(client, conversation_id)
    except (openai.OpenAIError, ValueError) as exc:
        error = translate(exc, credential, f"conversation '{conversation_id}'")
        summary.failed.append(f"{conversation_id}: reading the source: {error.explain()}")
        return
    await import_one(store, project, entry, "conversation", summary)
