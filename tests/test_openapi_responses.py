"""/openapi.json documents the response and model routes with OpenAI's own schemas, and what a
live parley answers on them validates against those schemas."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import openapi_spec_validator

from parley.openapi import openapi_document
from tests.conftest import LiveServer
from tests.upstream import FakeUpstream

REF = "#/components/schemas/"


def _answer(operation: dict[str, Any], status: str = "200", kind: str = "application/json") -> Any:
    answer = operation["responses"][status]
    if "$ref" in answer:  # a shared answer, such as OpenAI's TooManyRequests
        answer = openapi_document()["components"]["responses"][answer["$ref"].rsplit("/")[-1]]
    return answer["content"][kind]["schema"]


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][path][method]
    return operation


def test_the_document_is_valid_openapi() -> None:
    document = openapi_document()
    # Raises with the first fault: a dangling $ref, a default its schema rejects, a bad shape.
    openapi_spec_validator.validate(document)
    assert document["openapi"].startswith("3.1")


def test_the_response_routes_refer_to_openais_schemas() -> None:
    document = openapi_document()
    create = _operation(document, "post", "/v1/responses")
    assert create["operationId"] == "createResponse"
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": REF + "CreateResponse"}
    assert _answer(create) == {"$ref": REF + "Response"}
    assert _answer(create, kind="text/event-stream") == {"$ref": REF + "ResponseStreamEvent"}
    # Every error, parley's and the model server's, is OpenAI's envelope.
    for status in ("400", "401", "404", "429", "4XX", "501", "502", "504"):
        assert _answer(create, status) == {"$ref": REF + "ErrorResponse"}, status
    get = _operation(document, "get", "/v1/responses/{response_id}")
    assert (get["operationId"], _answer(get)) == ("getResponse", {"$ref": REF + "Response"})
    items = _operation(document, "get", "/v1/responses/{response_id}/input_items")
    assert _answer(items) == {"$ref": REF + "ResponseItemList"}
    delete = _operation(document, "delete", "/v1/responses/{response_id}")
    # OpenAI's operation gives its 404 as the bare Error: parley answers (and documents) the
    # envelope; its 200 names no body there, parley's type names it.
    assert _answer(delete, "404") == {"$ref": REF + "ErrorResponse"}
    deleted = document["components"]["schemas"][_answer(delete)["$ref"].removeprefix(REF)]
    assert deleted["required"] == ["id", "object", "deleted"]
    models = _operation(document, "get", "/v1/models")
    assert _answer(models) == {"$ref": REF + "ListModelsResponse"}
    model = _operation(document, "get", "/v1/models/{model}")
    assert _answer(model) == {"$ref": REF + "Model"}
    for operation in (models, model):
        assert "x-parley-extension" not in operation  # OpenAI's routes, not parley's own
    schemas = document["components"]["schemas"]
    assert schemas["Model"]["required"] == ["id", "owned_by", "created", "object"]
    assert schemas["Model"]["properties"]["object"]["enum"] == ["model"]
    # Every event type of the stream is one of the union's members.
    events = {
        schemas[member["$ref"].removeprefix(REF)]["properties"]["type"]["enum"][0]
        for member in schemas["ResponseStreamEvent"]["anyOf"]
    }
    assert {"response.created", "response.output_text.delta", "response.completed"} <= events


def _validator(name: str) -> jsonschema.Draft202012Validator:
    document = openapi_document()
    # The components ride along in the root, so "#/components/schemas/..." resolves as in the
    # document itself.
    schema = {"$ref": REF + name, "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def _check(name: str, value: Any) -> None:
    errors = sorted(_validator(name).iter_errors(value), key=lambda e: list(e.absolute_path))
    assert not errors, [(list(e.absolute_path), e.message[:200]) for e in errors[:20]]


def test_live_answers_validate_against_the_documented_schemas(
    responses_server: LiveServer, upstream: FakeUpstream
) -> None:
    key = responses_server.new_key()
    with httpx.Client(
        base_url=f"{responses_server.url}/v1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as http:
        conversation = http.post("/conversations", json={}).json()["id"]
        created = http.post(
            "/responses",
            json={"model": "fake-model", "input": "hello schema", "conversation": conversation},
        )
        assert created.status_code == 200, created.text
        response = created.json()
        assert response["output"][0]["content"][0]["text"] == "echo: hello schema"
        _check("Response", response)
        got = http.get(f"/responses/{response['id']}")
        assert got.json() == response
        _check("Response", got.json())
        items = http.get(f"/responses/{response['id']}/input_items")
        assert [item["type"] for item in items.json()["data"]] == ["message"]
        _check("ResponseItemList", items.json())
        with http.stream(
            "POST", "/responses", json={"model": "fake-model", "input": "a b c", "stream": True}
        ) as stream:
            events = [
                httpx.Response(200, content=line[6:]).json()
                for line in stream.iter_lines()
                if line.startswith("data: ")
            ]
        assert events[-1]["type"] == "response.completed"
        deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
        assert deltas == ["echo: ", "a ", "b ", "c"]  # one chunk per word, relayed as such
        schemas = openapi_document()["components"]["schemas"]
        by_type = {
            schemas[member["$ref"].removeprefix(REF)]["properties"]["type"]["enum"][0]: member
            for member in schemas["ResponseStreamEvent"]["anyOf"]
        }
        for event in events:
            # Each event against the union's member of its type (the union's error says less).
            _check(by_type[event["type"]]["$ref"].removeprefix(REF), event)
        models = http.get("/models")
        assert "fake-model" in [m["id"] for m in models.json()["data"]]
        _check("ListModelsResponse", models.json())
        _check("Model", http.get("/models/fake-model").json())
        deleted = http.delete(f"/responses/{response['id']}")
        jsonschema.validate(deleted.json(), schemas["ParleyDeletedResponse"])
        assert deleted.json() == {"id": response["id"], "object": "response", "deleted": True}
        missing = http.delete(f"/responses/{response['id']}")
        assert missing.status_code == 404
        _check("ErrorResponse", missing.json())
        refused = http.post("/responses", json={"model": "fake-model", "input": 5})
        assert refused.status_code == 400
        _check("ErrorResponse", refused.json())
