"""Limits and validation errors: status, type, param, code and message as OpenAI words them (§9–10).

The exact boundaries (16 pairs, 64-char keys, 512-char values, 20 items, limit 1 and 100)
pass; one past each fails with OpenAI's envelope, and a failed request stores nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.helpers import assert_error, assert_sdk_error


def _conversation(http: httpx.Client, **body: Any) -> str:
    """A new conversation's id."""
    response = http.post("/v1/conversations", json=body)
    assert response.status_code == 200, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


def _messages(count: int) -> list[dict[str, str]]:
    """``count`` easy user messages."""
    return [{"role": "user", "content": f"m{index}"} for index in range(count)]


def _metadata_routes(http: httpx.Client) -> list[tuple[str, str]]:
    """Where metadata is accepted: create, and update of an existing conversation."""
    return [
        ("/v1/conversations", "create"),
        (f"/v1/conversations/{_conversation(http)}", "update"),
    ]


# -- metadata -----------------------------------------------------------------------------


def test_metadata_with_17_pairs_is_object_above_max_properties(http: httpx.Client) -> None:
    metadata = {f"k{index}": "v" for index in range(17)}
    for path, _ in _metadata_routes(http):
        assert_error(
            http.post(path, json={"metadata": metadata}),
            400,
            code="object_above_max_properties",
            param="metadata",
            message=r"Invalid 'metadata': too many properties\. Expected an object with at most "
            r"16 properties, but got an object with 17 properties instead\.",
        )


def test_metadata_key_of_65_characters_is_too_long(http: httpx.Client) -> None:
    # The reference leaves the param of a too-long key open; parley names `metadata`.
    for path, _ in _metadata_routes(http):
        assert_error(
            http.post(path, json={"metadata": {"k" * 65: "v"}}),
            400,
            code="string_above_max_length",
            param="metadata",
            message=r"Invalid 'metadata': .*maximum length 64.*length 65 instead\.",
        )


def test_metadata_value_of_513_characters_is_too_long(http: httpx.Client) -> None:
    for path, _ in _metadata_routes(http):
        assert_error(
            http.post(path, json={"metadata": {"note": "x" * 513}}),
            400,
            code="string_above_max_length",
            param="metadata.note",
            message=r"Invalid 'metadata\.note': string too long\. Expected a string with maximum "
            r"length 512, but got a string with length 513 instead\.",
        )


@pytest.mark.parametrize(
    ("value", "got"),
    [(1, "an integer"), (True, "a boolean"), (None, "null"), ({"a": "b"}, "an object")],
)
def test_metadata_value_that_is_not_a_string_is_invalid_type(
    http: httpx.Client, value: Any, got: str
) -> None:
    for path, _ in _metadata_routes(http):
        assert_error(
            http.post(path, json={"metadata": {"count": value}}),
            400,
            code="invalid_type",
            param="metadata.count",
            message=rf"Invalid type for 'metadata\.count': expected a string, but got {got} "
            r"instead\.",
        )


@pytest.mark.parametrize(
    ("value", "got"), [("topic", "a string"), (["x"], "an array"), (42, "an integer")]
)
def test_metadata_that_is_not_an_object_is_invalid_type(
    http: httpx.Client, value: Any, got: str
) -> None:
    for path, _ in _metadata_routes(http):
        assert_error(
            http.post(path, json={"metadata": value}),
            400,
            code="invalid_type",
            param="metadata",
            message=rf"Invalid type for 'metadata': expected a metadata object, but got {got} "
            r"instead\.",
        )


def test_metadata_at_every_limit_passes(client: openai.OpenAI) -> None:
    full = {f"{index:02d}" + "k" * 62: "v" * 512 for index in range(16)}
    assert all(len(key) == 64 for key in full)
    created = client.conversations.create(metadata=full)
    assert created.metadata == full
    assert client.conversations.retrieve(created.id).metadata == full
    updated = client.conversations.update(created.id, metadata={"k" * 64: "v" * 512})
    assert updated.metadata == {"k" * 64: "v" * 512}


