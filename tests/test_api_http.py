"""Raw HTTP: the envelope of every answer, bodies the SDK never sends, n8n's exact requests."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer
from tests.helpers import REQUEST_ID, assert_error

OPERATION_IDS = {
    "createConversation",
    "getConversation",
    "updateConversation",
    "deleteConversation",
    "createConversationItems",
    "listConversationItems",
    "getConversationItem",
    "deleteConversationItem",
}


# -- request bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"{", b'{"metadata": }', b"\xff\xfe", b"{'single': 'quotes'}", b"[1,"]
)
def test_malformed_json_is_400(http: httpx.Client, body: bytes) -> None:
    response = http.post(
        "/v1/conversations", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(
        response, 400, code=None, param=None, message=r"We could not parse the JSON body.*"
    )


@pytest.mark.parametrize(
    ("body", "got"), [(b"[]", "an array"), (b'"text"', "a string"), (b"42", "an integer")]
)
def test_a_body_that_is_not_an_object_is_400(http: httpx.Client, body: bytes, got: str) -> None:
    conversation = http.post("/v1/conversations", json={}).json()["id"]
    for path in (
        "/v1/conversations",
        f"/v1/conversations/{conversation}",
        f"/v1/conversations/{conversation}/items",
    ):
        response = http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert_error(
            response,
            400,
            code="invalid_type",
            param=None,
            message=rf"The request body must be a JSON object, but got {got} instead\.",
        )


def test_a_text_plain_body_is_400(http: httpx.Client) -> None:
    response = http.post(
        "/v1/conversations", content=b'{"metadata": {}}', headers={"Content-Type": "text/plain"}
    )
    assert_error(
        response,
        400,
        code="unsupported_content_type",
        param=None,
        message=r"Unsupported content type 'text/plain'\..*",
    )


def test_json_with_a_charset_is_accepted(http: httpx.Client) -> None:
    response = http.post(
        "/v1/conversations",
        content=b'{"metadata": {"a": "b"}}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200
    assert response.json()["metadata"] == {"a": "b"}


def test_create_with_no_body_at_all_is_an_empty_conversation(http: httpx.Client) -> None:
    response = http.post("/v1/conversations")
    assert response.status_code == 200
    assert response.json()["metadata"] == {}


def _big_body(size: int) -> bytes:
    """A JSON object of about ``size`` bytes: one long metadata value."""
    return json.dumps({"metadata": {"blob": "x" * size}}).encode()


def test_a_body_over_4_mib_is_413(http: httpx.Client) -> None:
    body = _big_body(4 * 1024 * 1024 + 1)
    assert_error(
        http.post("/v1/conversations", content=body, headers={"Content-Type": "application/json"}),
        413,
        code="request_too_large",
        param=None,
        message=r"The request body is too large: this server accepts at most 4194304 bytes\.",
    )


def test_a_chunked_body_over_4_mib_is_413(http: httpx.Client) -> None:
    body = _big_body(4 * 1024 * 1024 + 1)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = http.post(
        "/v1/conversations", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, code="request_too_large", param=None)


def test_a_body_just_under_4_mib_reaches_validation(http: httpx.Client) -> None:
    # Not 413: the body is read whole and its metadata value judged by the 512 limit.
    body = _big_body(4 * 1024 * 1024 - 100)
    assert_error(
        http.post("/v1/conversations", content=body, headers={"Content-Type": "application/json"}),
        400,
        code="string_above_max_length",
        param="metadata.blob",
    )


# -- routes and methods -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/foo"),
        ("POST", "/v1/assistants"),
        ("GET", "/v1/conversations/conv_x/items/msg_x/more"),
        ("GET", "/v1/conversations/"),
        ("GET", "/index.html"),  # `GET /` itself answers with the way in
    ],
)
def test_unknown_url_is_404_unknown_url(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path)
    assert_error(
        response,
        404,
        code="unknown_url",
        param=None,
        message=rf"Unknown request URL: {method} {path}\. Please check the URL for typos\.",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/conversations"),
        ("PATCH", "/v1/conversations/conv_x"),
        ("PUT", "/v1/conversations/conv_x/items"),
        ("POST", "/v1/conversations/conv_x/items/msg_x"),
    ],
)
def test_wrong_method_is_405_with_the_envelope(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json={})
    assert_error(
        response,
        405,
        code="method_not_allowed",
        param=None,
        message=rf"Invalid method for URL \({method} {path}\)\.",
    )
    assert response.headers["allow"]


def test_every_answer_carries_its_own_request_id(server: LiveServer, http: httpx.Client) -> None:
    conversation = http.post("/v1/conversations", json={}).json()["id"]
    responses = [
        http.get("/healthz"),
        http.get("/openapi.json"),
        http.get(f"/v1/conversations/{conversation}"),
        http.get(f"/v1/conversations/{conversation}/items"),
        http.get("/v1/conversations/conv_missing"),
        http.get("/v1/nowhere"),
        http.put("/v1/conversations"),
        http.post("/v1/conversations", content=b"{", headers={"Content-Type": "application/json"}),
        httpx.get(f"{server.url}/v1/conversations/{conversation}", timeout=30),
        httpx.get(
            f"{server.url}/v1/conversations/{conversation}",
            headers={"Authorization": "Bearer sk-wrong"},
            timeout=30,
        ),
    ]
    statuses = [response.status_code for response in responses]
    assert statuses == [200, 200, 200, 200, 404, 404, 405, 400, 401, 401]
    request_ids = [response.headers.get("x-request-id", "") for response in responses]
    assert all(REQUEST_ID.match(value) for value in request_ids), request_ids
    assert len(set(request_ids)) == len(request_ids)


def test_every_error_body_has_exactly_the_four_keys(server: LiveServer, http: httpx.Client) -> None:
    conversation = http.post("/v1/conversations", json={}).json()["id"]
    errors = [
        http.get("/v1/conversations/conv_missing"),
        http.get(f"/v1/conversations/{conversation}/items", params={"limit": "0"}),
        http.post("/v1/conversations", json={"bogus": True}),
        http.delete("/v1/conversations"),
        http.get("/v1/unknown"),
        httpx.get(f"{server.url}/v1/conversations/{conversation}", timeout=30),
    ]
    for response in errors:
        assert response.status_code >= 400
        body = response.json()
        assert list(body) == ["error"]
        assert sorted(body["error"]) == ["code", "message", "param", "type"]


def test_openapi_json_lists_the_eight_operations_under_v1(http: httpx.Client) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.")
    found: dict[str, str] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"]] = f"{method.upper()} {path}"
    assert OPERATION_IDS <= set(found)
    assert found["createConversation"] == "POST /v1/conversations"
    assert found["getConversation"] == "GET /v1/conversations/{conversation_id}"
    assert found["deleteConversationItem"] == (
        "DELETE /v1/conversations/{conversation_id}/items/{item_id}"
    )
    assert all(
        found[operation_id].split(" ")[1].startswith("/v1/") for operation_id in OPERATION_IDS
    )


# -- n8n ----------------------------------------------------------------------------------

N8N_CREATE = {
    "items": [
        {
            "role": "system",
            "content": [{"type": "input_text", "text": "You are a terse assistant."}],
        },
        {"role": "user", "content": [{"type": "input_text", "text": "Hello there"}]},
        {
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi! How can I help?", "annotations": []}],
        },
    ],
    "metadata": {"topic": "demo", "customer": "c-42"},
}


def _n8n(server: LiveServer, api_key: str) -> httpx.Client:
    """A client sending the headers n8n's OpenAI node sends (empty organization included)."""
    return httpx.Client(
        headers={
            "Accept": "application/json",
            "Authorization": f"Bearer {api_key}",
            "OpenAI-Organization": "",
            "User-Agent": "n8n",
            "Accept-Encoding": "gzip, compress, deflate, br",
        },
        timeout=30,
    )


