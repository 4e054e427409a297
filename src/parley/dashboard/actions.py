"""What the conversation page can change: metadata, items, the conversation; fork and export."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from parley import ids, transfer
from parley.dashboard import web
from parley.dashboard.conversations import view_item
from parley.errors import ParleyError
from parley.metadata import encode_metadata
from parley.store import Store

_EXPORT_PAGE = 100


def _back(conversation_id: str, anchor: str = "") -> Response:
    return RedirectResponse(
        f"/dashboard/c/{quote(conversation_id)}" + (f"#{anchor}" if anchor else ""),
        status_code=303,
    )


def _metadata_text(metadata: dict[str, Any]) -> str:
    return "\n".join(f"{key}={value}" for key, value in metadata.items())


def parse_metadata(text: str) -> dict[str, str]:
    """``key=value`` lines (split at the first ``=``; blank lines skipped) as metadata."""
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition("=")
        pairs[key.strip()] = value.strip()
    return pairs


@web.page
async def metadata_form(request: Request, visit: web.Visit) -> Response:
    """The metadata editor, one ``key=value`` per line."""
    conversation_id = request.path_params["conversation_id"]
    record = await web.store_of(request).retrieve_conversation(
        visit.session.project, conversation_id
    )
    text = _metadata_text(msgspec.json.decode(record.metadata))
    return web.render("metadata.html", visit, conversation_id=record.id, text=text)


@web.change
async def update_metadata(request: Request, visit: web.Visit, form: dict[str, str]) -> Response:
    """Replace the metadata, checked by the API's own rules and messages."""
    conversation_id = request.path_params["conversation_id"]
    text = form.get("metadata", "")
    try:
        encoded = encode_metadata(parse_metadata(text))
        await web.store_of(request).update_conversation(
            visit.session.project, conversation_id, encoded
        )
    except ParleyError as exc:
        return web.render(
            "metadata.html",
            visit,
            status=exc.status,
            conversation_id=conversation_id,
            text=text,
            error=exc.message,
        )
    return _back(conversation_id)


@web.change
async def delete_item(request: Request, visit: web.Visit, form: dict[str, str]) -> Response:
    """Delete one item; back to the transcript."""
    conversation_id = request.path_params["conversation_id"]
    await web.store_of(request).delete_item(
        visit.session.project, conversation_id, request.path_params["item_id"]
    )
    return _back(conversation_id)


@web.page
async def confirm_delete(request: Request, visit: web.Visit) -> Response:
    """Ask before deleting a whole conversation."""
    store = web.store_of(request)
    conversation_id = request.path_params["conversation_id"]
    record = await store.retrieve_conversation(visit.session.project, conversation_id)
    summary = (await store.conversation_summaries(visit.session.project, [record.id])).get(
        record.id
    )
    return web.render(
        "confirm_delete.html",
        visit,
        conversation_id=record.id,
        items=summary.item_count if summary else 0,
    )


@web.change
async def delete_conversation(request: Request, visit: web.Visit, form: dict[str, str]) -> Response:
    """Delete the conversation and its items; back to the list."""
    await web.store_of(request).delete_conversation(
        visit.session.project, request.path_params["conversation_id"]
    )
    return RedirectResponse("/dashboard", status_code=303)


@web.change
async def fork(request: Request, visit: web.Visit, form: dict[str, str]) -> Response:
    """A new conversation holding the items up to and including the chosen one."""
    record = await web.store_of(request).fork_conversation(
        visit.session.project,
        request.path_params["conversation_id"],
        new_id=ids.conversation_id(),
        created_at=int(time.time()),
        after_item=form.get("after_item") or None,
        metadata=None,
    )
    return _back(record.id)


async def _items(store: Store, project: str, conversation_id: str) -> AsyncIterator[bytes]:
    after: str | None = None
    while True:
        page = await store.list_items(
            project, conversation_id, after=after, limit=_EXPORT_PAGE, order="asc"
        )
        for _, data in page.items:
            yield data
        if not page.has_more or not page.items:
            return
        after = page.items[-1][0]


def _attachment(name: str) -> dict[str, str]:
    return {"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"}


@web.page
async def export_jsonl(request: Request, visit: web.Visit) -> Response:
    """The conversation in `parley export`'s JSON Lines form (``parley import`` reads it)."""
    store = web.store_of(request)
    project = visit.session.project
    record = await store.retrieve_conversation(project, request.path_params["conversation_id"])
    items = [msgspec.Raw(data) async for data in _items(store, project, record.id)]
    line = transfer.ExportedConversation(
        record.id, record.created_at, msgspec.Raw(record.metadata), items
    )
    body = transfer.header(visit.session.project_name) + b"\n" + msgspec.json.encode(line) + b"\n"
    return Response(body, media_type="application/jsonl", headers=_attachment(f"{record.id}.jsonl"))


def _markdown_item(view: dict[str, Any]) -> str:
    """One item of the Markdown export."""
    head = f"### #{view['position']} {view.get('role') or view['type']} `{view['id']}`\n\n"
    if "parts" not in view:
        return head + "```json\n" + str(view["json"]) + "\n```\n"
    chunks = []
    for part in view["parts"]:
        if part["kind"] in ("text", "refusal"):
            chunks.append(part["text"])
        elif part["kind"] == "image_link":
            chunks.append(f"[image]({part['href']})")
        elif part["kind"] == "image":
            chunks.append("(an inline image)")
        else:
            chunks.append("```json\n" + part["json"] + "\n```")
    return head + "\n\n".join(chunks) + "\n"


@web.page
async def export_markdown(request: Request, visit: web.Visit) -> Response:
    """The conversation as a readable Markdown transcript."""
    store = web.store_of(request)
    project = visit.session.project
    record = await store.retrieve_conversation(project, request.path_params["conversation_id"])
    metadata = msgspec.json.decode(record.metadata)

    async def lines() -> AsyncIterator[bytes]:
        yield f"# Conversation `{record.id}`\n\ncreated {web.when(record.created_at)}\n".encode()
        for key, value in metadata.items():
            yield f"- **{key}**: {value}\n".encode()
        position = 0
        async for data in _items(store, project, record.id):
            view = view_item(msgspec.json.decode(data), position)
            yield ("\n" + _markdown_item(view)).encode()
            position += 1

    return StreamingResponse(
        lines(), media_type="text/markdown; charset=utf-8", headers=_attachment(f"{record.id}.md")
    )
