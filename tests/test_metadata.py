"""Metadata and the schema checker against OpenAI's limits, in process: each limit's message
comes from the one constructor in errors.py."""

from __future__ import annotations

import pytest

from parley import schema
from parley.errors import InvalidRequest
from parley.metadata import encode_metadata, metadata_filter


def _error(call: object, *args: object) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


def test_metadata_limits_answer_openai_s_messages() -> None:
    assert encode_metadata(None) == b"{}" and encode_metadata({}) == b"{}"
    assert encode_metadata({"b": "1", "a": "2"}) == b'{"b":"1","a":"2"}'
    many = _error(encode_metadata, {f"k{n}": "v" for n in range(17)})
    assert (many.param, many.code) == ("metadata", "object_above_max_properties")
    assert "at most 16 properties, but got an object with 17 properties" in many.message
    key = _error(encode_metadata, {"k" * 65: "v"})
    assert (key.param, key.code) == ("metadata", "string_above_max_length")
    assert key.message.startswith("Invalid 'metadata': key too long. Expected a key with")
    value = _error(encode_metadata, {"k": "v" * 513})
    assert (value.param, value.code) == ("metadata.k", "string_above_max_length")
    assert "Expected a string with maximum length 512, but got a string with length 513" in (
        value.message
    )
    nul = _error(encode_metadata, {"k": "a\x00b"})
    assert (nul.param, nul.code) == ("metadata.k", "invalid_value")
    assert _error(encode_metadata, {"k": 1}).code == "invalid_type"


def test_a_filter_drops_repeats_and_keeps_the_limit() -> None:
    assert metadata_filter([("a", "1"), ("a", "1"), ("a", "2")]) == [("a", "1"), ("a", "2")]
    assert _error(metadata_filter, [(f"k{n}", "v") for n in range(17)]).param == "metadata"


@pytest.mark.parametrize(
    ("value", "rule", "code", "text"),
    [
        ("abcd", {"type": "string", "maxLength": 3}, "string_above_max_length", "string too long"),
        ("a", {"type": "string", "minLength": 2}, "string_below_min_length", "string too short"),
        ([1, 2], {"type": "array", "maxItems": 1}, "array_above_max_length", "an array with"),
        ([], {"type": "array", "minItems": 1}, "array_below_min_length", "array too short"),
        (0, {"type": "integer", "minimum": 1}, "integer_below_min_value", "Expected a value >= 1"),
        (2.5, {"type": "number", "maximum": 2}, "decimal_above_max_value", "Expected a value <= 2"),
        (
            {"a": 1, "b": 2},
            {"type": "object", "maxProperties": 1},
            "object_above_max_properties",
            "at most 1",
        ),
    ],
)
def test_the_schema_checker_speaks_the_same_limits(
    value: object, rule: schema.Schema, code: str, text: str
) -> None:
    error = _error(schema.check, value, rule, "x")
    assert (error.param, error.code) == ("x", code)
    assert error.message.startswith("Invalid 'x': ") and text in error.message