@pytest.mark.parametrize("base", ["/v1", "/v1/"], ids=["base url", "base url with trailing /"])
def test_n8n_create_body_stores_messages_with_the_right_parts(
    server: LiveServer, api_key: str, base: str
) -> None:
    with _n8n(server, api_key) as n8n:
        url = f"{server.url}{base}/conversations"
        assert ("//conversations" in url) == base.endswith("/")
        created = n8n.post(url, json=N8N_CREATE)
        assert created.status_code == 200, created.text
        conversation = created.json()
        assert set(conversation) == {"id", "object", "created_at", "metadata"}
        assert conversation["object"] == "conversation"
        assert conversation["metadata"] == {"topic": "demo", "customer": "c-42"}
        listed = n8n.get(
            f"{server.url}{base}/conversations/{conversation['id']}/items", params={"order": "asc"}
        )
        assert listed.status_code == 200
        items = listed.json()["data"]
    assert [(item["type"], item["role"], item["status"]) for item in items] == [
        ("message", "system", "completed"),
        ("message", "user", "completed"),
        ("message", "assistant", "completed"),
    ]
    assert items[0]["content"] == [{"type": "input_text", "text": "You are a terse assistant."}]
    assert items[1]["content"] == [{"type": "input_text", "text": "Hello there"}]
    assert items[2]["content"] == [
        {"type": "output_text", "text": "Hi! How can I help?", "annotations": [], "logprobs": []}
    ]
    assert all(item["id"].startswith("msg_") for item in items)


