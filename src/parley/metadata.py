"""Conversation metadata: OpenAI's limits, checked with OpenAI's messages, stored as JSON."""

from __future__ import annotations

from typing import Any

import msgspec

from parley.errors import InvalidRequest, invalid_type, refuse_nul, too_long, too_many_properties
from parley.models import MAX_METADATA_KEY, MAX_METADATA_PAIRS, MAX_METADATA_VALUE

_encode = msgspec.json.Encoder().encode
_EMPTY_METADATA = b"{}"


def encode_metadata(value: Any, param: str = "metadata") -> bytes:
    """Check metadata against OpenAI's limits; return it as stored JSON (``{}`` for none)."""
    if value is None:
        return _EMPTY_METADATA
    if not isinstance(value, dict):
        raise invalid_type(param, "a metadata object", value)
    if len(value) > MAX_METADATA_PAIRS:
        raise too_many_properties(param, MAX_METADATA_PAIRS, len(value))
    for key, text in value.items():
        refuse_nul(param, key, what="a metadata key")
        if isinstance(text, str):
            refuse_nul(f"{param}.{key}", text, what="a metadata value")
        if len(key) > MAX_METADATA_KEY:
            raise too_long(param, "key", MAX_METADATA_KEY, len(key), code="string_above_max_length")
        if not isinstance(text, str):
            raise invalid_type(f"{param}.{key}", "a string", text)
        if len(text) > MAX_METADATA_VALUE:
            raise too_long(f"{param}.{key}", "string", MAX_METADATA_VALUE, len(text))
    return _encode(value) if value else _EMPTY_METADATA


def metadata_filter(pairs: list[tuple[str, str]], param: str = "metadata") -> list[tuple[str, str]]:
    """A metadata filter's (key, value) pairs: repeats dropped, checked like metadata itself.

    Every pair costs the list query one index probe per candidate row, so a filter is held to
    OpenAI's 16-pair metadata limit after duplicates are dropped (a URL repeating one pair
    900 times once cost a 10,000-conversation project 99 s of one server's event loop).
    """
    unique = list(dict.fromkeys(pairs))
    if len(unique) > MAX_METADATA_PAIRS:
        raise InvalidRequest(
            f"Invalid '{param}': too many properties. Expected a filter with at most "
            f"{MAX_METADATA_PAIRS} metadata pairs, but got {len(unique)} pairs instead.",
            param=param,
            code="object_above_max_properties",
        )
    for key, value in unique:
        # One pair at a time: two values for one key are a valid (empty) filter.
        encode_metadata({key: value}, param)
    return unique
