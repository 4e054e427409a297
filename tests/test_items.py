"""Input items → stored items: every example must come out as a valid SDK `ConversationItem`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, get_args

import msgspec
import pydantic
import pytest
from openai._models import validate_type
from openai.types.conversations import ConversationItem, ConversationItemList
from pydantic import TypeAdapter

from parley import ids
from parley.errors import InvalidRequest
from parley.items import ItemReference, parse_items
from parley.models import ITEM_TYPES, NewItem
from tests.item_examples import EXAMPLES, INVALID

# A union, not a class: the SDK itself passes it as `cast(Any, ConversationItem)`.
_ITEM_UNION: Any = ConversationItem
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ConversationItem)
_HEX48 = re.compile(r"[0-9a-f]{48}")
# "Invalid value: 'x'. Supported values are: 'a', 'b' and 'c'." (reference §9, observed live).
_ENUM_MESSAGE = re.compile(
    r"Invalid value: '.*'\. Supported values are: '.+'(, '.+')*( and '.+')?\."
)
# Keys parley may add inside a message content part, with the value it gives them.
# Nested fields parley writes out when the input leaves them out: message and tool-output
# parts, and a shell call's limits (required, nullable, in the output schema).
_PART_FILLS: dict[str, Any] = {
    "annotations": [],
    "logprobs": [],
    "detail": "auto",
    "timeout_ms": None,
    "max_output_length": None,
}


def _sdk_models() -> dict[str, type[pydantic.BaseModel]]:
    """Map each `type` of the SDK's `ConversationItem` union to its output model."""
    union = get_args(ConversationItem)[0]
    models: dict[str, type[pydantic.BaseModel]] = {}
    for model in get_args(union):
        for kind in get_args(model.model_fields["type"].annotation):
            models[kind] = model
    return models


_SDK_MODELS = _sdk_models()


def _kind(example: dict[str, Any]) -> str:
    """The item type an example stands for (the easy form has no `type`: a message)."""
    kind: str = example.get("type") or "message"
    return kind


def _store(example: dict[str, Any]) -> tuple[NewItem, dict[str, Any]]:
    """Parse one example; return the stored item and its decoded JSON."""
    result = parse_items([example])
    assert len(result) == 1
    item = result[0]
    assert isinstance(item, NewItem)
    data: dict[str, Any] = msgspec.json.decode(item.data)
    return item, data


def _assert_subset(given: Any, stored: Any, path: str) -> None:
    """Assert ``stored`` holds ``given`` unchanged, allowing only parley's part fills."""
    if isinstance(given, dict):
        assert isinstance(stored, dict), f"{path}: expected an object, got {stored!r}"
        for key, value in given.items():
            assert key in stored, f"{path}.{key} was dropped"
            if value is None and key in _PART_FILLS and stored[key] == _PART_FILLS[key]:
                continue  # `"detail": null` means the default, which parley writes out
            _assert_subset(value, stored[key], f"{path}.{key}")
        for key in stored.keys() - given.keys():
            assert key in _PART_FILLS, f"{path}.{key} was added: {stored[key]!r}"
            assert stored[key] == _PART_FILLS[key], f"{path}.{key} = {stored[key]!r}"
    elif isinstance(given, list):
        assert isinstance(stored, list), f"{path}: expected an array, got {stored!r}"
        assert len(stored) == len(given), f"{path}: length {len(stored)} != {len(given)}"
        for index, (a, b) in enumerate(zip(given, stored, strict=True)):
            _assert_subset(a, b, f"{path}[{index}]")
    else:
        assert type(stored) is type(given) and stored == given, f"{path}: {stored!r} != {given!r}"


def _sdk_validate(validate: Callable[[], Any], data: dict[str, Any]) -> Any:
    """Run one SDK validation of ``data``; on failure, report the matching model's errors."""
    try:
        return validate()
    except pydantic.ValidationError:
        # The union's error lists all 29 members; the matching model's error names the field.
        model = _SDK_MODELS.get(str(data.get("type")))
        try:
            if model is not None:
                model.model_validate(data)
        except pydantic.ValidationError as exc:
            pytest.fail(f"the SDK rejects the stored item {data!r}:\n{exc}", pytrace=False)
        raise


