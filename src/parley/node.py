"""n8n's OpenAI node, Conversation resource: create, get, update, remove (and the items)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import openai

from parley.credentials import Credential
from parley.errors import json_type_name
from parley.models import (
    MAX_ITEMS_PER_CALL,
    MAX_METADATA_KEY,
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE,
)
from parley.sdk import NodeError, ValidationError, make_client, translate

ROLES = ("user", "assistant", "system")
Message = tuple[str, str] | Mapping[str, Any]
T = TypeVar("T")

__all__ = [
    "Node",
    "NodeError",
    "ValidationError",
    "message_item",
    "message_model_body",
    "parse_metadata",
]


def message_item(role: str, text: str) -> dict[str, Any]:
    """One message as n8n's Create sends it: no ``type`` key, one text part."""
    if role == "assistant":
        return {"role": role, "content": [{"type": "output_text", "text": text, "annotations": []}]}
    return {"role": role, "content": [{"type": "input_text", "text": text}]}


def _as_pair(message: Message, number: int) -> tuple[str, str]:
    if isinstance(message, Mapping):
        role, text = message.get("role", "user"), message.get("content", "")
    elif isinstance(message, tuple) and len(message) == 2:
        role, text = message
    else:
        raise ValidationError(f"message {number}: expected (role, text), got {message!r}")
    if role not in ROLES:
        raise ValidationError(f"message {number}: role {role!r} is not one of {', '.join(ROLES)}")
    if not isinstance(text, str):
        raise ValidationError(f"message {number}: the text must be a string, got {text!r}")
    return role, text


def _check_count(count: int, what: str) -> None:
    if count > MAX_ITEMS_PER_CALL:
        raise ValidationError(
            f"{count} {what}: OpenAI accepts at most {MAX_ITEMS_PER_CALL} per call "
            f"(remove {count - MAX_ITEMS_PER_CALL}, or add the rest with `items add`)"
        )


def _short(text: str) -> str:
    return text if len(text) <= 24 else text[:20] + "…"


def parse_metadata(value: str | Mapping[str, Any] | None) -> dict[str, str] | None:
    """Metadata as JSON text or a mapping, checked against OpenAI's limits (None: not given)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValidationError("Invalid JSON in metadata field", description=str(exc)) from None
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"metadata must be a JSON object of strings, got {json_type_name(value)}"
        )
    if len(value) > MAX_METADATA_PAIRS:
        raise ValidationError(
            f"metadata has {len(value)} pairs; at most {MAX_METADATA_PAIRS} are allowed"
        )
    checked: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"metadata key {key!r} must be a non-empty string")
        if len(key) > MAX_METADATA_KEY:
            raise ValidationError(
                f"metadata key '{_short(key)}' is {len(key)} characters long; "
                f"at most {MAX_METADATA_KEY} are allowed"
            )
        if not isinstance(item, str):
            raise ValidationError(
                f"metadata['{key}'] must be a string, got {json.dumps(item)}; "
                f"write it as {json.dumps(json.dumps(item))}"
            )
        if len(item) > MAX_METADATA_VALUE:
            raise ValidationError(
                f"metadata['{key}'] is {len(item)} characters long; "
                f"at most {MAX_METADATA_VALUE} are allowed"
            )
        checked[key] = item
    return checked


def _require_id(value: str, what: str = "Conversation ID") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} is required")
    return value.strip()


def message_model_body(
    model: str, messages: Sequence[Message], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The body n8n's Message a Model sends, as captured from n8n's own node."""
    if not isinstance(model, str) or not model.strip():
        raise ValidationError("Model is required")
    items = [message_item(*_as_pair(m, n)) for n, m in enumerate(messages, start=1)]
    if not items:
        raise ValidationError("At least one message is required")
    opts = dict(options or {})
    body: dict[str, Any] = {
        "model": model.strip(),
        "input": items,
        "parallel_tool_calls": True,
        "store": bool(opts.get("store", True)),
        "background": False,
    }
    conversation = opts.get("conversationId")
    previous = opts.get("previousResponseId")
    if conversation:
        body["conversation"] = _require_id(str(conversation))
    if previous:
        body["previous_response_id"] = _require_id(str(previous), "Previous Response ID")
    for option, field in (
        ("instructions", "instructions"),
        ("maxTokens", "max_output_tokens"),
        ("temperature", "temperature"),
        ("topP", "top_p"),
    ):
        if opts.get(option) is not None:
            body[field] = opts[option]
    metadata = parse_metadata(opts.get("metadata"))
    if metadata:
        body["metadata"] = metadata
    return body


