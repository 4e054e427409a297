"""The conversations page (search, keyset pages) and one conversation as a chat transcript."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from parley.api_extensions import MAX_QUERY_LENGTH
from parley.dashboard import reply, web
from parley.errors import InvalidRequest, ParleyError
from parley.metadata import metadata_filter
from parley.models import ConversationRecord, TimeFilter
from parley.search import MARK, decode_cursor, encode_cursor

LIST_PAGE = 25
# Items per transcript page: a 500-item conversation opens on its first 50, the rest a click
# away each, so the page is as fast as the first one whatever the length.
ITEM_PAGE = 50
# The bytes of one item shown in full: 20 references to a 4 MB item once built 256 MB of HTML
# (a 1.66 GB worker peak). A larger item shows its first 64 KiB; the API has it whole.
SHOWN_BYTES = 64 * 1024
_ROLES = ("system", "developer", "user", "assistant")
_TEXT_PARTS = ("input_text", "output_text", "text", "summary_text", "reasoning_text")


class Search(msgspec.Struct):
    """What the search box asked for, split into its kinds."""

    metadata: list[tuple[str, str]]
    ids: list[str]
    words: list[str]


def parse_search(raw: str) -> Search:
    """``key=value`` words are metadata filters, ``conv_…`` words ids, the rest text."""
    found = Search([], [], [])
    for token in raw.split():
        key, sep, value = token.partition("=")
        if sep and key:
            found.metadata.append((key, value))
        elif token.startswith("conv_"):
            found.ids.append(token)
        else:
            found.words.append(token)
    return found


def _day(raw: str, name: str) -> int | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidRequest(f"Invalid '{name}': expected a date like 2026-01-31.") from None
    return int(day.timestamp())


def _times(start: str, end: str) -> TimeFilter:
    first, last = _day(start, "from"), _day(end, "to")
    # Both days count in full: after the second before `from`, before the day after `to`.
    return TimeFilter(
        created_after=None if first is None else first - 1,
        created_before=None if last is None else last + 86400,
    )


def _without(raw: str, token: str) -> str:
    return " ".join(word for word in raw.split() if word != token)


class Found(msgspec.Struct):
    """One page of the list: its conversations, the text matches per conversation, more?"""

    records: list[ConversationRecord]
    snippets: dict[str, list[tuple[str, str]]]
    next_cursor: dict[str, str] | None


async def _find(request: Request, project: str, search: Search, times: TimeFilter) -> Found:
    store = web.store_of(request)
    params = request.query_params
    if search.ids:
        records = []
        for conversation_id in search.ids:
            try:
                records.append(await store.retrieve_conversation(project, conversation_id))
            except ParleyError:
                continue
        return Found(records, {}, None)
    if search.words:
        query = " ".join(search.words)
        if len(query) > MAX_QUERY_LENGTH:
            raise InvalidRequest(
                f"Invalid 'q': the text to search for is {len(query)} characters long; "
                f"at most {MAX_QUERY_LENGTH}.",
                param="q",
            )
        raw_page = params.get("page")
        hits, has_more = await store.search_conversations(
            project,
            query,
            metadata=search.metadata,
            times=times,
            page=decode_cursor(raw_page) if raw_page else None,
            limit=LIST_PAGE,
        )
        cursor = {"page": encode_cursor(hits[-1].rank, hits[-1].key)} if has_more and hits else None
        return Found([h.record for h in hits], {h.record.id: h.items for h in hits}, cursor)
    page = await store.list_conversations(
        project,
        metadata=search.metadata,
        after=params.get("after") or None,
        limit=LIST_PAGE,
        order="desc",
        times=times,
    )
    records = page.conversations
    return Found(records, {}, {"after": records[-1].id} if page.has_more and records else None)


def _marked(snippet: str) -> list[tuple[bool, str]]:
    """A snippet cut at its match marks: (matched?, text) pieces, for <mark> without markup."""
    return [(index % 2 == 1, piece) for index, piece in enumerate(snippet.split(MARK)) if piece]


async def listing(request: Request, visit: web.Visit) -> Response:
    """The project's conversations, newest first (best first for text), with the search's chips."""
    store = web.store_of(request)
    project = visit.session.project
    params = request.query_params
    raw, start, end = params.get("q", ""), params.get("from", ""), params.get("to", "")
    search = parse_search(raw)
    try:
        # The API's rule: repeats dropped, at most 16 pairs, each checked like metadata.
        search.metadata = metadata_filter(search.metadata, "q")
        found = await _find(request, project, search, _times(start, end))
    except ParleyError as exc:
        return web.render(
            "list.html", visit, status=exc.status, error=exc.message, q=raw, start=start, end=end
        )
    summaries = await store.conversation_summaries(project, [r.id for r in found.records])
    rows: list[dict[str, Any]] = []
    for record in found.records:
        summary = summaries.get(record.id)
        rows.append(
            {
                "id": record.id,
                "created_at": record.created_at,
                "updated_at": summary.updated_at if summary else record.created_at,
                "item_count": summary.item_count if summary else 0,
                "metadata": msgspec.json.decode(record.metadata),
                "matches": [
                    {"item": item_id, "pieces": _marked(snippet)}
                    for item_id, snippet in found.snippets.get(record.id, [])[:3]
                ],
            }
        )
    next_url = None
    if found.next_cursor is not None:
        next_url = "/dashboard?" + urlencode(
            {"q": raw, "from": start, "to": end, **found.next_cursor}
        )
    chips = [
        {"label": token, "remove": "/dashboard?" + urlencode({"q": _without(raw, token)})}
        for token in dict.fromkeys(raw.split())
    ]
    return web.render(
        "list.html",
        visit,
        rows=rows,
        q=raw,
        start=start,
        end=end,
        chips=chips,
        text=bool(search.words),
        next_url=next_url,
        first_page=bool(params.get("after") or params.get("page")),
    )


def _image(part: dict[str, Any]) -> dict[str, Any]:
    url = part.get("image_url")
    if isinstance(url, str) and url.startswith("data:image/"):
        return {"kind": "image", "src": url}
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        # Never fetched by the page itself: a stored URL could track whoever reads it.
        return {"kind": "image_link", "href": url}
    return {"kind": "json", "label": "input_image", "json": json.dumps(part, indent=2)}


def _parts(item: dict[str, Any]) -> list[dict[str, Any]]:
    parts = []
    content = item.get("content")
    if isinstance(content, str):
        return [{"kind": "text", "text": content}]
    for part in content if isinstance(content, list) else []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS and isinstance(part.get("text"), str):
            parts.append({"kind": "text", "text": part["text"]})
        elif kind == "refusal":
            parts.append({"kind": "refusal", "text": str(part.get("refusal", ""))})
        elif kind == "input_image":
            parts.append(_image(part))
        else:
            parts.append({"kind": "json", "label": str(kind), "json": json.dumps(part, indent=2)})
    return parts


def view_item(item: dict[str, Any], position: int) -> dict[str, Any]:
    """What the transcript shows of one item: a bubble for a message, JSON for the rest."""
    kind = item.get("type", "")
    view = {
        "id": item.get("id", ""),
        "type": kind,
        "position": position,
        "json": json.dumps(item, indent=2, ensure_ascii=False),
    }
    if kind == "message" and item.get("role") in _ROLES:
        view["role"] = item["role"]
        view["parts"] = _parts(item)
    else:
        view["title"] = item.get("name") or item.get("call_id") or _summary(item)
    return view


def view_large(item_id: str, data: bytes, position: int) -> dict[str, Any]:
    """A large item's entry: its first SHOWN_BYTES as text, never decoded or re-encoded."""
    head = data[:SHOWN_BYTES].decode("utf-8", "replace")
    return {
        "id": item_id,
        "type": "large item",
        "position": position,
        "title": f"{len(data)} bytes, the first {SHOWN_BYTES} shown",
        "json": head + "…",
    }


