"""Export a project's conversations to JSON Lines and import them back, ids and order intact.

The format: a header line ``{"parley_export": 1, ...}``, then one line per conversation:
``{"id", "created_at", "metadata", "items": [...]}`` with its items oldest first, each exactly
as the API returns it. Import is idempotent: a conversation whose id is already present in
the target project is skipped, so an interrupted import can simply be run again.

Conversation ids are unique in the whole database, so an export imported into a second project
of the same database collides with the first. Such conversations are reported with the project
that holds them; with an :class:`IdMap` they get new ids instead, each old → new pair written
to the map (and flushed) before the conversation is created, so a re-run reuses the same new ids.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from parley import ids
from parley.errors import NotFound, ParleyError, invalid_type
from parley.items import parse_items, prepare_items
from parley.metadata import encode_metadata
from parley.models import NewItem
from parley.store import Store

FORMAT_VERSION = 1
_PAGE = 100


class ExportedConversation(msgspec.Struct):
    """One line of an export."""

    id: str
    created_at: int
    metadata: msgspec.Raw
    items: list[msgspec.Raw]


@dataclass
class ImportSummary:
    """What an import did."""

    imported: int = 0
    items: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    # (conversation id, name of the project that already holds it)
    elsewhere: list[tuple[str, str]] = field(default_factory=list)
    renamed: int = 0


class IdMap:
    """Old → new conversation ids of an import under new ids, kept in a JSON Lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pairs: dict[str, str] = {}
        if path.exists():
            for line in path.read_bytes().splitlines():
                if line.strip():
                    pair = msgspec.json.decode(line)
                    self.pairs[pair["old"]] = pair["new"]

    def record(self, old: str) -> str:
        """A new id for ``old``, written to the file before it is used."""
        new = ids.conversation_id()
        with self.path.open("ab") as out:
            out.write(msgspec.json.encode({"old": old, "new": new}) + b"\n")
        self.pairs[old] = new
        return new


async def conversations(
    store: Store, project: str, metadata: list[tuple[str, str]] | None = None
) -> AsyncIterator[ExportedConversation]:
    """Every conversation of ``project`` (oldest first) with all its items, oldest first."""
    after: str | None = None
    while True:
        page = await store.list_conversations(
            project, metadata=metadata or [], after=after, limit=_PAGE, order="asc"
        )
        for record in page.conversations:
            items: list[msgspec.Raw] = []
            cursor: str | None = None
            while True:
                chunk = await store.list_items(
                    project, record.id, after=cursor, limit=_PAGE, order="asc"
                )
                items += [msgspec.Raw(data) for _, data in chunk.items]
                if not chunk.has_more or not chunk.items:
                    break
                cursor = chunk.items[-1][0]
            yield ExportedConversation(
                record.id, record.created_at, msgspec.Raw(record.metadata), items
            )
        if not page.has_more or not page.conversations:
            return
        after = page.conversations[-1].id


def header(project_name: str) -> bytes:
    """The first line of an export."""
    return msgspec.json.encode(
        {"parley_export": FORMAT_VERSION, "project": project_name, "exported_at": int(time.time())}
    )


async def import_lines(
    store: Store, project: str, lines: Iterable[bytes], id_map: IdMap | None = None
) -> ImportSummary:
    """Import an export's lines into ``project`` (a project id); skip ids already there.

    A conversation whose id another project holds is reported in ``elsewhere``, or, with an
    ``id_map``, imported under a new id.
    """
    summary = ImportSummary()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = msgspec.json.decode(line)
        except msgspec.DecodeError:
            summary.failed.append(f"line {number}: not JSON")
            continue
        if not isinstance(entry, dict):
            summary.failed.append(f"line {number}: not a JSON object")
            continue
        if "parley_export" in entry:
            if entry["parley_export"] != FORMAT_VERSION:
                raise ValueError(
                    f"line {number}: export format {entry['parley_export']} is not supported"
                )
            continue
        await import_one(store, project, entry, f"line {number}", summary, id_map)
    return summary


async def _present(store: Store, project: str, conversation_id: str) -> bool:
    try:
        await store.retrieve_conversation(project, conversation_id)
    except NotFound:
        return False
    return True


async def import_one(
    store: Store,
    project: str,
    entry: dict[str, Any],
    where: str,
    summary: ImportSummary,
    id_map: IdMap | None = None,
) -> None:
    """Store one exported conversation in ``project`` unless it is there; count what happened.

    ``where`` names the entry in failure lines (``line 7``); ``import --from`` passes its own.
    """
    conversation_id = entry.get("id")
    if not isinstance(conversation_id, str) or not conversation_id.startswith("conv_"):
        summary.failed.append(f"{where}: no conversation id")
        return
    if id_map is not None and conversation_id in id_map.pairs:
        conversation_id = id_map.pairs[conversation_id]  # renamed by an earlier run
    if await _present(store, project, conversation_id):
        summary.skipped += 1
        return
    owner = await store.conversation_project_name(conversation_id)
    renamed = owner is not None
    if owner is not None:
        if id_map is None:
            summary.elsewhere.append((conversation_id, owner))
            return
        conversation_id = id_map.record(conversation_id)
    items: list[NewItem] = []
    try:
        stored_metadata = encode_metadata(entry.get("metadata") or {})
        raw_items = entry.get("items") or []
        if not isinstance(raw_items, list):
            raise invalid_type("items", "an array of items", raw_items)
        # Items pass the API's own checks and rules: an edited export cannot smuggle in
        # what a client could not have stored.
        items = await prepare_items(store, project, parse_items(raw_items), references=False)
        created_at = entry.get("created_at")
        await store.create_conversation(
            project,
            conversation_id,
            created_at if isinstance(created_at, int) else int(time.time()),
            stored_metadata,
            items,
        )
    except ParleyError as exc:
        summary.failed.append(f"{where} ({conversation_id}): {exc.message}")
        return
    except Exception as exc:  # a unique-id clash with another project, for one
        summary.failed.append(f"{where} ({conversation_id}): {type(exc).__name__}: {exc}")
        return
    summary.imported += 1
    summary.renamed += renamed
    summary.items += len(items)
