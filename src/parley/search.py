"""Full-text search (a parley extension): what text of an item is searchable, and cursors.

One function decides what is searchable, for both backends and every write path: a message's
text parts, a function or custom tool call's arguments, and the outputs of those calls.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

import msgspec

from parley.errors import InvalidRequest

_decode = msgspec.json.decode
# Past this the text of one item is not indexed further (a huge tool output would bloat the
# index for little recall).
MAX_INDEXED_CHARS = 32_768
# Snippets: matched words between MARK pairs, about this many words of context in all.
MARK = "**"
SNIPPET_TOKENS = 16
# Matching item ids listed per conversation hit (the best ones first).
MAX_ITEMS_PER_HIT = 10


def item_text(data: bytes) -> str:
    """The searchable text of one stored item ('' when it has none)."""
    try:
        item = _decode(data)
    except msgspec.DecodeError:
        return ""
    if not isinstance(item, dict):
        return ""
    kind = item.get("type")
    found: list[str] = []
    if kind == "message":
        _parts(item.get("content"), found)
    elif kind in ("function_call", "custom_tool_call"):
        _strings(item.get("arguments"), found)
        _strings(item.get("input"), found)
    elif kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        if isinstance(output, list):
            _parts(output, found)
        else:
            _strings(output, found)
    # PostgreSQL text cannot hold NUL; neither index needs it.
    return "\n".join(found).replace("\x00", " ")[:MAX_INDEXED_CHARS]


def _strings(value: Any, found: list[str]) -> None:
    if isinstance(value, str) and value:
        found.append(value)


def _parts(content: Any, found: list[str]) -> None:
    if isinstance(content, str):
        _strings(content, found)
        return
    if not isinstance(content, list):
        return
    for part in content:
        if isinstance(part, dict):
            _strings(part.get("text"), found)
            _strings(part.get("refusal"), found)


def encode_cursor(score: float, seq: int) -> str:
    """An opaque page cursor: the last hit's (score, key), exactly."""
    return base64.urlsafe_b64encode(struct.pack(">dq", score, seq)).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[float, int]:
    """The (score, key) of a cursor made by :func:`encode_cursor`; 400 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        score, seq = struct.unpack(">dq", raw)
    except (binascii.Error, struct.error, ValueError):
        raise InvalidRequest(
            "Invalid 'page': pass the next_page value of the previous answer unchanged.",
            param="page",
            code="invalid_value",
        ) from None
    return float(score), int(seq)
