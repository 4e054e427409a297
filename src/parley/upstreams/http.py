"""What both upstream kinds share: one HTTP session per upstream, errors mapped honestly.

aiohttp rather than httpx or the openai SDK's AsyncOpenAI: its C HTTP parser and lean request
path cost parley a fifth of httpx's client CPU per whole call and a quarter per streamed one
(bench/upstream_client.py on uvloop: 135 against 663 µs a whole call, 197 against 704 µs a
streamed one; AsyncOpenAI 1254 and 2088).
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import aiohttp
import msgspec

from parley.upstreams.base import UpstreamError

log = logging.getLogger("parley.upstreams")
_decode = msgspec.json.decode
_GLOB = set("*?[")


class UpstreamConfig(msgspec.Struct, frozen=True, kw_only=True):
    """One model server: where, which models (names or glob patterns), key, timeout, API."""

    url: str
    name: str = ""
    api: str = "chat"
    models: tuple[str, ...] = ("*",)
    api_key: str | None = None
    timeout: float = 600.0
    connect_timeout: float = 10.0


class HTTPUpstream:
    """The parts of an upstream that are plain HTTP: the session, model matching, errors."""

    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        # The name shows in error messages and model listings; the URL stays in the log.
        self.name = config.name or "upstream"
        self._base = config.url.rstrip("/")
        self._headers = {"accept": "application/json"}
        if config.api_key:
            self._headers["authorization"] = f"Bearer {config.api_key}"
        # ``timeout`` bounds every wait on the upstream (a free connection, the answer's
        # first byte, each later read: a stall mid-stream), not the whole call: a long answer
        # that keeps arriving is never cut off.
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=config.timeout,
            sock_connect=min(config.connect_timeout, config.timeout),
            sock_read=config.timeout,
        )
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The upstream's one pooled session, made on first use (it needs the running loop,
        which a server's worker starts after building the app)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=256),
                # An upstream's cookies are not parley's clients' state.
                cookie_jar=aiohttp.DummyCookieJar(),
                # Upstreams are named by the operator; proxies from the environment would
                # reroute them.
                trust_env=False,
            )
        return self._session

    def serves(self, model: str) -> bool:
        """Whether ``model`` matches one of this upstream's names or patterns."""
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.config.models)

    async def list_models(self) -> list[str]:
        """The upstream's own /models, filtered by the patterns, plus the plain names given."""
        named = [m for m in self.config.models if not (_GLOB & set(m))]
        found: list[str] = []
        try:
            async with self.session.get(self._base + "/models") as answer:
                if answer.status == 200:
                    data = _decode(await answer.read()).get("data") or []
                    found = [str(entry["id"]) for entry in data if isinstance(entry, dict)]
        except (
            aiohttp.ClientError,
            TimeoutError,
            msgspec.DecodeError,
            AttributeError,
            KeyError,
        ) as exc:
            log.warning("upstream %s: cannot list models: %s", self.name, type(exc).__name__)
        listed = [m for m in found if self.serves(m)]
        return listed + [m for m in named if m not in listed]

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()

    async def post(self, path: str, body: bytes) -> aiohttp.ClientResponse:
        """POST ``body`` to ``path``; the response once its status is good (headers read,
        the body not yet), else UpstreamError."""
        try:
            response = await self.session.post(self._base + path, data=body, headers=_JSON)
        except TimeoutError:
            raise timed_out(self.name) from None
        except aiohttp.ClientError as exc:
            raise unreachable(self.name, exc) from None
        if response.status >= 400:
            try:
                raw = await response.read()
            except (aiohttp.ClientError, TimeoutError):
                raw = b""
            finally:
                response.close()
            raise from_status(self.name, response.status, raw, response.headers)
        return response

    async def post_whole(self, path: str, body: bytes) -> bytes:
        """POST ``body`` to ``path``; the whole answer's body, else UpstreamError."""
        response = await self.post(path, body)
        with reading_body(self.name, response, timed_out):
            return await response.read()


@contextlib.contextmanager
def reading_body(
    name: str, response: aiohttp.ClientResponse, timeout: Callable[[str], UpstreamError]
) -> Iterator[None]:
    """While an answer's body is read: a timeout is ``timeout(name)`` (a whole answer that
    took too long, a stream that stalled: each caller says which), a broken connection a 502.
    Read to its end, the body has already given its connection back to the pool (aiohttp does
    that at the end); ended any other way (an error, cancelled: the client went away), the
    connection is closed here, never reused, and the upstream sees the call cancelled."""
    try:
        yield
    except TimeoutError:
        raise timeout(name) from None
    except aiohttp.ClientError as exc:
        raise cut_off(name, exc) from None
    finally:
        response.close()


_JSON = {"content-type": "application/json"}


def timed_out(name: str) -> UpstreamError:
    """504: the model server did not answer in time."""
    return _kind(
        UpstreamError(
            f"The model server ({name}) did not answer in time.",
            status=504,
            code="upstream_timeout",
        ),
        "timeout",
    )


