"""parley's own OpenAPI document: OpenAI's conversation routes under /v1, plus parley's own."""

from __future__ import annotations

import copy
import functools
from typing import Any

from parley import __version__
from parley.openapi_extensions import TIME_PARAMETERS, add_extensions
from parley.schema import spec

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


def _error_responses() -> dict[str, Any]:
    described = {
        "400": "Invalid request (validation error)",
        "401": "Missing, unknown or revoked API key",
        "404": "Unknown conversation, item or URL",
        "413": "Body too large",
        "503": "Database unavailable",
    }
    return {
        status: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
        for status, text in described.items()
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document served at ``GET /openapi.json``."""
    source = spec()
    doc: dict[str, Any] = {
        "openapi": source["openapi"],
        "info": {
            "title": "parley",
            "version": __version__,
            "description": (
                "OpenAI's Conversations API as served by parley, plus parley's own routes. "
                "The conversation routes and every schema come from OpenAI's OpenAPI document "
                f"(info.version {source['info']['version']})."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"ApiKeyAuth": []}],
        "tags": source.get("tags", []),
        "paths": {},
        "components": copy.deepcopy(source["components"]),
    }
    errors = _error_responses()
    for path, operations in source["paths"].items():
        entry = copy.deepcopy(operations)
        for operation in entry.values():
            if isinstance(operation, dict) and "responses" in operation:
                for status, response in errors.items():
                    operation["responses"].setdefault(status, response)
        doc["paths"]["/v1" + path] = entry
    doc["components"]["schemas"]["ParleyConversationList"] = {
        "type": "object",
        "description": "A page of conversations (parley extension).",
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ConversationResource"},
            },
            "first_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "last_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "has_more": {"type": "boolean"},
        },
        "required": ["object", "data", "first_id", "last_id", "has_more"],
    }
    doc["paths"]["/v1/conversations"]["get"] = {
        "operationId": "listConversations",
        "summary": "List the project's conversations, filtered by metadata and time "
        "(parley extension)",
        "description": "Newest first (order=desc) or oldest first, by created_at then "
        "creation in this store; keyset pages through `after`.",
        "x-parley-extension": True,
        "tags": ["Conversations"],
        "parameters": [
            {
                "name": "metadata",
                "in": "query",
                "style": "deepObject",
                "explode": True,
                "description": "Keep conversations whose metadata has every pair: "
                "metadata[KEY]=VALUE.",
                "schema": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            },
            {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
            {"name": "after", "in": "query", "schema": {"type": "string"}},
            *TIME_PARAMETERS,
        ],
        "responses": {
            "200": {
                "description": "OK",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ParleyConversationList"}
                    }
                },
            },
            **errors,
        },
    }
    add_extensions(doc, errors)
    doc["paths"]["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Liveness check (no authentication)",
            "security": [],
            "responses": {
                "200": {
                    "description": "The server is up",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"status": {"type": "string", "enum": ["ok"]}},
                                "required": ["status"],
                            }
                        }
                    },
                }
            },
        }
    }
    return doc