def test_rejected_metadata_leaves_the_conversation_unchanged(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(metadata={"keep": "me"})
    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.update(conversation.id, metadata={f"k{i}": "v" for i in range(17)})
    assert_sdk_error(caught.value, 400, code="object_above_max_properties", param="metadata")
    assert client.conversations.retrieve(conversation.id).metadata == {"keep": "me"}


# -- items arrays -------------------------------------------------------------------------


def test_21_items_is_array_above_max_length(http: httpx.Client) -> None:
    message = (
        r"Invalid 'items': array too long\. Expected an array with maximum length 20, but got "
        r"an array with length 21 instead\."
    )
    before = _conversation(http)
    assert_error(
        http.post("/v1/conversations", json={"items": _messages(21)}),
        400,
        code="array_above_max_length",
        param="items",
        message=message,
    )
    assert_error(
        http.post(f"/v1/conversations/{before}/items", json={"items": _messages(21)}),
        400,
        code="array_above_max_length",
        param="items",
        message=message,
    )
    assert http.get(f"/v1/conversations/{before}/items").json()["data"] == []


def test_20_items_pass_on_create_and_items_create(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=_messages(20))  # type: ignore[arg-type]
    added = client.conversations.items.create(
        conversation.id,
        items=_messages(20),  # type: ignore[arg-type]
    )
    assert len(added.data) == 20
    assert len(list(client.conversations.items.list(conversation.id, limit=100))) == 40


def test_empty_items_on_items_create_is_empty_array(http: httpx.Client) -> None:
    conversation = _conversation(http)
    assert_error(
        http.post(f"/v1/conversations/{conversation}/items", json={"items": []}),
        400,
        code="empty_array",
        param="items",
        message=r"Invalid 'items': empty array\..*",
    )


def test_empty_items_on_create_conversation_is_fine(http: httpx.Client) -> None:
    conversation = _conversation(http, items=[])
    assert http.get(f"/v1/conversations/{conversation}/items").json()["data"] == []


@pytest.mark.parametrize(("value", "got"), [("hello", "a string"), ({"role": "user"}, "an object")])
def test_items_that_is_not_an_array_is_invalid_type(
    http: httpx.Client, value: Any, got: str
) -> None:
    conversation = _conversation(http)
    for path in ("/v1/conversations", f"/v1/conversations/{conversation}/items"):
        assert_error(
            http.post(path, json={"items": value}),
            400,
            code="invalid_type",
            param="items",
            message=rf"Invalid type for 'items': expected an array of input items, but got {got} "
            r"instead\.",
        )


def test_one_bad_item_rejects_the_whole_call(http: httpx.Client) -> None:
    conversation = _conversation(http)
    items = [*_messages(3), {"type": "banana"}, *_messages(2)]
    assert_error(
        http.post(f"/v1/conversations/{conversation}/items", json={"items": items}),
        400,
        code="invalid_value",
        param="items[3].type",
        message=r"Invalid value: 'banana'\. Supported values are: .*",
    )
    assert http.get(f"/v1/conversations/{conversation}/items").json()["data"] == []


def test_item_errors_reach_the_sdk_with_param_and_code(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"type": "unknown_kind"}, "items[0].type", "invalid_value"),
        (
            {"type": "function_call", "name": "f", "arguments": "{}"},
            "items[0].call_id",
            "missing_required_parameter",
        ),
        (
            {"role": "user", "content": [{"type": "input_text", "text": ["not", "a string"]}]},
            "items[0].content[0].text",
            "invalid_type",
        ),
    ]
    for item, param, code in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            client.conversations.items.create(conversation.id, items=[item])  # type: ignore[list-item]
        assert_sdk_error(caught.value, 400, code=code, param=param)


# -- top-level body fields ----------------------------------------------------------------


def test_unknown_body_parameter_is_rejected_on_every_write(http: httpx.Client) -> None:
    conversation = _conversation(http)
    writes = [
        ("/v1/conversations", {"metadata": {}, "foo": 1}),
        (f"/v1/conversations/{conversation}", {"metadata": {}, "foo": 1}),
        (f"/v1/conversations/{conversation}/items", {"items": _messages(1), "foo": 1}),
    ]
    for path, body in writes:
        assert_error(
            http.post(path, json=body),
            400,
            code="unknown_parameter",
            param="foo",
            message=r"Unknown parameter: 'foo'\.",
        )
    assert http.get(f"/v1/conversations/{conversation}/items").json()["data"] == []


def test_items_on_update_is_an_unknown_parameter(http: httpx.Client) -> None:
    conversation = _conversation(http)
    assert_error(
        http.post(f"/v1/conversations/{conversation}", json={"metadata": {}, "items": []}),
        400,
        code="unknown_parameter",
        param="items",
        message=r"Unknown parameter: 'items'\.",
    )


def test_missing_items_on_items_create_is_missing_required_parameter(http: httpx.Client) -> None:
    conversation = _conversation(http)
    assert_error(
        http.post(f"/v1/conversations/{conversation}/items", json={}),
        400,
        code="missing_required_parameter",
        param="items",
        message=r"Missing required parameter: 'items'\.",
    )


def test_missing_metadata_on_update_is_missing_required_parameter(http: httpx.Client) -> None:
    conversation = _conversation(http, metadata={"keep": "me"})
    assert_error(
        http.post(f"/v1/conversations/{conversation}", json={}),
        400,
        code="missing_required_parameter",
        param="metadata",
        message=r"Missing required parameter: 'metadata'\.",
    )
    assert http.get(f"/v1/conversations/{conversation}").json()["metadata"] == {"keep": "me"}


