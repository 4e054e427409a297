"""Responses items ↔ Chat Completions messages, both ways. Pure: no I/O, no state.

Out: messages by role (``developer`` and ``system`` both as ``system``), text parts, images as
``image_url`` parts; consecutive ``function_call`` items become one assistant message's
``tool_calls`` (attached to the assistant text just before them, as Chat Completions writes a
turn); ``function_call_output`` becomes a ``tool`` message; reasoning is not sent. Anything
else has no Chat Completions form and is refused by name.
Back: a completion (whole, or chunk by chunk) becomes model events: ``reasoning_content`` or
``reasoning`` (vLLM, Ollama, llama.cpp, DeepSeek) as reasoning, ``content`` as text with its
logprobs, ``refusal`` as a refusal, ``tool_calls`` as function calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from parley.errors import InvalidRequest
from parley.upstreams.base import (
    Finish,
    ModelCall,
    ModelEvent,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
_TEXT_PARTS = ("input_text", "output_text")
# Item types that carry nothing a chat model should see again.
_SKIPPED = ("reasoning",)


def unsupported(what: str, where: str) -> InvalidRequest:
    """400 naming something a Chat Completions upstream cannot take."""
    return InvalidRequest(
        f"{what} cannot be sent to this model: its server speaks Chat Completions, which has "
        "no form for it.",
        param=where,
        code="unsupported_value",
    )


def _part(part: dict[str, Any], where: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind in _TEXT_PARTS:
        return {"type": "text", "text": part.get("text", "")}
    if kind == "refusal":
        return {"type": "text", "text": part.get("refusal", "")}
    if kind == "input_image" and part.get("image_url"):
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") not in (None, "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_image":
        raise unsupported("An input_image given by file_id", where)
    raise unsupported(f"A content part of type '{kind}'", where)


def _content(parts: list[dict[str, Any]], where: str, *, text_only: bool) -> Any:
    converted = [_part(part, f"{where}[{index}]") for index, part in enumerate(parts)]
    if all(part["type"] == "text" for part in converted):
        # One string is what every chat server accepts (some reject arrays of parts).
        return "".join(part["text"] for part in converted)
    if text_only:
        raise unsupported("An image in an assistant, system or developer message", where)
    return converted


def _tool_output(output: Any, where: str) -> str:
    if isinstance(output, str):
        return output
    texts = []
    for index, part in enumerate(output or []):
        if isinstance(part, dict) and part.get("type") in _TEXT_PARTS:
            texts.append(part.get("text", ""))
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise unsupported(f"A function_call_output part of type '{kind}'", f"{where}[{index}]")
    return "".join(texts)


def to_messages(
    instructions: str | None,
    items: list[dict[str, Any]],
    *,
    history: int = 0,
    history_param: str = "conversation",
) -> list[dict[str, Any]]:
    """The chat ``messages`` for ``instructions`` then ``items`` (stored-form items).

    The first ``history`` items came from the conversation or the response chain; errors name
    them by ``history_param`` and the item's id, and the others as ``input[i]``.
    """
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for index, item in enumerate(items):
        if index >= history:
            _add(messages, item, f"input[{index - history}]")
            continue
        try:
            _add(messages, item, "item")
        except InvalidRequest as exc:
            raise InvalidRequest(
                f"{exc.message} (item '{item.get('id')}' of the {history_param.replace('_', ' ')})",
                param=history_param,
                code=exc.code,
            ) from None
    return messages


def _add(messages: list[dict[str, Any]], item: dict[str, Any], where: str) -> None:
    """Append ``item``'s chat form to ``messages``."""
    kind = item.get("type", "message")
    if kind == "message":
        role = _ROLES.get(item.get("role", "user"), "user")
        content = item.get("content", "")
        if isinstance(content, list):
            content = _content(content, f"{where}.content", text_only=role != "user")
        messages.append({"role": role, "content": content})
    elif kind == "function_call":
        call = {
            "id": item["call_id"],
            "type": "function",
            "function": {"name": item["name"], "arguments": item.get("arguments", "")},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        messages.append(
            {
                "role": "tool",
                "tool_call_id": item["call_id"],
                "content": _tool_output(item.get("output"), f"{where}.output"),
            }
        )
    elif kind not in _SKIPPED:
        raise unsupported(f"An item of type '{kind}'", f"{where}.type")


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool["name"]}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _response_format(text_format: dict[str, Any]) -> dict[str, Any] | None:
    kind = text_format.get("type")
    if kind == "json_schema":
        schema = {key: text_format[key] for key in ("name", "schema", "strict", "description")}
        return {
            "type": "json_schema",
            "json_schema": {k: v for k, v in schema.items() if v is not None},
        }
    if kind == "json_object":
        return {"type": "json_object"}
    return None


