"""Input items → stored items: validation, the easy-message forms, ids and defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from parley import ids, schema
from parley.errors import (
    InvalidRequest,
    duplicate_item,
    empty_array,
    invalid_type,
    invalid_value,
    item_not_found,
    missing_parameter,
    refuse_nul,
    too_long,
)
from parley.models import ITEM_TYPES, MAX_ITEMS_PER_CALL, MESSAGE_INPUT_ROLES, NewItem

if TYPE_CHECKING:
    from parley.store import Store

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode

_MESSAGE_STATUSES = ("in_progress", "completed", "incomplete")
_PHASES = ("commentary", "final_answer")
# Every content part a stored message may hold (the spec's `Message.content` union).
_PART_SCHEMA: schema.Schema = schema.named("Message")["properties"]["content"]["items"]
_SUPPORTED_TYPES = sorted([*ITEM_TYPES, "item_reference"])
_NULLABLE_STRING: schema.Schema = {"type": ["string", "null"]}
# `configuration_update` is newer than the spec snapshot: this mirrors the SDK 3.57 model.
_CONFIGURATION_UPDATE: schema.Schema = {
    "type": "object",
    "properties": {
        "id": _NULLABLE_STRING,
        "reasoning": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "properties": {
                        "effort": {
                            "anyOf": [
                                {"type": "null"},
                                {
                                    "type": "string",
                                    "enum": [
                                        "none",
                                        "minimal",
                                        "low",
                                        "medium",
                                        "high",
                                        "xhigh",
                                        "max",
                                    ],
                                },
                            ]
                        }
                    },
                },
            ]
        },
        "text": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["format"],
                    "properties": {
                        "format": {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["type"],
                                    "properties": {"type": {"type": "string", "enum": ["text"]}},
                                },
                                {
                                    "type": "object",
                                    "required": ["type", "name", "schema"],
                                    "properties": {
                                        "type": {"type": "string", "enum": ["json_schema"]},
                                        "name": {"type": "string"},
                                        "schema": {"type": "object"},
                                        "description": {"type": "string"},
                                        "strict": {"type": ["boolean", "null"]},
                                    },
                                },
                            ]
                        }
                    },
                },
            ]
        },
    },
}
_TOOL_OUTPUTS = ("function_call_output", "custom_tool_call_output")


class ItemReference(msgspec.Struct):
    """An `item_reference` input: a copy of an existing item of the same project."""

    id: str
    index: int


def check_items_array(raw: Any, param: str = "items", *, allow_empty: bool = True) -> list[Any]:
    """Check that ``raw`` is an array of at most 20 entries and return it."""
    if not isinstance(raw, list):
        raise invalid_type(param, "an array of input items", raw)
    if len(raw) > MAX_ITEMS_PER_CALL:
        raise too_long(param, "array", MAX_ITEMS_PER_CALL, len(raw))
    if not raw and not allow_empty:
        raise empty_array(param)
    return raw


def parse_items(raw: list[Any], param: str = "items") -> list[NewItem | ItemReference]:
    """Validate input items and turn each into its stored (output) form, in order."""
    return [parse_item(entry, f"{param}[{index}]", index) for index, entry in enumerate(raw)]


def parse_item(entry: Any, path: str, index: int) -> NewItem | ItemReference:
    """One input item → a :class:`NewItem` ready to store, or an :class:`ItemReference`."""
    if not isinstance(entry, dict):
        raise invalid_type(path, "an object", entry)
    kind = entry.get("type")
    if kind is None:
        # n8n and the easy-message form leave `type` out; so may an item reference.
        if "role" in entry or "content" in entry:
            kind = "message"
        elif "id" in entry:
            kind = "item_reference"
        else:
            raise missing_parameter(f"{path}.type")
    if not isinstance(kind, str):
        raise invalid_type(f"{path}.type", "a string", kind)
    if kind == "item_reference":
        ref_id = entry.get("id")
        if ref_id is None:
            raise missing_parameter(f"{path}.id")
        if not isinstance(ref_id, str):
            raise invalid_type(f"{path}.id", "a string", ref_id)
        return ItemReference(ref_id, index)
    if kind == "message":
        item = _message(entry, path)
    elif kind == "configuration_update":
        schema.check(entry, _CONFIGURATION_UPDATE, path)
        item = dict(entry)
    elif kind in ITEM_TYPES:
        schema.validator_for(schema.input_item_schemas()[kind])(entry, path)
        item = dict(entry)
        action = item.get("action")
        if kind == "shell_call" and isinstance(action, dict):
            # The output schema requires both limits (nullable); the input form may omit them.
            item["action"] = {"timeout_ms": None, "max_output_length": None, **action}
        output = item.get("output")
        if kind in _TOOL_OUTPUTS and isinstance(output, list):
            # Image parts of tool outputs need `detail` in the SDK's output model too.
            item["output"] = [_fill_part(p) if isinstance(p, dict) else p for p in output]
    elif kind == "compaction_trigger":
        raise InvalidRequest(
            f"Invalid value for '{path}.type': 'compaction_trigger' asks a model to compact "
            "its context; it is not an item a conversation can store.",
            param=f"{path}.type",
            code="invalid_value",
        )
    else:
        raise invalid_value(f"{path}.type", kind, _SUPPORTED_TYPES)
    return finish(item, kind, path)


def finish(item: dict[str, Any], kind: str, path: str) -> NewItem:
    """Fill in `id`, `status` and the other server-side fields; encode once."""
    spec = ITEM_TYPES[kind]
    item_id = item.get("id")
    if item_id is None:
        item_id = ids.new_id(spec.prefix)
    elif not isinstance(item_id, str):
        raise invalid_type(f"{path}.id", "a string", item_id)
    elif not item_id:
        raise InvalidRequest(
            f"Invalid '{path}.id': empty string.", param=f"{path}.id", code="empty_string"
        )
    elif (reason := ids.unaddressable(item_id)) is not None:
        shown = item_id if len(item_id) <= 64 else item_id[:64] + "…"
        raise InvalidRequest(
            f"Invalid '{path}.id': '{shown}' cannot be used as an item id, because {reason}: "
            "an item id must fit in one URL path segment, so it can be read and deleted.",
            param=f"{path}.id",
            code="invalid_value",
        )
    item = {"id": item_id, "type": kind, **item}
    # An input may carry `"id": null` or `"type": null`; the stored item has both, always.
    item["id"], item["type"] = item_id, kind
    if spec.default_status is not None and item.get("status") is None:
        item["status"] = spec.default_status
    for field, value in spec.fills.items():
        item.setdefault(field, value)
    return NewItem(item_id, kind, _encode(item))


def _message(entry: dict[str, Any], path: str) -> dict[str, Any]:
    role = entry.get("role")
    if role is None:
        raise missing_parameter(f"{path}.role")
    if role not in MESSAGE_INPUT_ROLES:
        if not isinstance(role, str):
            raise invalid_type(f"{path}.role", "a string", role)
        raise invalid_value(f"{path}.role", role, list(MESSAGE_INPUT_ROLES))
    if "content" not in entry:
        raise missing_parameter(f"{path}.content")
    content = entry["content"]
    if isinstance(content, str):
        part_type = "output_text" if role == "assistant" else "input_text"
        parts: list[Any] = [_text_part(part_type, content)]
    elif isinstance(content, list):
        parts = []
        for index, part in enumerate(content):
            if isinstance(part, dict):
                part = _fill_part(part)
                if _plain_text(part):
                    parts.append(part)
                    continue
            schema.check(part, _PART_SCHEMA, f"{path}.content[{index}]")
            parts.append(part)
    else:
        raise invalid_type(f"{path}.content", "a string or an array of content parts", content)
    status = entry.get("status")
    if status is not None and status not in _MESSAGE_STATUSES:
        raise invalid_value(f"{path}.status", status, list(_MESSAGE_STATUSES))
    phase = entry.get("phase")
    if phase is not None and phase not in _PHASES:
        raise invalid_value(f"{path}.phase", phase, list(_PHASES))
    message = dict(entry)
    message["content"] = parts
    return message


_PLAIN_KEYS = {
    "input_text": frozenset({"type", "text"}),
    "output_text": frozenset({"type", "text", "annotations", "logprobs"}),
}


def _plain_text(part: dict[str, Any]) -> bool:
    """True for the common text parts that need no schema walk (what n8n and chats send)."""
    keys = _PLAIN_KEYS.get(part.get("type"))  # type: ignore[arg-type]
    return (
        keys is not None
        and part.keys() <= keys
        and isinstance(part.get("text"), str)
        and part.get("annotations", []) == []
        and part.get("logprobs", []) in ([], None)
    )


def _text_part(part_type: str, text: str) -> dict[str, Any]:
    if part_type == "output_text":
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"type": part_type, "text": text}


def _fill_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "output_text" and ("annotations" not in part or "logprobs" not in part):
        part = {**part}
        part.setdefault("annotations", [])
        part.setdefault("logprobs", [])
    elif kind in ("input_image", "computer_screenshot") and part.get("detail") is None:
        part = {**part, "detail": "auto"}
    return part


def copy_item(data: bytes) -> NewItem:
    """A stored item copied under a fresh id (what an `item_reference` stores)."""
    item = _decode(data)
    kind = item["type"]
    item["id"] = ids.new_id(ITEM_TYPES[kind].prefix)
    return NewItem(item["id"], kind, _encode(item))


async def prepare_items(
    store: Store,
    project: str,
    parsed: list[NewItem | ItemReference],
    *,
    references: bool = True,
    max_bytes: int | None = None,
    field: str = "items",
) -> list[NewItem]:
    """Items ready to store: the rules every entry point (API, import, Responses) obeys.

    No id may hold NUL; an item reference becomes a copy of the item it names (404 when the
    project has none; refused when ``references`` is False); no id may repeat within the call;
    what the call stores, references expanded, is held to ``max_bytes`` (the body limit):
    twenty references to one 4 MB item in a 911-byte request once stored 84 MB. Errors name
    the entries as ``field[i]`` (``input`` on /v1/responses).
    """
    prepared: list[NewItem] = []
    seen: set[str] = set()
    total = 0
    for index, entry in enumerate(parsed):
        refuse_nul(f"{field}[{index}].id", entry.id, what="an id")
        if isinstance(entry, ItemReference):
            if not references:
                raise InvalidRequest(
                    f"Invalid '{field}[{index}]': an item reference has nothing to copy here; "
                    "give the item itself.",
                    param=f"{field}[{index}]",
                    code="invalid_value",
                )
            data = await store.find_item(project, entry.id)
            if data is None:
                raise item_not_found(entry.id)
            entry = copy_item(data)
        if entry.id in seen:
            raise duplicate_item(entry.id, index, field)
        total += len(entry.data)
        if max_bytes is not None and total > max_bytes:
            raise InvalidRequest(
                f"Invalid 'items': with item references expanded, this call would store more "
                f"than {max_bytes} bytes (the server's limit per call) by '{field}[{index}]'. "
                "Send fewer or smaller items per call.",
                param=f"{field}[{index}]",
                code="items_too_large",
            )
        seen.add(entry.id)
        prepared.append(entry)
    return prepared
