"""parley's own OpenAPI document: OpenAI's conversation and response routes under /v1, each
documented by OpenAI's own operation and schemas, plus parley's own routes."""

from __future__ import annotations

import copy
import functools
import inspect
import json
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from parley import __version__
from parley.schema import spec

if TYPE_CHECKING:
    from parley.routing import Route

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


def _error_responses(described: dict[str, str] | None = None) -> dict[str, Any]:
    if described is None:
        described = {
            "400": "Invalid request (validation error)",
            "401": "Missing, unknown or revoked API key",
            "404": "Unknown conversation, item, response, model or URL",
            "413": "Body too large",
            "503": "Database unavailable",
        }
    return {
        status: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
        for status, text in described.items()
    }


# What creating a response may answer besides the errors every route has: the model server's.
_UPSTREAM_ERRORS = {
    "4XX": "The model server refused the call (its status and message, as it answered)",
    "429": "The model server is rate limiting (its Retry-After passed on)",
    "501": "No model server is configured",
    "502": "The model server cannot be reached, failed, or refused parley's credentials",
    "504": "The model server did not answer in time",
}
_MORE_ERRORS = {"createResponse": _UPSTREAM_ERRORS}


@functools.cache
def responses_spec() -> dict[str, Any]:
    """The Responses subset of OpenAI's OpenAPI document as shipped with parley."""
    text = resources.files("parley").joinpath("spec/openai-responses.openapi.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    schemas = doc["components"]["schemas"]
    # Two defaults of null where the schema admits no null: invalid OpenAPI, so dropped.
    del schemas["ConversationParam"]["default"]
    del schemas["ResponseStreamOptions"]["anyOf"][0]["default"]
    # OpenAI's own examples answer `"user": null` (13 of them in this file), which its schema
    # says is a string: the answer is the truth, the schema admits null.
    user = schemas["ModelResponseProperties"]["properties"]["user"]
    user["anyOf"] = [{"type": user.pop("type")}, {"type": "null"}]
    # Likewise `"usage": null` of a response still in progress (4 of OpenAI's examples).
    properties = schemas["Response"]["allOf"][2]["properties"]
    properties["usage"] = {"anyOf": [properties["usage"], {"type": "null"}]}
    return doc


# parley's wire types that are OpenAI's schemas: documented by reference to OpenAI's own.
_OPENAI_SCHEMAS = {
    "Conversation": "ConversationResource",
    "DeletedConversation": "DeletedConversationResource",
    "ItemList": "ConversationItemList",
}
# parley's wire types that are OpenAI's schemas outside the shipped subsets (the /models
# routes): documented from parley's types under OpenAI's names, not as Parley*.
_OPENAI_NAMES = {"Model", "ListModelsResponse"}
_OPENAI_OPERATIONS = {"listModels", "retrieveModel"}
_REF = "#/components/schemas/"
_CONVERTOR = re.compile(r":\w+}")


@functools.cache
def openapi_document(routes: tuple[Route, ...] | None = None) -> dict[str, Any]:
    """The document served at ``GET /openapi.json``, for ``routes`` (default: parley's table)."""
    if routes is None:
        from parley.routes import ROUTES

        routes = ROUTES.routes
    source = spec()
    responses = responses_spec()
    doc: dict[str, Any] = {
        "openapi": source["openapi"],
        "info": {
            "title": "parley",
            "version": __version__,
            "description": (
                "OpenAI's Conversations and Responses APIs as served by parley, plus parley's "
                "own routes. The conversation and response routes and their schemas come from "
                f"OpenAI's OpenAPI document (info.version {source['info']['version']})."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"ApiKeyAuth": []}],
        "tags": source.get("tags", []),
        "paths": {},
        "components": copy.deepcopy(source["components"]),
    }
    errors = _error_responses()
    schemas: dict[str, Any] = doc["components"]["schemas"]
    for name, schema in responses["components"]["schemas"].items():
        # The two subsets come from one document: a schema both hold is the same in each.
        schemas.setdefault(name, copy.deepcopy(schema))
    openai_paths = {**source["paths"], **responses["paths"]}
    for route in routes:
        method = route.method.lower()
        path = _CONVERTOR.sub("}", route.path)  # OpenAPI has no `{name:path}`
        openai = openai_paths.get(path.removeprefix("/v1"), {})
        if route.path.startswith("/v1/") and method in openai:
            operation = copy.deepcopy(openai[method])
            answers = operation["responses"]
            for status, response in errors.items():
                answers.setdefault(status, response)
                if _bare_error(answers[status]):
                    # parley answers every error in the envelope, as OpenAI's API does.
                    answers[status] = response
            for status, response in _error_responses(_MORE_ERRORS.get(route.name, {})).items():
                answers.setdefault(status, response)
            ok = answers.get("200", {})
            if "content" not in ok and route.answers is not None:
                # OpenAI's operation names no body (DELETE /responses/{id}): parley's type does.
                body = {"schema": _schema(route.answers, schemas)}
                answers["200"] = {**ok, "content": {"application/json": body}}
            entry = doc["paths"].setdefault(path, {})
            # Path-level fields (shared parameters) come along with the first operation.
            entry.update({k: copy.deepcopy(v) for k, v in openai.items() if k not in _METHODS})
        elif route.answers is not None:
            operation = _own_operation(route, errors, schemas)
            entry = doc["paths"].setdefault(path, {})
        else:
            continue
        entry[method] = operation
    return doc


_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _own_operation(route: Route, errors: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """An operation of parley's own, documented from the route's declared types."""
    first, _, rest = inspect.cleandoc(route.handler.__doc__ or route.name).partition("\n")
    # Handler docstrings open with "METHOD /path: what it does".
    summary = first.removeprefix(f"{route.method} {route.path}").lstrip(": ").rstrip(".")
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": summary[:1].upper() + summary[1:],
    }
    if rest.strip():
        operation["description"] = " ".join(rest.split())
    if route.path.startswith("/v1/"):
        if route.name not in _OPENAI_OPERATIONS:
            operation["x-parley-extension"] = True
        operation["tags"] = [route.path.split("/")[2].capitalize()]
    else:
        operation["security"] = []  # outside /v1 nothing asks for a key
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in (s[1:-1] for s in _CONVERTOR.sub("}", route.path).split("/") if s[:1] == "{")
    ]
    if route.query is not None:
        parameters += _query_parameters(route.query, schemas)
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        body_schema = {"schema": _schema(route.body, schemas, answer=False)}
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": body_schema},
        }
    body = {"schema": _schema(route.answers, schemas)}
    ok = {"description": "OK", "content": {"application/json": body}}
    operation["responses"] = {"200": ok, **(errors if route.path.startswith("/v1/") else {})}
    return operation


