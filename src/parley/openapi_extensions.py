"""The OpenAPI entries of parley's own routes (each marked ``x-parley-extension``)."""

from __future__ import annotations

from typing import Any

_CONVERSATION = {"$ref": "#/components/schemas/ConversationResource"}


def _seconds(name: str, text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": text + " (Unix seconds, exclusive; parley extension).",
        "schema": {"type": "integer", "minimum": 0},
    }


TIME_PARAMETERS = [
    _seconds("created_after", "Keep conversations created after this time"),
    _seconds("created_before", "Keep conversations created before this time"),
    _seconds("updated_after", "Keep conversations updated (items or metadata) after this time"),
]


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def add_extensions(doc: dict[str, Any], errors: dict[str, Any]) -> None:
    """Add parley's own paths and schemas to ``doc``."""
    schemas = doc["components"]["schemas"]
    schemas["ParleyUsage"] = {
        "type": "object",
        "description": "What the caller's project stores (parley extension).",
        "properties": {
            "object": {"type": "string", "enum": ["usage"]},
            "conversations": {"type": "integer"},
            "items": {"type": "integer"},
            "stored_bytes": {
                "type": "integer",
                "description": "Bytes of stored metadata and item JSON.",
            },
        },
        "required": ["object", "conversations", "items", "stored_bytes"],
    }
    conversation_id = {
        "name": "conversation_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    doc["paths"]["/v1/conversations/{conversation_id}/fork"] = {
        "post": {
            "operationId": "forkConversation",
            "summary": "Fork a conversation: a new one holding copies of its items up to "
            "after_item (parley extension)",
            "x-parley-extension": True,
            "tags": ["Conversations"],
            "parameters": [conversation_id],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "after_item": {
                                    "type": "string",
                                    "description": "Copy the items up to and including this "
                                    "one (all when absent).",
                                },
                                "metadata": {
                                    "anyOf": [
                                        {"$ref": "#/components/schemas/Metadata"},
                                        {"type": "null"},
                                    ],
                                    "description": "The fork's metadata; the source's when "
                                    "absent or null.",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {"200": _json(_CONVERSATION), **errors},
        }
    }
    doc["paths"]["/v1/usage"] = {
        "get": {
            "operationId": "getUsage",
            "summary": "What the caller's project stores (parley extension)",
            "x-parley-extension": True,
            "responses": {"200": _json({"$ref": "#/components/schemas/ParleyUsage"}), **errors},
        }
    }
