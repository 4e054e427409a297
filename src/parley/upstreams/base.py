"""What every model upstream speaks: a call in, a stream of model events out, errors mapped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import msgspec

from parley.errors import ParleyError


class TextDelta(msgspec.Struct, frozen=True):
    """A piece of the assistant's text, in order, with its tokens' logprobs when asked for.

    Each logprob is in ``output_text`` form: ``token``, ``bytes``, ``logprob``,
    ``top_logprobs`` (each ``token``, ``bytes``, ``logprob``).
    """

    text: str
    logprobs: list[dict[str, Any]] = []


class RefusalDelta(msgspec.Struct, frozen=True):
    """A piece of the model's refusal (Chat Completions' ``refusal``)."""

    text: str


class ReasoningDelta(msgspec.Struct, frozen=True):
    """A piece of the model's reasoning text (``reasoning_content`` or ``reasoning``)."""

    text: str


class ToolCallStart(msgspec.Struct, frozen=True):
    """The model begins a function call (``index`` keys the deltas that follow)."""

    index: int
    call_id: str
    name: str


class ToolCallDelta(msgspec.Struct, frozen=True):
    """A piece of a function call's JSON arguments."""

    index: int
    arguments: str


class Usage(msgspec.Struct, frozen=True):
    """Token counts in Responses terms."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


class Finish(msgspec.Struct, frozen=True):
    """The end of the model's turn: why (``stop``, ``length``, ``content_filter``...) and usage."""

    reason: str | None
    usage: Usage | None = None


ModelEvent = TextDelta | RefusalDelta | ReasoningDelta | ToolCallStart | ToolCallDelta | Finish


class ModelCall(msgspec.Struct, frozen=True):
    """One model call in Responses terms: the expanded context and the request's options."""

    model: str
    instructions: str | None
    # Stored-form items (the conversation's, then the chain's, then the input), in order.
    items: list[dict[str, Any]]
    stream: bool
    # How many of ``items`` came before the input (from the conversation or the chain), and
    # what names them in an error.
    history: int = 0
    history_param: str = "conversation"
    tools: list[dict[str, Any]] = []
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    text_format: dict[str, Any] | None = None
    user: str | None = None
    # include has message.output_text.logprobs; top_logprobs as given (None: not given).
    logprobs: bool = False
    top_logprobs: int | None = None


class UpstreamError(ParleyError):
    """The model server failed us: unreachable (502), too slow (504), or it said no (its 4xx)."""

    status = 502
    type = "upstream_error"
    # What failed, for /metrics: unreachable, timeout, status_4xx, status_5xx or malformed
    # (an answer parley cannot read). Set by the constructors in parley.upstreams.http.
    kind = "malformed"


class ModelStream(Protocol):
    """An opened upstream answer: the status was good; iterating yields its events."""

    def __aiter__(self) -> AsyncIterator[ModelEvent]:
        """The events, as the upstream produces them."""

    async def aclose(self) -> None:
        """Stop reading and release the connection (cancels the upstream's work)."""


class Upstream(Protocol):
    """A model server behind parley (Chat Completions, or an upstream Responses API)."""

    name: str

    def serves(self, model: str) -> bool:
        """Whether requests for ``model`` go here."""

    async def start(self, call: ModelCall) -> ModelStream:
        """Send ``call``; return once the upstream answered a good status, else raise."""

    async def list_models(self) -> list[str]:
        """The model names this upstream serves (asked of it, filtered by its patterns)."""

    async def close(self) -> None:
        """Release connections."""