def _schema(kind: Any, schemas: dict[str, Any], *, answer: bool = True) -> dict[str, Any]:
    """The JSON schema of ``kind``, its named parts added to ``schemas`` as Parley*."""
    (found,), components = msgspec.json.schema_components([kind], ref_template=_REF + "{name}")
    for name, schema in components.items():
        if name in _OPENAI_SCHEMAS:
            continue
        if answer and "properties" in schema:
            # The encoder writes every field, defaults included: an answer always has them.
            schema = {**schema, "required": list(schema["properties"])}
        elif not schema.get("required", True):
            schema = {k: v for k, v in schema.items() if k != "required"}
        schemas[_published(name)] = _renamed(schema)
    result: dict[str, Any] = _renamed(found)
    return result


def _published(name: str) -> str:
    return _OPENAI_SCHEMAS.get(name) or (name if name in _OPENAI_NAMES else "Parley" + name)


def _bare_error(response: dict[str, Any]) -> bool:
    """Whether an OpenAI error answer names the bare ``Error`` rather than the envelope."""
    content = response.get("content", {}).get("application/json", {})
    return bool(content.get("schema") == {"$ref": _REF + "Error"})


def _renamed(node: Any) -> Any:
    """``node`` with references to our components pointing at their published names."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            name = ref.removeprefix(_REF)
            return {"$ref": _REF + _published(name)}
        return {key: _renamed(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_renamed(value) for value in node]
    return node


def _query_parameters(query: Any, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """One OpenAPI query parameter per field of the Struct ``query``."""
    (ref,), components = msgspec.json.schema_components([query], ref_template=_REF + "{name}")
    shape = components[ref["$ref"].removeprefix(_REF)]
    parameters = []
    for name, schema in shape["properties"].items():
        schema = dict(schema)
        # A query parameter is absent rather than null.
        options = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
        if options:
            schema.update(options[0])
        parameter: dict[str, Any] = {"name": name, "in": "query"}
        if schema.get("default", ...) is None:
            del schema["default"]
        if "description" in schema:
            parameter["description"] = schema.pop("description")
        if schema.get("type") == "object":
            parameter.update(style="deepObject", explode=True)
        parameter["schema"] = _renamed(schema)
        parameters.append(parameter)
    return parameters


async def openapi_json(request: Request) -> Response:
    """parley's own OpenAPI document."""
    return Response(request.app.state.openapi, media_type="application/json")