def test_n8n_get_update_and_remove_through_a_doubled_slash(
    server: LiveServer, api_key: str
) -> None:
    with _n8n(server, api_key) as n8n:
        base = f"{server.url}/v1//conversations"
        default = n8n.post(
            base,
            json={"items": [{"role": "user", "content": [{"type": "input_text", "text": ""}]}]},
        )
        assert default.status_code == 200
        conversation_id = default.json()["id"]
        assert n8n.get(f"{base}/{conversation_id}").json()["id"] == conversation_id
        updated = n8n.post(f"{base}/{conversation_id}", json={"metadata": {}})
        assert updated.status_code == 200 and updated.json()["metadata"] == {}
        assert_error(
            n8n.post(f"{base}/{conversation_id}", json={"metadata": ["x"]}),
            400,
            code="invalid_type",
            param="metadata",
        )
        removed = n8n.delete(f"{base}/{conversation_id}")
        assert removed.json() == {
            "id": conversation_id,
            "object": "conversation.deleted",
            "deleted": True,
        }
        # An id that evaluated to '' in n8n: `GET …/conversations/` is no route at all.
        assert_error(n8n.get(f"{base}/"), 404, code="unknown_url", param=None)


def test_n8n_items_without_a_cap_get_the_20_item_limit(server: LiveServer, api_key: str) -> None:
    body = {"items": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}] * 21}
    with _n8n(server, api_key) as n8n:
        assert_error(
            n8n.post(f"{server.url}/v1/conversations", json=body),
            400,
            code="array_above_max_length",
            param="items",
        )


def test_root_points_to_the_api_the_dashboard_and_the_docs(server: LiveServer) -> None:
    answer = httpx.get(server.url + "/", timeout=30)
    assert answer.status_code == 200 and answer.headers["x-request-id"].startswith("req_")
    body = answer.json()
    assert (body["api"], body["dashboard"], body["openapi"]) == (
        "/v1",
        "/dashboard",
        "/openapi.json",
    )
    assert "README" in body["docs"]
    page = httpx.get(server.url + "/", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"{server.url}/v1" in page.text and 'href="/dashboard"' in page.text
    assert httpx.post(server.url + "/", timeout=30).status_code == 405


def test_a_json_answer_carries_each_header_once(http: httpx.Client) -> None:
    # The hot answers write their headers straight out (api.JSONBytes): each must still be
    # there exactly once, the length must be the body's, and the safety headers are added.
    created = http.post("/v1/conversations", json={"metadata": {"a": "b"}})
    answer = http.get(f"/v1/conversations/{created.json()['id']}")
    assert answer.status_code == 200
    names = [name.lower() for name, _ in answer.headers.raw]
    for name in (b"content-type", b"content-length", b"x-request-id", b"cache-control"):
        assert names.count(name) == 1, name
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.json()["metadata"] == {"a": "b"}


def test_hot_reads_answer_with_the_headers_of_every_other_json_answer(
    http: httpx.Client,
) -> None:
    # Retrieve and list items are sent by the Edge without Starlette's Response (api.Hot):
    # the same headers in the same order as a JSON answer built the usual way, and HEAD
    # (answered by Starlette through the same handler) still agrees with GET.
    created = http.post(
        "/v1/conversations",
        json={"items": [{"type": "message", "role": "user", "content": "hi"}]},
    ).json()
    conversation = created["id"]
    item = http.get(f"/v1/conversations/{conversation}/items").json()["data"][0]["id"]
    usual = http.get(f"/v1/conversations/{conversation}/items/{item}")
    assert usual.status_code == 200
    expected = [name.lower() for name, _ in usual.headers.raw]
    for path in (f"/v1/conversations/{conversation}", f"/v1/conversations/{conversation}/items"):
        answer = http.get(path)
        assert answer.status_code == 200
        assert [name.lower() for name, _ in answer.headers.raw] == expected, path
        assert int(answer.headers["content-length"]) == len(answer.content)
        head = http.head(path)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == answer.headers["content-length"]
        assert head.headers["content-type"] == "application/json"
    assert http.get(f"/v1/conversations/{conversation}").json() == created
