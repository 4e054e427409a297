"""A deterministic OpenAI-compatible model server for tests and bench, on loopback.

It stands in for a model (never for parley): Chat Completions (whole or streamed), tool calls,
error statuses, delays and broken streams on demand, and a record of every request it got.
Replies are scripted per model name, so tests sharing one server keep apart by model name.
Unscripted calls answer ``echo: <last user text>``.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    text: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    finish: str | None = None
    status: int = 200
    error: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    # Split the text into this many stream chunks (default: one per word).
    chunks: int | None = None
    # Stop a stream abruptly after this many chunks (no finish, no [DONE]).
    break_after: int | None = None
    usage: bool = True
    # Answer these bytes as the whole body instead (a server that is not what it claims).
    raw: bytes | None = None
    # A refusal instead of (or after) the text; reasoning before it, under this field name.
    refusal: str | None = None
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"
    # Streams: after this many chunks send ``mid_error`` (an {"error": ...} chunk, or raw bytes
    # for a chunk that is not JSON) and end the stream there.
    mid_error_after: int | None = None
    mid_error: Any = None
    # Send logprobs even when the request did not ask (a careless server).
    logprobs_unasked: bool = False


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content or [] if p.get("type") == "text")
    return ""


def _last_input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    for item in reversed(value or []):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return "".join(
                p.get("text", "") for p in content or [] if p.get("type") == "input_text"
            )
    return ""


def _pieces(text: str, count: int | None) -> list[str]:
    if count is None:
        words = text.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client (parley) that hung up mid-answer is a scenario under test, not a fault.
        return


class FakeUpstream:
    """The server: start it, script replies, read what it received."""

    def __init__(self, models: list[str] | None = None) -> None:
        self.models = models or ["fake-model"]
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._requests: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._headers: dict[str, list[dict[str, str]]] = defaultdict(list)
        # The client's (parley's) port of each request: one port is one reused connection.
        self._ports: dict[str, list[int]] = defaultdict(list)
        self.cancelled: dict[str, int] = defaultdict(int)
        self.first_chunk_at: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes; Nagle would hold the second 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path.startswith("/v1/_first_chunks/"):
                    # When each streamed answer's first chunk went out (bench/responses.py).
                    model = self.path.rsplit("/", 1)[1]
                    with fake._lock:
                        self._json(200, list(fake.first_chunk_at[model]))
                elif self.path.rstrip("/") == "/v1/models":
                    data = [
                        {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                        for m in fake.models
                    ]
                    self._json(200, {"object": "list", "data": data})
                else:
                    self._json(404, {"error": {"message": "no such route", "type": "x"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path not in ("/v1/chat/completions", "/v1/responses"):
                    self._json(404, {"error": {"message": "no such route", "type": "x"}})
                    return
                model = body.get("model", "")
                with fake._lock:
                    fake._requests[model].append(body)
                    fake._headers[model].append(dict(self.headers.items()))
                    fake._ports[model].append(self.client_address[1])
                    script = fake._scripts.get(model)
                    reply = script.popleft() if script else Reply()
                if reply.delay:
                    time.sleep(reply.delay)
                    if self._peer_closed():
                        # parley hung up while the "model" thought: the call was cancelled.
                        with fake._lock:
                            fake.cancelled[model] += 1
                        self.close_connection = True
                        return
                if reply.raw is not None:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(reply.raw)))
                    self.end_headers()
                    self.wfile.write(reply.raw)
                    return
                if reply.status != 200:
                    error = reply.error or {
                        "error": {
                            "message": f"scripted {reply.status}",
                            "type": "invalid_request_error",
                            "param": None,
                            "code": None,
                        }
                    }
                    self._json(reply.status, error, reply.headers)
                    return
                text = reply.text
                if self.path == "/v1/responses":
                    if text is None and not reply.tool_calls:
                        text = "echo: " + _last_input_text(body.get("input"))
                    self._responses(model, body, reply, text)
                    return
                if text is None and not reply.tool_calls and reply.refusal is None:
                    text = "echo: " + _last_user_text(body.get("messages") or [])
                if body.get("stream"):
                    self._stream(model, body, reply, text)
                else:
                    self._json(200, _completion(model, body, reply, text))

            def _peer_closed(self) -> bool:
                """Whether the client closed its end of the connection (an EOF is waiting)."""
                ready, _, _ = select.select([self.connection], [], [], 0)
                if not ready:
                    return False
                try:
                    return self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def _json(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

            def _responses(
                self, model: str, body: dict[str, Any], reply: Reply, text: str | None
            ) -> None:
                """An upstream's own Responses API: the answer whole, or its events."""
                output: list[dict[str, Any]] = []
                asked = "message.output_text.logprobs" in (body.get("include") or [])
                top = int(body.get("top_logprobs") or 0)
                if text:
                    part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": []}
                    if asked:
                        part["logprobs"] = [logprob_of(p, top) for p in _pieces(text, reply.chunks)]
                    output.append(
                        {
                            "id": "msg_up",
                            "type": "message",
                            "role": "assistant",
                            "status": "completed",
                            "content": [part],
                        }
                    )
                for index, (name, arguments) in enumerate(reply.tool_calls):
                    output.append(
                        {
                            "id": f"fc_up{index}",
                            "type": "function_call",
                            "status": "completed",
                            "call_id": f"call_{index}",
                            "name": name,
                            "arguments": arguments,
                        }
                    )
                incomplete = reply.finish == "length"
                response = {
                    "id": "resp_up",
                    "object": "response",
                    "model": model,
                    "output": output,
                    "status": "incomplete" if incomplete else "completed",
                    "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
                    "usage": {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
                }
                if not body.get("stream"):
                    self._json(200, response)
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                events: list[dict[str, Any]] = [
                    {"type": "response.created", "response": {**response, "output": []}}
                ]
                for index, item in enumerate(output):
                    if item["type"] == "message":
                        events.append(
                            {
                                "type": "response.output_item.added",
                                "output_index": index,
                                "item": {**item, "content": []},
                            }
                        )
                        for piece in _pieces(text or "", reply.chunks):
                            logprobs = [logprob_of(piece, top)] if asked else []
                            for entry in logprobs:  # the events' logprobs carry no bytes
                                del entry["bytes"]
                                for alternative in entry["top_logprobs"]:
                                    del alternative["bytes"]
                            events.append(
                                {
                                    "type": "response.output_text.delta",
                                    "output_index": index,
                                    "delta": piece,
                                    "logprobs": logprobs,
                                }
                            )
                    else:
                        events.append(
                            {
                                "type": "response.output_item.added",
                                "output_index": index,
                                "item": {**item, "arguments": ""},
                            }
                        )
                        events.append(
                            {
                                "type": "response.function_call_arguments.delta",
                                "output_index": index,
                                "delta": item["arguments"],
                            }
                        )
                events.append(
                    {
                        "type": "response.incomplete" if incomplete else "response.completed",
                        "response": response,
                    }
                )
                for event in events:
                    self._chunk(
                        b"event: "
                        + event["type"].encode()
                        + b"\ndata: "
                        + json.dumps(event).encode()
                        + b"\n\n"
                    )
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _stream(
                self, model: str, body: dict[str, Any], reply: Reply, text: str | None
            ) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                chunks = [_chunk_json(model, {"role": "assistant", "content": ""})]
                for piece in _pieces(reply.reasoning, 3) if reply.reasoning else []:
                    chunks.append(_chunk_json(model, {reply.reasoning_field: piece}))
                for piece in _pieces(text, reply.chunks) if text else []:
                    chunk = _chunk_json(model, {"content": piece})
                    chunk["choices"][0]["logprobs"] = _logprobs(body, reply, [piece])
                    chunks.append(chunk)
                for piece in _pieces(reply.refusal, 2) if reply.refusal else []:
                    chunks.append(_chunk_json(model, {"refusal": piece}))
                for index, (name, arguments) in enumerate(reply.tool_calls):
                    start = {
                        "index": index,
                        "id": f"call_{index}",
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                    chunks.append(_chunk_json(model, {"tool_calls": [start]}))
                    half = len(arguments) // 2
                    for part in (arguments[:half], arguments[half:]):
                        delta = {"index": index, "function": {"arguments": part}}
                        chunks.append(_chunk_json(model, {"tool_calls": [delta]}))
                finish = reply.finish or ("tool_calls" if reply.tool_calls else "stop")
                chunks.append(_chunk_json(model, {}, finish))
                if reply.usage:
                    usage = _usage(body, text)
                    chunks.append(
                        {
                            "id": "chatcmpl-fake",
                            "object": "chat.completion.chunk",
                            "created": 0,
                            "model": model,
                            "choices": [],
                            "usage": usage,
                        }
                    )
                try:
                    for number, chunk in enumerate(chunks):
                        if reply.break_after is not None and number >= reply.break_after:
                            self.wfile.write(b"0\r\n\r\n")  # end the body mid-answer
                            self.close_connection = True
                            return
                        if reply.mid_error_after is not None and number >= reply.mid_error_after:
                            error = reply.mid_error
                            raw = error if isinstance(error, bytes) else json.dumps(error).encode()
                            self._chunk(b"data: " + raw + b"\n\n")
                            self.wfile.write(b"0\r\n\r\n")
                            self.close_connection = True
                            return
                        if number == 1:
                            with fake._lock:
                                fake.first_chunk_at[model].append(time.perf_counter())
                        self._chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                    self._chunk(b"data: [DONE]\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    with fake._lock:
                        fake.cancelled[model] += 1
                    self.close_connection = True

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The base URL to give parley (``--upstream``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def wait_cancelled(self, model: str, timeout: float = 5.0) -> int:
        """The count of ``model``'s calls whose caller hung up, once there is one (or after
        ``timeout`` seconds): parley closes the connection a moment after its client left."""
        deadline = time.monotonic() + timeout
        while self.cancelled[model] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.cancelled[model]

    def script(self, model: str, *replies: Reply) -> None:
        """Queue replies for ``model``, answered in order."""
        with self._lock:
            self._scripts[model].extend(replies)

    def requests(self, model: str) -> list[dict[str, Any]]:
        """Every request body received for ``model``, in order."""
        with self._lock:
            return list(self._requests[model])

    def ports(self, model: str) -> list[int]:
        """The client port each request for ``model`` came from, in order."""
        with self._lock:
            return list(self._ports[model])

    def headers(self, model: str) -> list[dict[str, str]]:
        """The headers of every request for ``model``."""
        with self._lock:
            return list(self._headers[model])

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def _usage(body: dict[str, Any], text: str | None) -> dict[str, Any]:
    prompt = sum(len(json.dumps(m)) // 4 for m in body.get("messages") or [])
    completion = len((text or "").split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def logprob_of(token: str, top: int) -> dict[str, Any]:
    """The deterministic logprob the fake gives ``token`` (and its ``top`` alternatives)."""
    value = -round(len(token) / 10, 3)
    alternatives = [
        {"token": token, "logprob": value, "bytes": list(token.encode())},
        *(
            {"token": f"alt{rank}", "logprob": value - rank, "bytes": list(f"alt{rank}".encode())}
            for rank in range(1, top)
        ),
    ][:top]
    return {
        "token": token,
        "logprob": value,
        "bytes": list(token.encode()),
        "top_logprobs": alternatives,
    }


def _logprobs(body: dict[str, Any], reply: Reply, pieces: list[str]) -> dict[str, Any] | None:
    if not (body.get("logprobs") or reply.logprobs_unasked):
        return None
    top = int(body.get("top_logprobs") or 0)
    return {"content": [logprob_of(piece, top) for piece in pieces], "refusal": None}


def _chunk_json(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(model: str, body: dict[str, Any], reply: Reply, text: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reply.refusal is not None:
        message["refusal"] = reply.refusal
    if reply.reasoning is not None:
        message[reply.reasoning_field] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(reply.tool_calls)
        ]
    finish = reply.finish or ("tool_calls" if reply.tool_calls else "stop")
    answer: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish,
                "logprobs": _logprobs(body, reply, _pieces(text, reply.chunks) if text else []),
            }
        ],
    }
    if reply.usage:
        answer["usage"] = _usage(body, text)
    return answer


if __name__ == "__main__":
    # `python -m tests.upstream`: serve until killed; the port goes to stdout (bench/).
    server = FakeUpstream(models=["bench"])
    print(server.port, flush=True)
    threading.Event().wait()