def _summary(item: dict[str, Any]) -> str:
    """The first words of a reasoning item's summary, for its collapsed line."""
    for part in item.get("summary") or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            text: str = part["text"]
            return text if len(text) <= 80 else text[:79] + "…"
    return ""


@web.page
async def transcript(request: Request, visit: web.Visit) -> Response:
    """One conversation as a chat, a page of items at a time, oldest first."""
    store = web.store_of(request)
    project = visit.session.project
    conversation_id = request.path_params["conversation_id"]
    after = request.query_params.get("after") or None
    start = request.query_params.get("n", "0")
    offset = int(start) if start.isdigit() and len(start) < 9 else 0
    record = await store.retrieve_conversation(project, conversation_id)
    page = await store.list_items(
        project, conversation_id, after=after, limit=ITEM_PAGE, order="asc"
    )
    summary = (await store.conversation_summaries(project, [conversation_id])).get(conversation_id)
    items = [
        view_large(item_id, data, offset + index)
        if len(data) > SHOWN_BYTES
        else view_item(msgspec.json.decode(data), offset + index)
        for index, (item_id, data) in enumerate(page.items)
    ]
    next_url = None
    after_last = urlencode({"after": page.items[-1][0], "n": offset + len(items)}) if items else ""
    if page.has_more and page.items:
        next_url = "?" + after_last
    # The reply box sits under the last page, where the new turn will show.
    reply_box = None if next_url else await reply.box(request, after_last)
    return web.render(
        "conversation.html",
        visit,
        conversation={
            "id": record.id,
            "created_at": record.created_at,
            "updated_at": summary.updated_at if summary else record.created_at,
            "item_count": summary.item_count if summary else len(items),
            "metadata": msgspec.json.decode(record.metadata),
        },
        items=items,
        next_url=next_url,
        first_url=f"/dashboard/c/{record.id}" if after else None,
        reply=reply_box,
    )