def unreachable(name: str, exc: BaseException) -> UpstreamError:
    """502: the model server cannot be reached."""
    return _kind(
        UpstreamError(
            f"The model server ({name}) cannot be reached: {type(exc).__name__}.",
            status=502,
            code="upstream_unreachable",
        ),
        "unreachable",
    )


def broken(name: str, why: str) -> UpstreamError:
    """502: the model server answered something parley cannot read."""
    return UpstreamError(
        f"The model server ({name}) failed: {why}.", status=502, code="upstream_error"
    )


def stalled(name: str) -> UpstreamError:
    """504: the model server stopped sending in the middle of a streamed answer."""
    return _kind(
        UpstreamError(
            f"The model server ({name}) stopped sending mid-answer: nothing arrived within "
            "its timeout.",
            status=504,
            code="upstream_timeout",
        ),
        "timeout",
    )


def cut_off(name: str, exc: BaseException) -> UpstreamError:
    """502: the connection to the model server broke in the middle of a streamed answer."""
    return _kind(
        UpstreamError(
            f"The model server ({name}) broke the connection mid-answer: {type(exc).__name__}.",
            status=502,
            code="upstream_error",
        ),
        "unreachable",
    )


def _error_status(error: dict[str, Any]) -> int:
    code, kind = error.get("code"), str(error.get("type") or "")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code  # vLLM: {"error": {"code": 400, ...}}
    if code == "rate_limit_exceeded" or "rate_limit" in kind or kind == "requests":
        return 429
    if kind == "invalid_request_error" or code == "context_length_exceeded":
        return 400
    return 502


def mid_stream(name: str, error: Any) -> UpstreamError:
    """An error the model server sent inside its stream, with the status it stands for (a
    4xx when it refused the request, 429 when rate limited, else 502) and its own code."""
    if isinstance(error, dict):
        said = error.get("message")
        status = _error_status(error)
        code = error.get("code") if isinstance(error.get("code"), str) else None
    else:
        said, status, code = error, 502, None
    return _kind(
        UpstreamError(
            f"The model server ({name}) failed mid-answer: {said}",
            status=status if status < 500 else 502,
            code=code or "upstream_error",
        ),
        f"status_{status // 100}xx",
    )


def _kind(error: UpstreamError, kind: str) -> UpstreamError:
    error.kind = kind
    return error


def _message(raw: bytes) -> tuple[str | None, str | None, str | None]:
    try:
        body: Any = _decode(raw)
    except msgspec.DecodeError:
        text = raw.decode("utf-8", "replace").strip()
        return (text[:500] or None), None, None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        return (
            str(message) if message is not None else None,
            error.get("code") if isinstance(error.get("code"), str) else None,
            error.get("param") if isinstance(error.get("param"), str) else None,
        )
    if isinstance(error, str):  # Ollama: {"error": "model 'x' not found"}
        return error, None, None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"], None, None
    return None, None, None


def from_status(name: str, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """An upstream error status → parley's answer (4xx passes through, 5xx is a 502)."""
    return _kind(_from_status(name, status, raw, headers), f"status_{status // 100}xx")


def _from_status(name: str, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
    message, code, param = _message(raw)
    said = message or f"HTTP {status}"
    if status == 429:
        extra = {"retry-after": headers["retry-after"]} if "retry-after" in headers else {}
        return UpstreamError(
            f"The model server ({name}) is rate limiting: {said}",
            status=429,
            code=code or "rate_limit_exceeded",
            type="requests",
            headers=extra,
        )
    if status in (401, 403):
        # The caller's key was fine; parley's own key for the upstream was not.
        return UpstreamError(
            f"The model server ({name}) refused parley's credentials (HTTP {status}).",
            status=502,
            code="upstream_auth_failed",
        )
    if 400 <= status < 500:
        return UpstreamError(
            said, status=status, code=code, param=param, type="invalid_request_error"
        )
    return UpstreamError(
        f"The model server ({name}) failed: {said}", status=502, code=code or "upstream_error"
    )


async def sse_data(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The ``data:`` payloads of a Server-Sent Events body, one per event (as bytes: msgspec
    decodes them as they are).

    Lines end in LF, CRLF or CR (the SSE grammar); the body is read as it arrives, so no line
    length limit applies (aiohttp's ``readline`` caps a line at 128 KiB, and a Responses
    upstream's ``response.completed`` event carries the whole answer on one line).
    """
    data: list[bytes] = []
    pending = b""
    async for chunk in response.content.iter_any():
        if not chunk:
            continue
        lines = (pending + chunk if pending else chunk).splitlines(keepends=True)
        # An unfinished line waits for the rest; so does one ending in CR, which may be the
        # first half of a CRLF (a stream of bare CRs sees each line when the next chunk comes).
        pending = b"" if lines[-1].endswith(b"\n") else lines.pop()
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
    last = pending.rstrip(b"\r\n")
    if last.startswith(b"data:"):
        data.append(last[6:] if last[5:6] == b" " else last[5:])
    if data:
        yield b"\n".join(data)
