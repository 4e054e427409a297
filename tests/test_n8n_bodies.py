"""The raw requests parley's node sends, field by field against n8n's captured ones.

A recording reverse proxy on loopback keeps each request's method, path, headers and raw
body, and forwards it to the live parley, so the answers are real too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from parley.credentials import Credential, normalise_base_url
from parley.node import Node
from tests.conftest import LiveServer


@dataclass
class Recorded:
    """One request as it reached the proxy."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed, keys kept in the order they were sent (as lists of pairs)."""
        return json.loads(self.body, object_pairs_hook=lambda pairs: [list(p) for p in pairs])


class Recorder:
    """A loopback HTTP proxy to ``target`` that records every request."""

    def __init__(self, target: str) -> None:
        self.requests: list[Recorded] = []
        self.upstream = httpx.Client(base_url=target, timeout=30)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorder.requests.append(Recorded(self.command, self.path, headers, body))
                answer = recorder.upstream.request(
                    self.command,
                    self.path,
                    content=body,
                    headers={k: v for k, v in headers.items() if k not in ("host", "connection")},
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", ""))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/v1"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join()
        self.upstream.close()


@pytest.fixture
def recorder(server: LiveServer) -> Iterator[Recorder]:
    proxy = Recorder(server.url)
    yield proxy
    proxy.close()


@pytest.fixture
def node(recorder: Recorder, api_key: str) -> Iterator[Node]:
    # The trailing slash is on purpose: parley normalises it where n8n would send `//`.
    credential = Credential("n8n", api_key, normalise_base_url(recorder.base_url + "/"))
    with Node(credential, max_retries=0) as live:
        yield live


def as_pairs(value: Any) -> Any:
    """A JSON value with every object as a list of (key, value) pairs, to compare order too."""
    if isinstance(value, dict):
        return [[k, as_pairs(v)] for k, v in value.items()]
    if isinstance(value, list):
        return [as_pairs(v) for v in value]
    return value


# Reference §4.1: the body n8n sent for a system/user/assistant Create with metadata.
N8N_CREATE = {
    "items": [
        {
            "role": "system",
            "content": [{"type": "input_text", "text": "You are a terse assistant."}],
        },
        {"role": "user", "content": [{"type": "input_text", "text": "Hello there"}]},
        {
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi! How can I help?", "annotations": []}],
        },
    ],
    "metadata": {"topic": "demo", "customer": "c-42"},
}


def test_create_body_matches_n8n(node: Node, recorder: Recorder) -> None:
    made = node.create(
        [
            ("system", "You are a terse assistant."),
            ("user", "Hello there"),
            ("assistant", "Hi! How can I help?"),
        ],
        {"metadata": '{"topic": "demo", "customer": "c-42"}'},
    )
    [sent] = recorder.requests
    assert (sent.method, sent.path) == ("POST", "/v1/conversations")
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == as_pairs(N8N_CREATE)
    for got, want in zip(json.loads(sent.body)["items"], N8N_CREATE["items"], strict=True):
        assert "type" not in got  # n8n sends no "type": "message"
        assert got == want
    assert made["metadata"] == {"topic": "demo", "customer": "c-42"}


def test_default_node_and_empty_metadata(node: Node, recorder: Recorder) -> None:
    node.create([("user", "")])
    node.create([("user", "")], {"metadata": "{}"})
    node.create([("user", "")], {"metadata": {}})
    node.create([], {})
    default = {"items": [{"role": "user", "content": [{"type": "input_text", "text": ""}]}]}
    assert [r.json() for r in recorder.requests] == [
        as_pairs(default),
        as_pairs(default),  # n8n drops empty metadata on create
        as_pairs(default),
        as_pairs({"items": []}),  # `items` is always sent
    ]


def test_get_update_remove_requests(node: Node, recorder: Recorder, api_key: str) -> None:
    conv = node.create()["id"]
    node.get(conv)
    node.update(conv, '{"a": "b"}')
    node.update(conv, {})
    node.remove(conv)
    sent = recorder.requests[1:]
    assert [(r.method, r.path) for r in sent] == [
        ("GET", f"/v1/conversations/{conv}"),
        ("POST", f"/v1/conversations/{conv}"),
        ("POST", f"/v1/conversations/{conv}"),
        ("DELETE", f"/v1/conversations/{conv}"),
    ]
    assert sent[0].body == b"" and sent[3].body == b""
    assert sent[1].json() == as_pairs({"metadata": {"a": "b"}})
    assert sent[2].json() == as_pairs({"metadata": {}})  # update sends {} as is, clearing
    for request in sent:
        assert request.headers["authorization"] == f"Bearer {api_key}"
        # Unlike n8n, no empty OpenAI-Organization header when none is configured.
        assert "openai-organization" not in request.headers


def test_organization_and_custom_header(recorder: Recorder, api_key: str) -> None:
    credential = Credential(
        "n8n",
        api_key,
        recorder.base_url,
        organization_id="org-42",
        header_name="X-Tenant",
        header_value="blue",
    )
    with Node(credential, max_retries=0) as node:
        node.create([("user", "hi")])
    [sent] = recorder.requests
    assert sent.headers["openai-organization"] == "org-42"
    assert sent.headers["x-tenant"] == "blue"
    assert sent.headers["authorization"] == f"Bearer {api_key}"
