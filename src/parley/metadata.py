"""Conversation metadata: OpenAI's limits, checked with OpenAI's messages, stored as JSON."""

from __future__ import annotations

from typing import Any

import msgspec

from parley.errors import InvalidRequest, invalid_type
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
        raise InvalidRequest(
            f"Invalid '{param}': too many properties. Expected an object with at most "
            f"{MAX_METADATA_PAIRS} properties, but got an object with {len(value)} properties "
            "instead.",
            param=param,
            code="object_above_max_properties",
        )
    for key, text in value.items():
        if "\x00" in key or (isinstance(text, str) and "\x00" in text):
            # Valid JSON, but no store keeps it: PostgreSQL text (the metadata index) refuses
            # NUL, so both backends answer the same 400.
            where = param if "\x00" in key else f"{param}.{key}"
            raise InvalidRequest(
                f"Invalid '{where}': metadata keys and values cannot contain the NUL "
                "character (\\u0000).",
                param=where,
                code="invalid_value",
            )
        if len(key) > MAX_METADATA_KEY:
            raise InvalidRequest(
                f"Invalid '{param}': key too long. Expected a key with maximum length "
                f"{MAX_METADATA_KEY}, but got a key with length {len(key)} instead.",
                param=param,
                code="string_above_max_length",
            )
        if not isinstance(text, str):
            raise invalid_type(f"{param}.{key}", "a string", text)
        if len(text) > MAX_METADATA_VALUE:
            raise InvalidRequest(
                f"Invalid '{param}.{key}': string too long. Expected a string with maximum "
                f"length {MAX_METADATA_VALUE}, but got a string with length {len(text)} "
                "instead.",
                param=f"{param}.{key}",
                code="string_above_max_length",
            )
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
