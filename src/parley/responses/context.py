"""What the model sees for a turn: the conversation's items (or the previous_response_id chain),
then the input; and n8n's tool-loop repeats, found so they are neither sent nor stored twice."""

from __future__ import annotations

from typing import Any

import msgspec

from parley.errors import NotFound, duplicate_item
from parley.items import ItemReference, prepare_items
from parley.models import MAX_LIMIT, NewItem
from parley.store import Store

_decode = msgspec.json.decode
_TOOL_ITEMS = ("function_call", "function_call_output")
# A previous_response_id chain is walked back at most this far (a guard against cycles).
MAX_CHAIN = 1000


class Context(msgspec.Struct):
    """A turn's context: what the model sees and what the turn appends."""

    history: list[dict[str, Any]]
    # Every input item, in its stored form (the response's input_items).
    inputs: list[NewItem]
    # The input items that are new to the conversation: sent after the history, then stored.
    fresh: list[NewItem]

    def model_items(self) -> list[dict[str, Any]]:
        """History, then the fresh input, as stored-form dicts."""
        return self.history + [_decode(item.data) for item in self.fresh]


async def conversation_items(
    store: Store, project: str, conversation_id: str
) -> list[dict[str, Any]]:
    """Every item of a conversation in order (404 for an unknown or another project's one)."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await store.list_items(
            project, conversation_id, after=after, limit=MAX_LIMIT, order="asc"
        )
        items.extend(_decode(data) for _, data in page.items)
        if not page.has_more or not page.items:
            return items
        after = page.items[-1][0]


def previous_not_found(missing: str, newest: str) -> NotFound:
    """404 for a ``previous_response_id`` chain with a response missing: the newest link itself
    (unknown, another project's, or stored with ``store: false``), or an older one deleted since.
    """
    if missing == newest:
        message = f"Previous response with id '{missing}' not found."
    else:
        message = (
            f"Previous response with id '{missing}' not found: it is an earlier link of the "
            f"previous_response_id chain of '{newest}' and was deleted, so the context it held "
            "is gone. Start a new chain, or keep the turns in a conversation."
        )
    return NotFound(message, param="previous_response_id", code="previous_response_not_found")


async def chain_items(store: Store, project: str, response_id: str) -> list[dict[str, Any]]:
    """Input and output of every response on the chain ending at ``response_id``, oldest first.

    Every link must exist in the caller's project: a chain through a deleted response is a 404
    naming it, never a shorter context given to the model without a word.
    """
    turns: list[list[dict[str, Any]]] = []
    next_id: str | None = response_id
    while next_id is not None and len(turns) < MAX_CHAIN:
        try:
            record = await store.retrieve_response(project, next_id)
        except NotFound:
            raise previous_not_found(next_id, response_id) from None
        output = _decode(record.data).get("output") or []
        turns.append(_decode(record.input_items) + list(output))
        next_id = record.previous_response_id
    return [item for turn in reversed(turns) for item in turn]


def _parts(content: Any) -> list[tuple[str, Any]]:
    if isinstance(content, str):
        return [("text", content)]
    shape = []
    for part in content or []:
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            shape.append(("text", part.get("text")))
        else:
            shape.append((str(kind), part.get("image_url") or part.get("file_id")))
    return shape


def _same_message(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("role") == b.get("role") and _parts(a.get("content")) == _parts(b.get("content"))


def tool_loop_repeats(history: list[dict[str, Any]], inputs: list[dict[str, Any]]) -> set[int]:
    """Indexes of input items that repeat what the conversation holds, in n8n's tool loop.

    n8n (n8n-io/n8n#22987) answers a model's function calls by sending the turn's original
    messages again, with every function_call_output so far. When the conversation ends with
    that user turn followed only by its function calls (and outputs already given), the
    repeated messages and the outputs already stored are dropped: the model sees each once.
    """
    end = len(history)
    start = end
    while start > 0 and history[start - 1].get("type") in _TOOL_ITEMS:
        start -= 1
    tail = history[start:]
    calls = {i.get("call_id") for i in tail if i.get("type") == "function_call"}
    if not calls:
        return set()
    answered = {i.get("call_id") for i in tail if i.get("type") == "function_call_output"}
    first = start
    while (
        first > 0
        and history[first - 1].get("type") == "message"
        and history[first - 1].get("role") != "assistant"
    ):
        first -= 1
    turn = history[first:start]
    lead = 0
    while lead < len(inputs) and inputs[lead].get("type") == "message":
        lead += 1
    if lead == 0 or lead > len(turn):
        return set()
    if not all(_same_message(a, b) for a, b in zip(inputs[:lead], turn[-lead:], strict=True)):
        return set()
    rest = inputs[lead:]
    outputs = [i for i in rest if i.get("type") == "function_call_output"]
    if not any(i.get("call_id") in calls for i in outputs):
        return set()
    dropped = set(range(lead))
    for offset, item in enumerate(rest):
        if item.get("type") == "function_call_output" and item.get("call_id") in answered:
            dropped.add(lead + offset)
    return dropped


async def build_context(
    store: Store,
    project: str,
    *,
    conversation: str | None,
    previous_response_id: str | None,
    parsed: list[NewItem | ItemReference],
    dedupe: bool,
    max_bytes: int,
) -> Context:
    """The turn's context; 404 for an unknown conversation or previous response, before any
    model is called."""
    if conversation is not None:
        history = await conversation_items(store, project, conversation)
    elif previous_response_id is not None:
        history = await chain_items(store, project, previous_response_id)
    else:
        history = []
    # References expanded, the input is held to the body limit, as on the Conversations API.
    inputs = await prepare_items(store, project, parsed, max_bytes=max_bytes, field="input")
    dropped: set[int] = set()
    if conversation is not None and history:
        if dedupe:
            dropped = tool_loop_repeats(history, [_decode(item.data) for item in inputs])
        # An id the conversation already holds: 400 now, before any model is called (the
        # history is the whole conversation). A turn racing this one to the same id still
        # fails at the append, which the store checks.
        held = {item.get("id") for item in history}
        for index, item in enumerate(inputs):
            if index not in dropped and item.id in held:
                raise duplicate_item(item.id, index, "input")
    fresh = [item for index, item in enumerate(inputs) if index not in dropped]
    return Context(history, inputs, fresh)