# --- the examples themselves ---------------------------------------------------------------


def test_examples_cover_every_item_type() -> None:
    kinds = {_kind(example) for _, example in EXAMPLES}
    assert set(ITEM_TYPES) <= kinds
    assert kinds <= set(ITEM_TYPES)
    assert set(ITEM_TYPES) == set(_SDK_MODELS)


def test_example_labels_are_unique() -> None:
    labels = [label for label, _ in EXAMPLES] + [label for label, *_ in INVALID]
    assert len(labels) == len(set(labels))


def test_examples_cover_the_message_forms() -> None:
    messages = [e for _, e in EXAMPLES if _kind(e) == "message"]
    string_roles = {m["role"] for m in messages if isinstance(m["content"], str)}
    assert string_roles == {"user", "system", "developer", "assistant"}
    part_types = {
        p["type"] for m in messages if isinstance(m["content"], list) for p in m["content"]
    }
    assert {"input_text", "input_image", "input_file", "output_text", "refusal"} <= part_types
    assert any("type" not in m for m in messages)
    assert {m.get("phase") for m in messages if m["role"] == "assistant"} >= {
        "commentary",
        "final_answer",
    }
    assert any(m.get("phase") for m in messages if m["role"] == "user")


def test_examples_cover_the_variants() -> None:
    def values(kind: str, field: str, sub: str = "type") -> set[Any]:
        """The ``field.sub`` values the examples of ``kind`` hold."""
        return {e[field][sub] for _, e in EXAMPLES if _kind(e) == kind and field in e}

    assert values("web_search_call", "action") == {"search", "open_page", "find_in_page"}
    assert values("apply_patch_call", "operation") == {"create_file", "update_file", "delete_file"}
    outputs = [e["output"] for _, e in EXAMPLES if _kind(e) == "function_call_output"]
    assert any(isinstance(o, str) for o in outputs)
    assert any(isinstance(o, list) for o in outputs)
    for kind in ITEM_TYPES:
        of_kind = [e for _, e in EXAMPLES if _kind(e) == kind]
        assert any(isinstance(e.get("id"), str) for e in of_kind), f"{kind}: no given id"
        assert any(e.get("id") is None for e in of_kind), f"{kind}: no example without an id"


# --- every example, stored ----------------------------------------------------------------


@pytest.mark.parametrize(("label", "example"), EXAMPLES, ids=[label for label, _ in EXAMPLES])
def test_example_stores_a_valid_conversation_item(label: str, example: dict[str, Any]) -> None:
    item, data = _store(example)
    kind = _kind(example)
    spec = ITEM_TYPES[kind]
    assert item.type == kind
    assert data["type"] == kind

    # The SDK accepts it: pydantic's lax union, the SDK's own strict-validation path
    # (`validate_type`, what `_process_response_data` calls for items.retrieve) and the
    # item list that items.create answers.
    model = _SDK_MODELS[kind]
    lax = _sdk_validate(lambda: _ADAPTER.validate_python(data, strict=False), data)
    assert isinstance(lax, model)
    strict = _sdk_validate(lambda: validate_type(type_=_ITEM_UNION, value=data), data)
    assert isinstance(strict, model)
    page = {
        "object": "list",
        "data": [data],
        "first_id": item.id,
        "last_id": item.id,
        "has_more": False,
    }
    listed = _sdk_validate(lambda: validate_type(type_=ConversationItemList, value=page), data)
    assert isinstance(listed.data[0], model)

    # id: kept as given, or minted with the type's prefix.
    given_id = example.get("id")
    if given_id is not None:
        assert data["id"] == item.id == given_id
    else:
        assert data["id"] == item.id
        assert item.id.startswith(spec.prefix)
        assert _HEX48.fullmatch(item.id[len(spec.prefix) :])

    # status: kept as given, else the type's default, else absent.
    given_status = example.get("status")
    if given_status is not None:
        assert data["status"] == given_status
    elif spec.default_status is not None:
        assert data["status"] == spec.default_status == "completed"
    else:
        assert "status" not in data

    # Nothing the client sent is lost or changed.
    for key, value in example.items():
        if key in ("id", "type", "status") and value is None:
            continue  # null is "not given": parley fills these in
        assert key in data, f"{key} was dropped"
        if kind == "message" and key == "content" and isinstance(value, str):
            if example["role"] == "assistant":
                part = {"type": "output_text", "text": value, "annotations": [], "logprobs": []}
            else:
                part = {"type": "input_text", "text": value}
            assert data["content"] == [part]
        else:
            _assert_subset(value, data[key], key)
    added = data.keys() - example.keys()
    assert added <= {"id", "type", "status", *spec.fills}
    for field, fill in spec.fills.items():
        if field not in example:
            assert data[field] == fill


