"""The official SDK as the node layer uses it: a client per credential, and the SDK's errors
turned into n8n's texts, which a person (and a workflow branching on them) can act on."""

from __future__ import annotations

from typing import Any

import openai

from parley.credentials import Credential

# n8n-workflow's texts for NodeApiError, by HTTP status: the `error` of a continue-on-fail
# item, word for word, so workflows that branch on them behave the same.
N8N_STATUS_TEXTS: dict[int, str] = {
    400: "Bad request - please check your parameters",
    401: "Authorization failed - please check your credentials",
    402: "Payment required - perhaps check your payment details?",
    403: "Forbidden - perhaps check your credentials?",
    404: "The resource you are requesting could not be found",
    405: "Method not allowed - please check you are using the right HTTP method",
    429: "The service is receiving too many requests from you",
    500: "The service was not able to process your request",
    502: "Bad gateway - the service failed to handle your request",
    503: "Service unavailable - try again later or consider setting this node to retry "
    "automatically (in the node settings)",
    504: "Gateway timed out - perhaps try again later?",
}
N8N_REFUSED = "The service refused the connection - perhaps it is offline"
N8N_TIMEOUT = (
    "The connection timed out, consider setting the 'Retry on Fail' option in the node settings"
)


def n8n_status_text(status: int) -> str:
    """n8n's text for an HTTP error status (its 4XX/5XX fallbacks for the others)."""
    if status in N8N_STATUS_TEXTS:
        return N8N_STATUS_TEXTS[status]
    if 500 <= status < 600:
        return "The service failed to process your request"
    return "Your request is invalid or could not be processed by the service"


class NodeError(Exception):
    """One failed operation: n8n's text, the server's own message, the HTTP status, a hint."""

    def __init__(
        self,
        message: str,
        *,
        description: str | None = None,
        http_code: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.description = description
        self.http_code = http_code
        self.hint = hint

    def to_item(self) -> dict[str, Any]:
        """The continue-on-fail output item: n8n's ``{"error": …}`` plus the details."""
        item: dict[str, Any] = {"error": self.message}
        if self.description:
            item["description"] = self.description
        if self.http_code is not None:
            item["httpCode"] = self.http_code
        return item

    def explain(self) -> str:
        """One line for a person: status, the server's message, then what to check."""
        if self.http_code is not None:
            text = f"HTTP {self.http_code}: {self.description or self.message}"
        else:
            text = f"{self.message}: {self.description}" if self.description else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ValidationError(NodeError):
    """A parameter breaks a rule before any request is sent (no HTTP status)."""


def make_client(
    credential: Credential, *, max_retries: int = 2, timeout: float = 60.0
) -> openai.OpenAI:
    """The official SDK configured from ``credential`` (the SDK retries 429/5xx itself)."""
    return openai.OpenAI(
        api_key=credential.api_key,
        base_url=credential.base_url,
        organization=credential.organization_id or None,
        default_headers=credential.headers() or None,
        max_retries=max_retries,
        timeout=timeout,
    )


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    text = exc.response.text.strip()
    return text[:500] if text else exc.message


def translate(exc: Exception, credential: Credential, subject: str | None = None) -> NodeError:
    """``exc`` from the SDK as a NodeError whose hint names the URL, credential or id."""
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return NodeError(
            N8N_TIMEOUT,
            description=f"no answer from {credential.base_url} in time",
            hint="the server may be overloaded; try --concurrency 1 or later",
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        reason = f" ({cause})" if cause else ""
        return NodeError(
            N8N_REFUSED,
            description=f"cannot connect to {credential.base_url}{reason}",
            hint="is the server running, and is the base URL right?",
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        hint: str | None = None
        if status == 401:
            hint = f"{credential.describe()} was not accepted"
        elif status == 403:
            hint = f"{credential.describe()} may not do this"
        elif status == 404 and subject:
            hint = f"no such {subject} at {credential.base_url}"
        elif status == 429 or status >= 500:
            hint = "still failing after the client's retries"
        return NodeError(
            n8n_status_text(status),
            description=_server_message(exc),
            http_code=status,
            hint=hint,
        )
    if isinstance(exc, ValueError):
        # The SDK refuses empty ids itself, before any request.
        return ValidationError(str(exc))
    return NodeError(f"{type(exc).__name__}: {exc}")
