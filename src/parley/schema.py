"""Validation of input items against OpenAI's own spec, with OpenAI-style error messages.

parley ships the Conversations subset of OpenAI's OpenAPI document and checks every input item
against the schema of its `type`. Only the JSON Schema keywords that document uses are
understood. Errors name the offending field the way OpenAI does (`items[0].content[1].text`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

from parley.errors import (
    InvalidRequest,
    above_maximum,
    below_minimum,
    invalid_type,
    invalid_value,
    missing_parameter,
    too_long,
    too_many_properties,
    too_short,
)

Schema = dict[str, Any]

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


@functools.cache
def spec() -> dict[str, Any]:
    """OpenAI's Conversations OpenAPI document as shipped with parley (quirks mended)."""
    text = resources.files("parley").joinpath("spec/openai-conversations.openapi.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    schemas = doc["components"]["schemas"]
    _mend(schemas)
    return doc


def _mend(schemas: dict[str, Schema]) -> None:
    """Loosen the snapshot where it rejects what the official SDK itself sends or accepts."""
    # Some schemas require fields they never define (`request_id` on MCP approval responses,
    # `call_id` on local shell outputs); the SDK has no such fields.
    for component in schemas.values():
        properties = component.get("properties")
        if properties is not None and "required" in component:
            component["required"] = [r for r in component["required"] if r in properties]
    # The SDK's models allow these; items it produced must round-trip.
    schemas["WebSearchToolCall"]["properties"]["status"]["enum"].append("incomplete")
    screenshot = schemas["ComputerScreenshotContent"]
    screenshot["required"] = [
        r for r in screenshot["required"] if r not in ("image_url", "file_id")
    ]
    text = schemas["OutputTextContent"]
    text["properties"]["logprobs"] = {"anyOf": [text["properties"]["logprobs"], {"type": "null"}]}


def _schemas() -> dict[str, Schema]:
    result: dict[str, Schema] = spec()["components"]["schemas"]
    return result


def deref(schema: Schema) -> Schema:
    """Follow ``$ref`` links to the schema they name."""
    while "$ref" in schema:
        schema = _schemas()[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def named(name: str) -> Schema:
    """The component schema called ``name``."""
    return _schemas()[name]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def _type_matches(value: Any, expected: str) -> bool:
    actual = _json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


_CONST_TYPES: dict[int, str | None] = {}
_TAG_MAPS: dict[int, dict[str, Schema]] = {}


def _const_type(schema: Schema) -> str | None:
    """The single `type` value a variant schema pins (its discriminator), if any."""
    # Schemas live as long as the cached spec, so their ids are stable memo keys.
    key = id(schema)
    if key not in _CONST_TYPES:
        _CONST_TYPES[key] = _find_const_type(schema)
    return _CONST_TYPES[key]


def _tag_map(schema: Schema, variants: list[Schema]) -> dict[str, Schema]:
    """``{type value: first variant pinning it}`` for a union schema, computed once."""
    key = id(schema)
    found = _TAG_MAPS.get(key)
    if found is None:
        found = {}
        for variant in variants:
            tag = _const_type(variant)
            if tag is not None:
                found.setdefault(tag, variant)
        _TAG_MAPS[key] = found
    return found


def _find_const_type(schema: Schema) -> str | None:
    prop = deref(schema).get("properties", {}).get("type")
    if prop is None:
        return None
    prop = deref(prop)
    for candidate in [prop, *prop.get("anyOf", [])]:
        enum = deref(candidate).get("enum")
        if enum and len(enum) == 1:
            return str(enum[0])
    return None


def _describe(schema: Schema) -> str:
    schema = deref(schema)
    kind = schema.get("type")
    if isinstance(kind, str):
        return _TYPE_WORDS.get(kind, kind)
    if "anyOf" in schema or "oneOf" in schema:
        words = [_describe(s) for s in schema.get("anyOf") or schema.get("oneOf") or []]
        unique = list(dict.fromkeys(w for w in words if w))
        return " or ".join(unique) if unique else "a valid value"
    if "properties" in schema:
        return "an object"
    return "a valid value"


class _Validator:
    """Walks one instance against one schema; raises the first error, OpenAI-style."""

    def __init__(self, optional: frozenset[str] = frozenset()) -> None:
        # Top-level fields that parley fills in itself (`id`, `status`), so not required on input.
        self.optional = optional

    def check(self, value: Any, schema: Schema, path: str, depth: int = 0) -> None:
        schema = deref(schema)
        if "allOf" in schema:
            for part in schema["allOf"]:
                self.check(value, part, path, depth)
        if "oneOf" in schema or "anyOf" in schema:
            self._check_union(value, schema, path, depth)
        kind = schema.get("type")
        if kind is not None:
            kinds = kind if isinstance(kind, list) else [kind]
            if not any(_type_matches(value, k) for k in kinds):
                raise invalid_type(path, _describe(schema), value)
        if "enum" in schema and value not in schema["enum"]:
            raise invalid_value(path, value, [str(v) for v in schema["enum"]])
        if isinstance(value, str):
            self._check_string(value, schema, path)
        elif isinstance(value, bool):
            pass
        elif isinstance(value, int | float):
            self._check_number(value, schema, path)
        elif isinstance(value, list):
            self._check_array(value, schema, path, depth)
        elif isinstance(value, dict):
            self._check_object(value, schema, path, depth)

    def _check_union(self, value: Any, schema: Schema, path: str, depth: int) -> None:
        variants: list[Schema] = schema.get("oneOf") or schema.get("anyOf") or []
        if isinstance(value, dict) and "type" in value:
            tags = _tag_map(schema, variants)
            tag = value["type"]
            pinned = tags.get(tag) if isinstance(tag, str) else None
            if pinned is not None:
                self.check(value, pinned, path, depth + 1)
                return
            if tags and len(tags) == len(variants):
                raise invalid_value(f"{path}.type", tag, list(tags))
        errors: list[InvalidRequest] = []
        for variant in variants:
            try:
                self.check(value, variant, path, depth + 1)
                return
            except InvalidRequest as exc:
                errors.append(exc)
        if not errors:
            return
        # Report the error that got furthest into the value: it names the real culprit.
        deepest = max(errors, key=lambda e: (len(e.param or ""), e.code != "invalid_type"))
        if all(e.param == path and e.code == "invalid_type" for e in errors):
            raise invalid_type(path, _describe(schema), value)
        raise deepest

    def _check_string(self, value: str, schema: Schema, path: str) -> None:
        max_length = schema.get("maxLength")
        if max_length is not None and len(value) > max_length:
            raise too_long(path, "string", max_length, len(value))
        min_length = schema.get("minLength")
        if min_length is not None and len(value) < min_length:
            raise too_short(path, "string", min_length, len(value))
        pattern = schema.get("pattern")
        if pattern is not None and not _compiled(pattern).search(value):
            raise InvalidRequest(
                f"Invalid '{path}': string does not match pattern. Expected a string that "
                f"matches the pattern '{pattern}'.",
                param=path,
                code="invalid_value",
            )

    def _check_number(self, value: float, schema: Schema, path: str) -> None:
        low = schema.get("minimum")
        if low is not None and value < low:
            raise below_minimum(path, low, value)
        high = schema.get("maximum")
        if high is not None and value > high:
            raise above_maximum(path, high, value)

    def _check_array(self, value: list[Any], schema: Schema, path: str, depth: int) -> None:
        max_items = schema.get("maxItems")
        if max_items is not None and len(value) > max_items:
            raise too_long(path, "array", max_items, len(value))
        min_items = schema.get("minItems")
        if min_items is not None and len(value) < min_items:
            raise too_short(path, "array", min_items, len(value))
        item_schema = schema.get("items")
        if item_schema is not None:
            for index, element in enumerate(value):
                self.check(element, item_schema, f"{path}[{index}]", depth + 1)

    def _check_object(self, value: dict[str, Any], schema: Schema, path: str, depth: int) -> None:
        properties: dict[str, Schema] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value and not (depth == 0 and name in self.optional):
                raise missing_parameter(f"{path}.{name}")
        max_props = schema.get("maxProperties")
        if max_props is not None and len(value) > max_props:
            raise too_many_properties(path, max_props, len(value))
        extra = schema.get("additionalProperties")
        for key, element in value.items():
            sub = f"{path}.{key}"
            if key in properties:
                if depth == 0 and key in self.optional and element is None:
                    continue
                self.check(element, properties[key], sub, depth + 1)
            elif isinstance(extra, dict):
                self.check(element, extra, sub, depth + 1)
            # Unknown fields are kept as given: item types grow new fields faster than any
            # spec snapshot, and parley stores items losslessly.


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_FILLED_BY_SERVER = frozenset({"id", "status"})


def validator_for(schema_name: str) -> Callable[[Any, str], None]:
    """A function that checks a value against the named component schema."""
    schema = named(schema_name)
    walker = _Validator(_FILLED_BY_SERVER)

    def validate(value: Any, path: str) -> None:
        walker.check(value, schema, path)

    return validate


def check(value: Any, schema: Schema, path: str) -> None:
    """Check ``value`` against ``schema``; raise :class:`InvalidRequest` on the first error."""
    _Validator().check(value, schema, path)


@functools.cache
def input_item_schemas() -> dict[str, str]:
    """Map each input item `type` to the name of the schema that validates it."""
    result: dict[str, str] = {}
    sources = [*named("Item")["oneOf"], *named("InputItem")["oneOf"]]
    for ref in sources:
        if "$ref" not in ref:
            continue
        name = ref["$ref"].rsplit("/", 1)[-1]
        if name in ("Item", "EasyInputMessage", "InputMessage", "OutputMessage"):
            continue
        kind = _const_type(ref)
        if kind is not None and kind not in result:
            result[kind] = name
    return result