def chat_body(call: ModelCall) -> dict[str, Any]:
    """The Chat Completions request body for ``call``."""
    body: dict[str, Any] = {
        "model": call.model,
        "messages": to_messages(
            call.instructions, call.items, history=call.history, history_param=call.history_param
        ),
    }
    if call.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if call.tools:
        body["tools"] = [_tool(tool) for tool in call.tools]
        if call.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = call.parallel_tool_calls
    if call.tool_choice is not None:
        body["tool_choice"] = _tool_choice(call.tool_choice)
    for key, value in (
        ("temperature", call.temperature),
        ("top_p", call.top_p),
        # max_tokens, not max_completion_tokens: vLLM, Ollama, llama.cpp and LM Studio all read it.
        ("max_tokens", call.max_output_tokens),
        ("user", call.user),
    ):
        if value is not None:
            body[key] = value
    if call.logprobs:
        body["logprobs"] = True
        if call.top_logprobs is not None:
            body["top_logprobs"] = call.top_logprobs
    if call.text_format is not None:
        response_format = _response_format(call.text_format)
        if response_format is not None:
            body["response_format"] = response_format
    return body


def usage(raw: Any) -> Usage | None:
    """Chat usage → Responses usage (None when the upstream sent none)."""
    if not isinstance(raw, dict):
        return None
    prompt = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(prompt.get("cached_tokens") or 0),
        reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
    )


def _bytes(entry: dict[str, Any]) -> list[int]:
    raw = entry.get("bytes")
    if isinstance(raw, list):
        return raw
    return list(str(entry.get("token", "")).encode())


def logprobs(choice: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat choice's ``logprobs.content`` in Responses' ``output_text`` form."""
    raw = choice.get("logprobs")
    return logprob_entries(raw.get("content") if isinstance(raw, dict) else None)


def logprob_entries(content: Any) -> list[dict[str, Any]]:
    """Token logprobs (Chat Completions', or Responses' with or without ``bytes``) in the
    ``output_text`` form: ``token``, ``bytes``, ``logprob``, ``top_logprobs``."""
    found = []
    for entry in content if isinstance(content, list) else []:
        if not isinstance(entry, dict):
            continue
        found.append(
            {
                "token": str(entry.get("token", "")),
                "bytes": _bytes(entry),
                "logprob": float(entry.get("logprob") or 0.0),
                "top_logprobs": [
                    {
                        "token": str(top.get("token", "")),
                        "bytes": _bytes(top),
                        "logprob": float(top.get("logprob") or 0.0),
                    }
                    for top in entry.get("top_logprobs") or []
                    if isinstance(top, dict)
                ],
            }
        )
    return found


def _reasoning(message: dict[str, Any]) -> Any:
    # DeepSeek, llama.cpp and older vLLM say reasoning_content; Ollama and newer vLLM reasoning.
    return message.get("reasoning_content") or message.get("reasoning")


def completion_events(body: dict[str, Any]) -> Iterator[ModelEvent]:
    """The events of a whole (non-streamed) chat completion."""
    choices = body.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    reasoning = _reasoning(message)
    if isinstance(reasoning, str) and reasoning:
        yield ReasoningDelta(reasoning)
    if message.get("content"):
        yield TextDelta(message["content"], logprobs(choice))
    if message.get("refusal"):
        yield RefusalDelta(message["refusal"])
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        yield ToolCallStart(index, call.get("id") or f"call_{index}", function.get("name", ""))
        yield ToolCallDelta(index, function.get("arguments") or "")
    yield Finish(choice.get("finish_reason"), usage(body.get("usage")))


class ChunkReader:
    """Chat stream chunks → events; remembers the finish reason until usage arrives."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.finished = False
        self._seen: set[int] = set()

    def feed(self, chunk: dict[str, Any]) -> Iterator[ModelEvent]:
        """The events one chunk carries."""
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = _reasoning(delta)
            if isinstance(reasoning, str) and reasoning:
                yield ReasoningDelta(reasoning)
            if delta.get("content"):
                yield TextDelta(delta["content"], logprobs(choice))
            if delta.get("refusal"):
                yield RefusalDelta(delta["refusal"])
            for position, call in enumerate(delta.get("tool_calls") or []):
                index = call.get("index", position)
                function = call.get("function") or {}
                if index not in self._seen:
                    self._seen.add(index)
                    call_id = call.get("id") or f"call_{index}"
                    yield ToolCallStart(index, call_id, function.get("name") or "")
                if function.get("arguments"):
                    yield ToolCallDelta(index, function["arguments"])
            if choice.get("finish_reason"):
                self.reason = choice["finish_reason"]
        found = usage(chunk.get("usage"))
        if found is not None:
            self.finished = True
            yield Finish(self.reason, found)

    def close(self) -> Iterator[ModelEvent]:
        """The final event when the stream ended without a usage chunk."""
        if not self.finished:
            self.finished = True
            yield Finish(self.reason)
