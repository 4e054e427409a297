"""One exception family mirroring OpenAI's error envelope, shared by server and client."""

from __future__ import annotations

from typing import Any

import msgspec


class ErrorBody(msgspec.Struct):
    """The inner object of OpenAI's error envelope; all four keys are always present."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(msgspec.Struct):
    """``{"error": {...}}``: the body of every non-2xx answer."""

    error: ErrorBody


_ENCODER = msgspec.json.Encoder()


class ParleyError(Exception):
    """An error with an HTTP status that renders as OpenAI's error envelope."""

    status: int = 400
    type: str = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.headers = headers or {}

    def envelope(self) -> ErrorEnvelope:
        """The wire form of this error."""
        return ErrorEnvelope(ErrorBody(self.message, self.type, self.param, self.code))

    def to_json(self) -> bytes:
        """The envelope encoded as JSON bytes."""
        return _ENCODER.encode(self.envelope())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, message={self.message!r}, "
            f"param={self.param!r}, code={self.code!r})"
        )


class InvalidRequest(ParleyError):
    """400: the request is malformed or breaks a documented limit."""

    status = 400


class AuthenticationFailed(ParleyError):
    """401: missing, unknown or revoked API key."""

    status = 401


class NotFound(ParleyError):
    """404: unknown conversation, item or URL (also for other projects' objects)."""

    status = 404


class MethodNotAllowed(ParleyError):
    """405: the path exists but not with this method."""

    status = 405


class PayloadTooLarge(ParleyError):
    """413: the body is larger than the server accepts."""

    status = 413


class KeyExists(ParleyError):
    """409: a key with this hash is registered already (revoked or not)."""

    status = 409


class RateLimited(ParleyError):
    """429: too many requests for this key."""

    status = 429
    type = "requests"


class ServiceUnavailable(ParleyError):
    """503: the database cannot be reached right now; retrying later may succeed."""

    status = 503
    type = "server_error"


class InternalError(ParleyError):
    """500: a fault inside parley; the details stay in the server log."""

    status = 500
    type = "server_error"


def conversation_not_found(conversation_id: str) -> NotFound:
    """The 404 OpenAI answers for an unknown conversation."""
    return NotFound(f"Conversation with id '{conversation_id}' not found.")


def query_timeout(budget: float) -> ServiceUnavailable:
    """The 503 for a read cancelled at the end of its time budget (both backends)."""
    return ServiceUnavailable(
        f"The request took longer than this server allows for one query ({budget:g} s) and "
        "was cancelled. Narrow it (for example fewer metadata filter pairs) and retry.",
        code="query_timeout",
    )


def response_not_found(response_id: str) -> NotFound:
    """The 404 OpenAI answers for an unknown response."""
    return NotFound(f"Response with id '{response_id}' not found.")


def duplicate_item(item_id: str, index: int, field: str = "items") -> InvalidRequest:
    """400 for an item id the conversation already holds (``field``: the request's list)."""
    return InvalidRequest(
        f"Duplicate item found with id '{item_id}'. Item ids must be unique within a conversation.",
        param=f"{field}[{index}].id",
        code="duplicate_item",
    )


def item_not_found(item_id: str) -> NotFound:
    """The 404 OpenAI answers for an unknown item."""
    return NotFound(f"Item with id '{item_id}' not found.")


_JSON_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a decimal",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def json_type_name(value: Any) -> str:
    """OpenAI's wording for the JSON type of ``value`` ("a string", "an object", ...)."""
    return _JSON_TYPE_NAMES.get(type(value), "an unknown type")


def invalid_type(param: str, expected: str, value: Any) -> InvalidRequest:
    """``Invalid type for 'x': expected ..., but got ... instead.``"""
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {json_type_name(value)} "
        "instead.",
        param=param,
        code="invalid_type",
    )


def invalid_value(param: str, value: Any, supported: list[str]) -> InvalidRequest:
    """``Invalid value: 'x'. Supported values are: 'a', 'b' and 'c'.``"""
    quoted = [f"'{s}'" for s in supported]
    listing = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return InvalidRequest(
        f"Invalid value: '{value}'. Supported values are: {listing}.",
        param=param,
        code="invalid_value",
    )


def missing_parameter(param: str) -> InvalidRequest:
    """``Missing required parameter: 'x'.``"""
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def unknown_parameter(param: str) -> InvalidRequest:
    """``Unknown parameter: 'x'.``"""
    return InvalidRequest(f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


# -- OpenAI's limit messages: one wording each, for every validator -----------------------


def _a(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


def too_long(param: str, noun: str, maximum: int, length: int, *, code: str = "") -> InvalidRequest:
    """``Invalid 'x': string too long. Expected a string with maximum length …`` (or array, key)."""
    return InvalidRequest(
        f"Invalid '{param}': {noun} too long. Expected {_a(noun)} {noun} with maximum length "
        f"{maximum}, but got {_a(noun)} {noun} with length {length} instead.",
        param=param,
        code=code or f"{noun}_above_max_length",
    )


def too_short(param: str, noun: str, minimum: int, length: int) -> InvalidRequest:
    """``Invalid 'x': string too short. Expected a string with minimum length …`` (or array)."""
    return InvalidRequest(
        f"Invalid '{param}': {noun} too short. Expected {_a(noun)} {noun} with minimum length "
        f"{minimum}, but got {_a(noun)} {noun} with length {length} instead.",
        param=param,
        code=f"{noun}_below_min_length",
    )


def empty_array(param: str) -> InvalidRequest:
    """``Invalid 'x': empty array. Expected an array with minimum length 1 …``"""
    return InvalidRequest(
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
        "but got an empty array instead.",
        param=param,
        code="empty_array",
    )


def below_minimum(param: str, minimum: float, value: float, noun: str = "number") -> InvalidRequest:
    """``Invalid 'x': number below minimum value. Expected a value >= …``"""
    return InvalidRequest(
        f"Invalid '{param}': {noun} below minimum value. Expected a value >= {minimum}, "
        f"but got {value} instead.",
        param=param,
        code="integer_below_min_value" if isinstance(value, int) else "decimal_below_min_value",
    )


def above_maximum(param: str, maximum: float, value: float, noun: str = "number") -> InvalidRequest:
    """``Invalid 'x': number above maximum value. Expected a value <= …``"""
    return InvalidRequest(
        f"Invalid '{param}': {noun} above maximum value. Expected a value <= {maximum}, "
        f"but got {value} instead.",
        param=param,
        code="integer_above_max_value" if isinstance(value, int) else "decimal_above_max_value",
    )


def too_many_properties(param: str, maximum: int, count: int) -> InvalidRequest:
    """``Invalid 'x': too many properties. Expected an object with at most …``"""
    return InvalidRequest(
        f"Invalid '{param}': too many properties. Expected an object with at most {maximum} "
        f"properties, but got an object with {count} properties instead.",
        param=param,
        code="object_above_max_properties",
    )


# -- NUL ----------------------------------------------------------------------------------

NUL = "\x00"


def refuse_nul(param: str, *texts: str, what: str = "it") -> None:
    """400 ``invalid_value`` when a text holds NUL: valid JSON, but PostgreSQL text cannot keep
    it, so every backend refuses it alike instead of one of them failing with a 500."""
    if any(NUL in text for text in texts):
        raise InvalidRequest(
            f"Invalid '{param}': {what} cannot contain the NUL character (\\u0000).",
            param=param,
            code="invalid_value",
        )
