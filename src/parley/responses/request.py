"""POST /v1/responses bodies: every field checked; what parley cannot honour is refused by name."""

from __future__ import annotations

from typing import Any

import msgspec

from parley.errors import InvalidRequest, invalid_type, invalid_value, missing_parameter
from parley.items import ItemReference, parse_item
from parley.metadata import encode_metadata
from parley.models import INCLUDE_VALUES, NewItem

# Fields parley honours, and fields it accepts only at a value that asks for nothing it lacks.
_HONOURED = (
    "model",
    "input",
    "instructions",
    "conversation",
    "previous_response_id",
    "store",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "max_output_tokens",
    "metadata",
    "text",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "include",
    "top_logprobs",
)
# name → values that mean "nothing special" (None is always accepted: the SDK's "not given").
_INERT: dict[str, tuple[Any, ...]] = {
    "background": (False,),
    "truncation": ("disabled",),
    "service_tier": ("auto", "default"),
    "max_tool_calls": (),
    "reasoning": (),
    "prompt": (),
    "prompt_cache_retention": (),
    "prompt_cache_options": (),
    "context_management": (),
    "moderation": (),
}
_TOOL_CHOICES = ("none", "auto", "required")
LOGPROBS = "message.output_text.logprobs"
# The include values (models.INCLUDE_VALUES, OpenAI's ResponseIncludable) parley cannot honour,
# and why. The others are honoured: logprobs are asked of the model server, and input images'
# and computer-call screenshots' URLs are stored as given.
_REFUSED_INCLUDES = {
    "file_search_call.results": "file_search is a hosted tool this server does not run",
    "web_search_call.results": "web_search is a hosted tool this server does not run",
    "web_search_call.action.sources": "web_search is a hosted tool this server does not run",
    "code_interpreter_call.outputs": "code_interpreter is a hosted tool this server does not run",
    "reasoning.encrypted_content": (
        "model servers behind parley return reasoning as text, never encrypted; the reasoning "
        "item's content holds it"
    ),
}
_TEXT_FORMATS = ("text", "json_schema", "json_object")


class CreateRequest(msgspec.Struct, kw_only=True):
    """A checked create request."""

    model: str
    input: list[NewItem | ItemReference]
    instructions: str | None = None
    conversation: str | None = None
    previous_response_id: str | None = None
    store: bool = True
    stream: bool = False
    tools: list[dict[str, Any]] = []
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    metadata: bytes = b"{}"
    text_format: dict[str, Any] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    include: list[str] = []
    top_logprobs: int | None = None

    @property
    def logprobs(self) -> bool:
        """Whether the output text carries its tokens' logprobs."""
        return LOGPROBS in self.include


def _string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid_type(key, "a string", value)
    return value


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_type(key, "a boolean", value)
    return value


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(key, "a number", value)
    if value < low:
        raise InvalidRequest(
            f"Invalid '{key}': decimal below minimum value. Expected a value >= {low}, but got "
            f"{value} instead.",
            param=key,
            code="decimal_below_min_value",
        )
    if value > high:
        raise InvalidRequest(
            f"Invalid '{key}': decimal above maximum value. Expected a value <= {high}, but got "
            f"{value} instead.",
            param=key,
            code="decimal_above_max_value",
        )
    return float(value)


def _not_supported(key: str, value: Any) -> InvalidRequest:
    shown = msgspec.json.encode(value).decode()[:80]
    return InvalidRequest(
        f"'{key}': {shown} is not supported by this server (parley answers in the foreground, "
        "over a model server, with function tools only). Leave it out.",
        param=key,
        code="unsupported_parameter",
    )