class Node:
    """The node's operations over the official SDK; each returns the API's JSON as a dict."""

    def __init__(
        self,
        credential: Credential,
        *,
        client: openai.OpenAI | None = None,
        max_retries: int = 2,
        timeout: float = 60.0,
    ) -> None:
        self.credential = credential
        self.client = client or make_client(credential, max_retries=max_retries, timeout=timeout)

    def close(self) -> None:
        """Close the SDK's connection pool."""
        self.client.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, subject: str | None, work: Callable[[], T]) -> T:
        try:
            return work()
        except (openai.OpenAIError, ValueError) as exc:
            raise translate(exc, self.credential, subject) from exc

    # n8n's four operations -------------------------------------------------------------

    def create(
        self, messages: Sequence[Message] = (), options: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Create a conversation from (role, text) messages; ``options={"metadata": …}``."""
        items = [message_item(*_as_pair(m, n)) for n, m in enumerate(messages)]
        _check_count(len(items), "messages")
        metadata = parse_metadata((options or {}).get("metadata"))
        extra: dict[str, Any] = {}
        # n8n leaves out empty metadata on create (its isObjectEmpty check).
        if metadata:
            extra["metadata"] = metadata
        made = self._call(None, lambda: self.client.conversations.create(items=items, **extra))  # type: ignore[arg-type]
        return made.to_dict(mode="json")

    def get(self, conversation_id: str) -> dict[str, Any]:
        """Get a conversation by id."""
        cid = _require_id(conversation_id)
        got = self._call(f"conversation '{cid}'", lambda: self.client.conversations.retrieve(cid))
        return got.to_dict(mode="json")

    def update(
        self, conversation_id: str, metadata: str | Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Replace a conversation's metadata (``{}`` clears it)."""
        cid = _require_id(conversation_id)
        parsed = parse_metadata(metadata)
        if parsed is None:
            raise ValidationError("Metadata is required")
        done = self._call(
            f"conversation '{cid}'",
            lambda: self.client.conversations.update(cid, metadata=parsed),
        )
        return done.to_dict(mode="json")

    def remove(self, conversation_id: str) -> dict[str, Any]:
        """Delete a conversation."""
        cid = _require_id(conversation_id)
        gone = self._call(f"conversation '{cid}'", lambda: self.client.conversations.delete(cid))
        return gone.to_dict(mode="json")

    # Beyond n8n, under the SDK's verbs: the items, and parley's listing ----------------

    def create_items(self, conversation_id: str, items: Sequence[Message]) -> dict[str, Any]:
        """Append items: (role, text) pairs become n8n-style messages; mappings go as given."""
        cid = _require_id(conversation_id)
        wire = [
            dict(it) if isinstance(it, Mapping) else message_item(*_as_pair(it, n))
            for n, it in enumerate(items)
        ]
        _check_count(len(wire), "items")
        added = self._call(
            f"conversation '{cid}'",
            lambda: self.client.conversations.items.create(cid, items=wire),  # type: ignore[arg-type]
        )
        return added.to_dict(mode="json")

    def list_items(
        self,
        conversation_id: str,
        *,
        order: str | None = None,
        limit: int | None = None,
        page_size: int = 100,
        include: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Every item (or the first ``limit``), following pages; one list object."""
        cid = _require_id(conversation_id)
        options: dict[str, Any] = {"limit": min(page_size, limit or page_size)}
        if order:
            options["order"] = order
        if include:
            options["include"] = list(include)

        def walk() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            for item in self.client.conversations.items.list(cid, **options):
                found.append(item.to_dict(mode="json"))
                if limit is not None and len(found) >= limit:
                    break
            return found

        data = self._call(f"conversation '{cid}'", walk)
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": False if limit is None else len(data) >= limit,
        }

    def retrieve_item(self, conversation_id: str, item_id: str) -> dict[str, Any]:
        """One item of a conversation."""
        cid, iid = _require_id(conversation_id), _require_id(item_id, "Item ID")
        got = self._call(
            f"item '{iid}' in conversation '{cid}'",
            lambda: self.client.conversations.items.retrieve(iid, conversation_id=cid),
        )
        return got.to_dict(mode="json")

    def delete_item(self, conversation_id: str, item_id: str) -> dict[str, Any]:
        """Delete one item; the API answers with the conversation."""
        cid, iid = _require_id(conversation_id), _require_id(item_id, "Item ID")
        done = self._call(
            f"item '{iid}' in conversation '{cid}'",
            lambda: self.client.conversations.items.delete(iid, conversation_id=cid),
        )
        return done.to_dict(mode="json")

    def list_conversations(
        self,
        *,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
        order: str | None = None,
        after: str | None = None,
        all_pages: bool = False,
        created_after: int | None = None,
        created_before: int | None = None,
        updated_after: int | None = None,
    ) -> dict[str, Any]:
        """parley's ``GET /v1/conversations``: one page, or with ``all_pages`` every page.

        OpenAI itself has no such route; parley filters by exact metadata values and by time
        (Unix seconds, exclusive bounds).
        """
        params: dict[str, Any] = {}
        if metadata:
            params["metadata"] = dict(metadata)  # the SDK encodes it as metadata[key]=value
        for name, value in (
            ("limit", limit),
            ("order", order),
            ("after", after),
            ("created_after", created_after),
            ("created_before", created_before),
            ("updated_after", updated_after),
        ):
            if value is not None:
                params[name] = value
        page = self._page(params)
        if not all_pages:
            return page
        data = list(page["data"])
        while page.get("has_more") and page.get("last_id"):
            page = self._page({**params, "after": page["last_id"]})
            data.extend(page["data"])
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": False,
        }

    def fork(
        self,
        conversation_id: str,
        *,
        after_item: str | None = None,
        metadata: str | Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """parley's fork: a new conversation with copies of the items up to ``after_item``.

        OpenAI itself has no such route; the fork keeps the source's metadata unless given.
        """
        cid = _require_id(conversation_id)
        body: dict[str, Any] = {}
        if after_item is not None and str(after_item).strip():
            body["after_item"] = str(after_item).strip()
        parsed = parse_metadata(metadata)
        if parsed is not None:
            body["metadata"] = parsed
        made = self._call(
            f"conversation '{cid}' (or its item; fork is parley only)",
            lambda: self.client.post(f"/conversations/{cid}/fork", body=body, cast_to=object),
        )
        if not isinstance(made, dict) or not isinstance(made.get("id"), str):
            raise NodeError(f"unexpected answer from {self.credential.base_url}: {made!r:.200}")
        return made

    def search(
        self,
        query: str,
        *,
        metadata: Mapping[str, str] | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        updated_after: int | None = None,
        limit: int = 20,
        page: str | None = None,
    ) -> dict[str, Any]:
        """parley's ``GET /v1/conversations/search``: the best ``limit`` hits, following pages.

        OpenAI itself has no such route. Each hit is the conversation, a score (higher is
        better) and its best matching items with snippets; ``next_page`` continues the walk.
        """
        text = str(query).strip()
        if not text:
            raise ValidationError("A search query is required")
        if limit < 1:
            raise ValidationError("The limit must be at least 1")
        params: dict[str, Any] = {"q": text}
        if metadata:
            params["metadata"] = dict(metadata)
        for name, value in (
            ("created_after", created_after),
            ("created_before", created_before),
            ("updated_after", updated_after),
        ):
            if value is not None:
                params[name] = value
        hits: list[dict[str, Any]] = []
        cursor, more = page, True
        while more and len(hits) < limit:
            wanted = {**params, "limit": min(100, limit - len(hits))}
            if cursor:
                wanted["page"] = cursor
            got = self._get("/conversations/search", wanted)
            hits.extend(got["data"])
            more, cursor = bool(got.get("has_more")), got.get("next_page")
            if not cursor:
                more = False
        return {
            "object": "list",
            "data": hits,
            "has_more": more,
            "next_page": cursor if more else None,
        }

    def usage(self) -> dict[str, Any]:
        """parley's ``GET /v1/usage``: what the credential's project stores."""
        got = self._call(
            "route GET /usage (parley only; OpenAI has none)",
            lambda: self.client.get("/usage", cast_to=object),
        )
        if not isinstance(got, dict) or got.get("object") != "usage":
            raise NodeError(f"unexpected answer from {self.credential.base_url}: {got!r:.200}")
        return got

    def _page(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._get("/conversations", params)

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        page = self._call(
            f"route GET {path} (parley only; OpenAI has none)",
            lambda: self.client.get(path, cast_to=object, options={"params": params}),
        )
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise NodeError(f"unexpected answer from {self.credential.base_url}: {page!r:.200}")
        return page

    # Text → Message a Model (the Responses API) ----------------------------------------

    def message_model(
        self,
        model: str,
        messages: Sequence[Message],
        options: Mapping[str, Any] | None = None,
        *,
        simplify: bool = True,
    ) -> dict[str, Any]:
        """n8n's Message a Model: one response; ``{"output": [...]}`` when ``simplify``.

        ``options`` as n8n names them: ``conversationId``, ``instructions``,
        ``previousResponseId``, ``store`` (default true), ``maxTokens``, ``temperature``,
        ``topP``, ``metadata``.
        """
        body = message_model_body(model, messages, options)
        subject = f"conversation '{body['conversation']}'" if "conversation" in body else None
        made = self._call(subject, lambda: self.client.responses.create(**body))
        answer: dict[str, Any] = made.to_dict(mode="json")
        return {"output": answer.get("output") or []} if simplify else answer