def test_items_keep_their_order_and_get_distinct_ids() -> None:
    examples = [example for _, example in EXAMPLES[:20]]
    result = parse_items(examples)
    assert [r.type for r in result if isinstance(r, NewItem)] == [_kind(e) for e in examples]
    assert len({r.id for r in result}) == len(examples)


def test_item_reference_forms() -> None:
    result = parse_items(
        [
            {"role": "user", "content": "hi"},
            {"type": "item_reference", "id": "msg_abc"},
            {"id": "fc_def"},
            {"type": None, "id": "rs_ghi"},
        ]
    )
    assert isinstance(result[0], NewItem)
    assert result[1] == ItemReference("msg_abc", 1)
    assert result[2] == ItemReference("fc_def", 2)
    assert result[3] == ItemReference("rs_ghi", 3)


# --- invalid items --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "bad", "param", "code"), INVALID, ids=[label for label, *_ in INVALID]
)
def test_invalid_item_is_rejected(label: str, bad: Any, param: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_items([bad])
    error = info.value
    assert error.status == 400
    assert error.type == "invalid_request_error"
    assert (error.param, error.code) == (param, code), error.message
    if _ENUM_MESSAGE.fullmatch(error.message):
        # OpenAI's bad-enum message names the value, not the field: the field is in `param`.
        assert code == "invalid_value"
    else:
        assert f"'{param}'" in error.message
    envelope = msgspec.json.decode(error.to_json())
    assert envelope == {
        "error": {
            "message": error.message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


@pytest.mark.parametrize(
    ("label", "bad", "param", "code"), INVALID, ids=[label for label, *_ in INVALID]
)
def test_invalid_item_is_named_by_its_index(label: str, bad: Any, param: str, code: str) -> None:
    valid = [example for _, example in EXAMPLES[:2]]
    with pytest.raises(InvalidRequest) as info:
        parse_items([*valid, bad, *valid])
    expected = "items[2]" + param.removeprefix("items[0]")
    assert (info.value.param, info.value.code) == (expected, code)


# --- ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", sorted({spec.prefix for spec in ITEM_TYPES.values()}))
def test_new_id_is_prefix_and_48_hex_digits(prefix: str) -> None:
    minted = ids.new_id(prefix)
    assert minted.startswith(prefix)
    assert _HEX48.fullmatch(minted.removeprefix(prefix))


def test_item_prefixes_are_distinct() -> None:
    prefixes = [spec.prefix for spec in ITEM_TYPES.values()]
    assert len(prefixes) == len(set(prefixes))
    assert all(p.endswith("_") for p in prefixes)


def test_conversation_id_shape() -> None:
    minted = ids.conversation_id()
    assert minted.startswith("conv_")
    assert _HEX48.fullmatch(minted.removeprefix("conv_"))


def test_id_starts_with_the_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    minted = ids.new_id("msg_")
    after = time.time_ns() // 1_000_000
    assert before <= int(minted[len("msg_") : len("msg_") + 12], 16) <= after


def test_ids_sort_in_minting_order_and_are_unique() -> None:
    minted = [ids.new_id("msg_") for _ in range(10_000)]
    assert minted == sorted(minted)
    assert len(set(minted)) == 10_000
    conversations = [ids.conversation_id() for _ in range(1_000)]
    assert conversations == sorted(conversations)


def test_request_id_and_api_key_shapes() -> None:
    assert re.fullmatch(r"req_[0-9a-f]{32}", ids.request_id())
    key = ids.api_key()
    assert key.startswith(ids.API_KEY_PREFIX)
    assert len(key) > len(ids.API_KEY_PREFIX) + 40
    assert ids.api_key() != key
