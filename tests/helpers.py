"""Small assertions shared by the API tests: the error envelope, the request id."""

from __future__ import annotations

import re
from typing import Any

import httpx
import openai

REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")


def assert_error(
    response: httpx.Response,
    status: int,
    *,
    code: str | None,
    param: str | None,
    message: str | None = None,
    type: str = "invalid_request_error",
) -> dict[str, Any]:
    """Assert ``response`` is OpenAI's error envelope with these fields; return its `error`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert REQUEST_ID.match(response.headers["x-request-id"])
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == type
    assert error["param"] == param
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    if message is not None:
        assert re.fullmatch(message, error["message"]), error["message"]
    return error


def assert_sdk_error(
    exc: openai.APIStatusError,
    status: int,
    *,
    code: str | None,
    param: str | None,
    message: str | None = None,
) -> None:
    """Assert what the SDK copied from an error envelope onto its exception."""
    assert exc.status_code == status
    assert exc.code == code
    assert exc.param == param
    assert exc.type == "invalid_request_error"
    assert exc.request_id is not None and REQUEST_ID.match(exc.request_id)
    if message is not None:
        body = exc.body
        assert isinstance(body, dict)
        assert re.fullmatch(message, body["message"]), body["message"]


def message_texts(items: list[Any]) -> list[str]:
    """The text of the first content part of each SDK message item."""
    return [item.content[0].text for item in items]