def _conversation(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        extra = [key for key in value if key != "id"]
        if extra:
            raise InvalidRequest(
                f"Unknown parameter: 'conversation.{extra[0]}'.",
                param=f"conversation.{extra[0]}",
                code="unknown_parameter",
            )
        if "id" not in value:
            raise missing_parameter("conversation.id")
        value = value["id"]
        if not isinstance(value, str):
            raise invalid_type("conversation.id", "a string", value)
    elif not isinstance(value, str):
        raise invalid_type("conversation", "a string or an object with an 'id'", value)
    if not value.startswith("conv"):
        raise InvalidRequest(
            f"Invalid 'conversation': '{value[:64]}'. Expected an ID that begins with 'conv'.",
            param="conversation",
            code="invalid_value",
        )
    return value


def _input(value: Any) -> list[NewItem | ItemReference]:
    if value is None:
        return []
    if isinstance(value, str):
        return [parse_item({"role": "user", "content": value}, "input", 0)]
    if not isinstance(value, list):
        raise invalid_type("input", "a string or an array of input items", value)
    return [parse_item(entry, f"input[{index}]", index) for index, entry in enumerate(value)]


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type("tools", "an array", value)
    tools = []
    for index, tool in enumerate(value):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise invalid_type(where, "an object", tool)
        kind = tool.get("type")
        if kind != "function":
            raise InvalidRequest(
                f"Invalid '{where}.type': '{kind}' tools are hosted by OpenAI; this server passes "
                "only 'function' tools to its model server.",
                param=f"{where}.type",
                code="unsupported_value",
            )
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise missing_parameter(f"{where}.name")
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise invalid_type(f"{where}.parameters", "an object", parameters)
        unknown = set(tool) - {"type", "name", "description", "parameters", "strict"}
        if unknown:
            raise InvalidRequest(
                f"Unknown parameter: '{where}.{sorted(unknown)[0]}'.",
                param=f"{where}.{sorted(unknown)[0]}",
                code="unknown_parameter",
            )
        tools.append(
            {
                "type": "function",
                "name": name,
                "description": tool.get("description"),
                "parameters": parameters,
                "strict": tool.get("strict", True) if tool.get("strict") is not None else True,
            }
        )
    return tools


def _tool_choice(value: Any, tools: list[dict[str, Any]]) -> Any:
    if value is None:
        return "auto"
    if isinstance(value, str):
        if value not in _TOOL_CHOICES:
            raise invalid_value("tool_choice", value, list(_TOOL_CHOICES))
        return value
    if isinstance(value, dict) and value.get("type") == "function":
        name = value.get("name")
        if not any(tool["name"] == name for tool in tools):
            raise InvalidRequest(
                f"Invalid 'tool_choice': no function tool is named '{name}'.",
                param="tool_choice.name",
                code="invalid_value",
            )
        return {"type": "function", "name": name}
    raise _not_supported("tool_choice", value)


def _include(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type("include", "an array", value)
    for index, entry in enumerate(value):
        where = f"include[{index}]"
        if not isinstance(entry, str) or entry not in INCLUDE_VALUES:
            raise invalid_value(where, entry, list(INCLUDE_VALUES))
        why = _REFUSED_INCLUDES.get(entry)
        if why is not None:
            raise InvalidRequest(
                f"Invalid '{where}': '{entry}' cannot be honoured by this server: {why}.",
                param=where,
                code="unsupported_value",
            )
    return list(dict.fromkeys(value))


def _top_logprobs(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type("top_logprobs", "an integer", value)
    if not 0 <= value <= 20:
        side, bound = ("below minimum", ">= 0") if value < 0 else ("above maximum", "<= 20")
        raise InvalidRequest(
            f"Invalid 'top_logprobs': integer {side} value. Expected a value {bound}, but got "
            f"{value} instead.",
            param="top_logprobs",
            code=f"integer_{side.split()[0]}_{'min' if value < 0 else 'max'}_value",
        )
    return value


def _text_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_type("text", "an object", value)
    for key in value:
        if key not in ("format", "verbosity"):
            raise InvalidRequest(
                f"Unknown parameter: 'text.{key}'.", param=f"text.{key}", code="unknown_parameter"
            )
    if value.get("verbosity") not in (None, "medium"):
        raise _not_supported("text.verbosity", value["verbosity"])
    fmt = value.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise invalid_type("text.format", "an object", fmt)
    kind = fmt.get("type")
    if kind not in _TEXT_FORMATS:
        raise invalid_value("text.format.type", kind, list(_TEXT_FORMATS))
    if kind == "json_schema":
        if not isinstance(fmt.get("name"), str):
            raise missing_parameter("text.format.name")
        if not isinstance(fmt.get("schema"), dict):
            raise missing_parameter("text.format.schema")
        return {
            "type": "json_schema",
            "name": fmt["name"],
            "schema": fmt["schema"],
            "strict": fmt.get("strict"),
            "description": fmt.get("description"),
        }
    return {"type": kind}


def parse_create(body: dict[str, Any]) -> CreateRequest:
    """Check a create body; 400 for anything malformed, unknown or unsupported."""
    for key, value in body.items():
        if key in _HONOURED:
            continue
        if key in _INERT:
            if (
                value is None
                or value in _INERT[key]
                or (isinstance(value, list | dict) and not value)
            ):
                continue
            raise _not_supported(key, value)
        raise InvalidRequest(f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
    model = body.get("model")
    if model is None:
        raise missing_parameter("model")
    if not isinstance(model, str) or not model:
        raise invalid_type("model", "a string", model)
    conversation = _conversation(body.get("conversation"))
    previous = _string(body, "previous_response_id")
    if conversation is not None and previous is not None:
        raise InvalidRequest(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
            param=None,
            code="mutually_exclusive_parameters",
        )
    items = _input(body.get("input"))
    if body.get("input") is None and conversation is None and previous is None:
        raise missing_parameter("input")
    tools = _tools(body.get("tools"))
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise invalid_type("stream_options", "an object", stream_options)
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
        raise invalid_type("max_output_tokens", "an integer", max_tokens)
    if max_tokens is not None and max_tokens < 16:
        raise InvalidRequest(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
            f"but got {max_tokens} instead.",
            param="max_output_tokens",
            code="integer_below_min_value",
        )
    safety = _string(body, "safety_identifier")
    if safety is not None and len(safety) > 64:
        raise InvalidRequest(
            "Invalid 'safety_identifier': string too long. Expected a string with maximum length "
            f"64, but got a string with length {len(safety)} instead.",
            param="safety_identifier",
            code="string_above_max_length",
        )
    metadata = body.get("metadata")
    return CreateRequest(
        model=model,
        input=items,
        instructions=_string(body, "instructions"),
        conversation=conversation,
        previous_response_id=previous,
        store=_bool(body, "store", True),
        stream=_bool(body, "stream", False),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice"), tools),
        parallel_tool_calls=_bool(body, "parallel_tool_calls", True),
        temperature=_number(body, "temperature", 0, 2),
        top_p=_number(body, "top_p", 0, 1),
        max_output_tokens=max_tokens,
        metadata=encode_metadata(metadata) if metadata is not None else b"{}",
        text_format=_text_format(body.get("text")),
        user=_string(body, "user"),
        safety_identifier=safety,
        prompt_cache_key=_string(body, "prompt_cache_key"),
        include=_include(body.get("include")),
        top_logprobs=_top_logprobs(body.get("top_logprobs")),
    )