def test_update_and_items_create_without_a_body_are_400(http: httpx.Client) -> None:
    conversation = _conversation(http)
    for path in (f"/v1/conversations/{conversation}", f"/v1/conversations/{conversation}/items"):
        response = http.post(path)
        assert response.status_code == 400
        assert_error(response, 400, code=response.json()["error"]["code"], param=None)


# -- query parameters ---------------------------------------------------------------------


def _items_path(http: httpx.Client) -> str:
    return f"/v1/conversations/{_conversation(http, items=_messages(2))}/items"


def test_bad_order_is_invalid_value(http: httpx.Client) -> None:
    assert_error(
        http.get(_items_path(http), params={"order": "up"}),
        400,
        code="invalid_value",
        param="order",
        message=r"Invalid value: 'up'\. Supported values are: 'asc' and 'desc'\.",
    )


def test_limit_0_is_below_the_minimum(http: httpx.Client) -> None:
    assert_error(
        http.get(_items_path(http), params={"limit": "0"}),
        400,
        code="integer_below_min_value",
        param="limit",
        message=r"Invalid 'limit': integer below minimum value\. Expected a value >= 1, but got 0 "
        r"instead\.",
    )


def test_limit_101_is_above_the_maximum(http: httpx.Client) -> None:
    assert_error(
        http.get(_items_path(http), params={"limit": "101"}),
        400,
        code="integer_above_max_value",
        param="limit",
        message=r"Invalid 'limit': integer above maximum value\. Expected a value <= 100, but got "
        r"101 instead\.",
    )


@pytest.mark.parametrize("raw", ["abc", "1.5", "-"])
def test_limit_that_is_not_an_integer_is_invalid_type(http: httpx.Client, raw: str) -> None:
    assert_error(
        http.get(_items_path(http), params={"limit": raw}),
        400,
        code="invalid_type",
        param="limit",
        message=r"Invalid type for 'limit': expected an integer.*",
    )


def test_limit_1_and_100_pass(http: httpx.Client) -> None:
    path = _items_path(http)
    assert len(http.get(path, params={"limit": "1"}).json()["data"]) == 1
    assert len(http.get(path, params={"limit": "100"}).json()["data"]) == 2


def test_bad_include_value_names_its_index(http: httpx.Client) -> None:
    path = _items_path(http)
    item_id = http.get(path).json()["data"][0]["id"]
    bad = [("include[]", "reasoning.encrypted_content"), ("include[]", "bogus.field")]
    for response in (
        http.get(path, params=bad),
        http.get(f"{path}/{item_id}", params=bad),
        http.post(path, params=bad, json={"items": _messages(1)}),
    ):
        assert_error(
            response,
            400,
            code="invalid_value",
            param="include[1]",
            message=r"Invalid value: 'bogus\.field'\. Supported values are: "
            r"'file_search_call\.results', .* and 'message\.output_text\.logprobs'\.",
        )
    assert len(http.get(path).json()["data"]) == 2


def test_bad_include_through_the_sdk(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as caught:
        client.conversations.items.list(conversation.id, include=["nope"])  # type: ignore[list-item]
    assert_sdk_error(caught.value, 400, code="invalid_value", param="include[0]")


# -- not found ----------------------------------------------------------------------------


def test_unknown_conversation_is_404_on_every_route(http: httpx.Client) -> None:
    base = "/v1/conversations/conv_x"
    for response in (
        http.get(base),
        http.post(base, json={"metadata": {}}),
        http.delete(base),
        http.post(f"{base}/items", json={"items": _messages(1)}),
        http.get(f"{base}/items"),
        http.get(f"{base}/items/msg_x"),
        http.delete(f"{base}/items/msg_x"),
    ):
        assert_error(
            response,
            404,
            code=None,
            param=None,
            message=r"Conversation with id 'conv_x' not found\.",
        )


def test_an_id_without_the_conv_prefix_is_not_found(http: httpx.Client) -> None:
    # The reference leaves 400 or 404 open for a malformed id; parley answers 404.
    assert_error(
        http.get("/v1/conversations/foo"),
        404,
        code=None,
        param=None,
        message=r"Conversation with id 'foo' not found\.",
    )


def test_unknown_item_is_404(http: httpx.Client) -> None:
    path = _items_path(http)
    for response in (http.get(f"{path}/msg_nope"), http.delete(f"{path}/msg_nope")):
        assert_error(
            response, 404, code=None, param=None, message=r"Item with id 'msg_nope' not found\."
        )
    assert len(http.get(path).json()["data"]) == 2
