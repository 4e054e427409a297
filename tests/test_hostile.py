"""Hostile input: each case gets OpenAI's error envelope (or a documented answer) and leaves
other clients unharmed. Everything goes over real sockets to a live `parley serve`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.helpers import assert_error

NESTING = 10_000


def raw_request(server: LiveServer, request: bytes, timeout: float = 30) -> tuple[int, bytes]:
    """Send bytes as they are (no client-side URL cleaning); return status and body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def get_raw(server: LiveServer, key: str, target: bytes) -> tuple[int, bytes]:
    """A GET for ``target`` exactly as written, with ``key``."""
    return raw_request(
        server,
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + key.encode()
        + b"\r\nConnection: close\r\n\r\n",
    )


def served(server: LiveServer) -> None:
    """Another client, with its own key, is still served normally."""
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.new_key()}"}, timeout=10
    ) as other:
        conv = other.post("/v1/conversations", json={"items": [{"role": "user", "content": "hi"}]})
        assert conv.status_code == 200, conv.text
        items = other.get(f"/v1/conversations/{conv.json()['id']}/items")
        assert items.status_code == 200
        assert items.json()["data"][0]["content"][0]["text"] == "hi"


def envelope(response: httpx.Response, status: int = 400) -> dict[str, object]:
    """Assert the error envelope with any code/param; return the error object."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    return error  # type: ignore[no-any-return]


# -- bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * NESTING + b"]" * NESTING,
        b"{" + b'"a":{' * NESTING + b"}" * (NESTING + 1),
        b'{"metadata":' + b'{"a":' * NESTING + b'"x"' + b"}" * (NESTING + 1),
        b'{"items":[{"role":"user","content":' + b"[" * NESTING + b"]" * NESTING + b"}]}",
    ],
    ids=["arrays", "objects", "in-metadata", "in-item"],
)
def test_deeply_nested_json_is_a_400(server: LiveServer, http: httpx.Client, body: bytes) -> None:
    response = http.post("/v1/conversations", content=body)
    assert_error(response, 400, code=None, param=None, message="We could not parse the JSON .*")
    served(server)


def test_fifty_megabyte_body_is_a_413_declared_or_streamed(
    server: LiveServer, http: httpx.Client
) -> None:
    big = b"x" * (50 * 1024 * 1024)
    declared = http.post("/v1/conversations", content=big)
    assert_error(declared, 413, code="request_too_large", param=None)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming
        for _ in range(50):
            yield b"x" * (1024 * 1024)

    streamed = http.post("/v1/conversations", content=chunks())
    assert_error(streamed, 413, code="request_too_large", param=None)
    served(server)


@pytest.mark.parametrize(
    "body",
    [b'{"metadata":{"a":"\xff\xfe"}}', b'{"metadata":{"\xc3\x28":"x"}}', b"\xef\xbb\xbf\x80{}"],
    ids=["value", "key", "bom-then-junk"],
)
def test_invalid_utf8_is_a_400(server: LiveServer, http: httpx.Client, body: bytes) -> None:
    assert_error(http.post("/v1/conversations", content=body), 400, code=None, param=None)
    served(server)


@pytest.mark.parametrize(
    ("metadata", "param"),
    [({"k\u0000ey": "v"}, "metadata"), ({"key": "va\u0000lue"}, "metadata.key")],
    ids=["in-key", "in-value"],
)
def test_escaped_nul_in_metadata_is_a_400(
    server: LiveServer, http: httpx.Client, metadata: dict[str, str], param: str
) -> None:
    # `\u0000` is valid JSON, but PostgreSQL text cannot hold it (metadata is indexed as
    # text), so both backends refuse it alike rather than one of them failing with a 500.
    for answer in (
        http.post("/v1/conversations", json={"metadata": metadata}),
        http.post("/v1/conversations/conv_x", json={"metadata": metadata}),
    ):
        assert_error(answer, 400, code="invalid_value", param=param)
    served(server)


def test_nul_in_ids_and_query_parameters(server: LiveServer, http: httpx.Client) -> None:
    conv = http.post("/v1/conversations", json={}).json()["id"]
    assert_error(
        http.get(f"/v1/conversations/{conv}/items", params={"after": "msg_\u0000"}),
        400,
        code="invalid_value",
        param="after",
    )
    for path in (f"/v1/conversations/{conv}%00", f"/v1/conversations/{conv}/items/msg_%00x"):
        assert_error(http.get(path), 404, code=None, param=None)
    for body in (
        {"items": [{"type": "message", "id": "msg_\u0000", "role": "user", "content": "x"}]},
        {"items": [{"type": "item_reference", "id": "msg_\u0000"}]},
    ):
        for path in (f"/v1/conversations/{conv}/items", "/v1/conversations"):
            answer = http.post(path, json=body)
            assert_error(answer, 400, code="invalid_value", param="items[0].id")
    served(server)


@pytest.mark.parametrize(
    "body",
    [b'{"metadata":{"a":"x\x00y"}}', b'{"metadata":{"a\x00":"x"}}', b'{"metadata":{}}\x00'],
    ids=["raw-nul-in-value", "raw-nul-in-key", "raw-nul-trailing"],
)
def test_raw_nul_bytes_are_a_400(server: LiveServer, http: httpx.Client, body: bytes) -> None:
    # A raw control character inside a JSON string is not JSON (RFC 8259 §7).
    assert_error(http.post("/v1/conversations", content=body), 400, code=None, param=None)
    served(server)


def test_duplicate_keys_resolve_to_the_last_one_everywhere(http: httpx.Client) -> None:
    # RFC 8259 leaves duplicate names to the parser; parley (like Python's json and
    # JavaScript's JSON.parse) keeps the last. The stored JSON is re-encoded from the parsed
    # value, so no reader can ever see the other one.
    created = http.post(
        "/v1/conversations",
        content=b'{"metadata":{"a":"first","a":"last"},'
        b'"items":[{"type":"message","role":"user","role":"assistant",'
        b'"content":[{"type":"input_text","text":"one","text":"two"}]}]}',
    )
    assert created.status_code == 200, created.text
    conv = created.json()
    assert conv["metadata"] == {"a": "last"}
    item = http.get(f"/v1/conversations/{conv['id']}/items").json()["data"][0]
    assert item["role"] == "assistant"
    assert item["content"][0]["text"] == "two"
    overridden = http.post(
        "/v1/conversations", content=b'{"metadata":{"a":"b"},"metadata":"not an object"}'
    )
    assert_error(overridden, 400, code="invalid_type", param="metadata")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"metadata": {"a": 1}}, "metadata.a"),
        ({"metadata": {"a": ["x"]}}, "metadata.a"),
        ({"metadata": {"a": None}}, "metadata.a"),
        ({"metadata": {"a": {"b": "c"}}}, "metadata.a"),
        ({"metadata": ["a", "b"]}, "metadata"),
        ({"metadata": 7}, "metadata"),
        ({"items": {"role": "user"}}, "items"),
        ({"items": [{"type": 1, "role": "user", "content": "x"}]}, "items[0].type"),
        ({"items": [{"type": "message", "role": ["user"], "content": "x"}]}, "items[0].role"),
        ({"items": [{"type": "message", "role": "user", "content": 12}]}, "items[0].content"),
    ],
)
def test_wrong_json_types_name_the_field(
    server: LiveServer, http: httpx.Client, body: dict[str, object], param: str
) -> None:
    error = envelope(http.post("/v1/conversations", json=body))
    assert error["param"] == param
    assert error["code"] == "invalid_type", error
    served(server)


# -- ids and paths ------------------------------------------------------------------------


def test_path_tricks_never_leave_the_callers_project(server: LiveServer, api_key: str) -> None:
    victim = httpx.post(
        f"{server.base_url}/conversations",
        json={"items": [{"role": "user", "content": "secret"}]},
        headers={"Authorization": f"Bearer {server.new_key()}"},
    ).json()["id"]
    mine = httpx.post(
        f"{server.base_url}/conversations",
        json={},
        headers={"Authorization": f"Bearer {api_key}"},
    ).json()["id"]
    targets = [
        b"/v1/conversations/../../etc/passwd",
        b"/v1/conversations/" + mine.encode() + b"/../" + victim.encode(),
        b"/v1/conversations/" + mine.encode() + b"/items/../../" + victim.encode() + b"/items",
        b"/v1/conversations/" + mine.encode() + b"%2F..%2F" + victim.encode(),
        b"/v1/conversations/%2e%2e%2F" + victim.encode(),
        b"/v1/conversations/" + victim.encode() + b"%00",
        b"/v1/conversations/..",
        b"/v1/conversations/%2e%2e",
        b"/v1/conversations/" + victim.encode(),
        b"/v1/conversations/" + victim.encode() + b"/items",
    ]
    for target in targets:
        status, body = get_raw(server, api_key, target)
        assert status == 404, (target, body)
        assert b'"error":{"message"' in body
        assert b"secret" not in body


@pytest.mark.parametrize("length", [257, 10_000, 60_000])
def test_very_long_ids_are_404_without_echoing_them(
    server: LiveServer, api_key: str, length: int
) -> None:
    for target in (
        b"/v1/conversations/conv_" + b"a" * length,
        b"/v1/conversations/conv_x/items/msg_" + b"b" * length,
    ):
        status, body = get_raw(server, api_key, target)
        assert status == 404, body[:200]
        assert b"not found" in body
        assert len(body) < 400  # the id is shortened in the message, not echoed whole
    served(server)


def test_a_url_past_granians_limits_is_refused_by_granian(server: LiveServer, api_key: str) -> None:
    # Past granian's request-line limit (about 64 KiB) or its HTTP/1 buffer (408 KiB) the
    # request never reaches parley: granian answers a bare 414 or 431 itself. Documented;
    # the server keeps serving.
    for length in (100_000, 500_000):
        status, _ = get_raw(server, api_key, b"/v1/conversations/conv_" + b"a" * length)
        assert status in (414, 431)
    served(server)


# -- slow and idle clients ----------------------------------------------------------------


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own that waits one second at most for a request body."""
    folder: Path = tmp_path_factory.mktemp("impatient")
    live = start_server(
        str(folder / "parley.db"), folder / "server.log", args=["--body-timeout", "1"]
    )
    yield live
    stop_server(live)


def test_a_trickling_body_gets_408_and_frees_the_server(impatient: LiveServer) -> None:
    answers: list[tuple[int, bytes]] = []

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", impatient.port), timeout=20) as sock:
            sock.sendall(
                b"POST /v1/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + impatient.api_key.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
            answer = b""
            try:
                for _ in range(60):  # one byte every 0.2 s: 12 s for the whole body
                    sock.sendall(b" ")
                    time.sleep(0.2)
            except OSError:  # the server gave up on us and closed: that is the point
                pass
            sock.settimeout(5)
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except OSError:
                pass
            head, _, body = answer.partition(b"\r\n\r\n")
            answers.append((int(head.split(b" ", 2)[1]) if head else 0, body))

    slow = [threading.Thread(target=trickle) for _ in range(20)]
    for thread in slow:
        thread.start()
    # Meanwhile, everyone else is served.
    served(impatient)
    for thread in slow:
        thread.join(30)
    assert len(answers) == 20
    for status, body in answers:
        assert status == 408, body
        assert b'"code":"request_timeout"' in body
    served(impatient)


def test_two_thousand_idle_connections_do_not_starve_others(server: LiveServer) -> None:
    idle: list[socket.socket] = []
    try:
        for index in range(2000):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            if index % 2:  # half of them stall mid-headers (slowloris), half say nothing
                sock.sendall(b"POST /v1/conversations HTTP/1.1\r\nHost: x\r\n")
            idle.append(sock)
        for _ in range(10):
            served(server)
    finally:
        for sock in idle:
            sock.close()
    served(server)


@pytest.fixture(scope="module")
def brisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that gives a connection 1 s to send its request headers."""
    folder: Path = tmp_path_factory.mktemp("brisk")
    live = start_server(
        str(folder / "parley.db"), folder / "server.log", args=["--header-timeout", "1"]
    )
    yield live
    stop_server(live)


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_a_connection_that_sends_nothing_is_closed(brisk: LiveServer) -> None:
    silent = [socket.create_connection(("127.0.0.1", brisk.port)) for _ in range(50)]
    kept = [socket.create_connection(("127.0.0.1", brisk.port)) for _ in range(10)]
    try:
        for sock in kept:  # one request each, then idle on a kept-alive connection
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if all(_closed_by_server(sock) for sock in silent + kept):
                break
        assert all(_closed_by_server(sock) for sock in silent), "silent sockets left open"
        assert all(_closed_by_server(sock) for sock in kept), "idle kept-alive sockets left open"
    finally:
        for sock in silent + kept:
            sock.close()
    served(brisk)


def test_ten_thousand_idle_sockets_and_a_client_served_beside_them(
    tmp_path: Path,
) -> None:
    live = start_server(str(tmp_path / "parley.db"), tmp_path / "server.log")
    idle: list[socket.socket] = []
    try:
        for index in range(10_000):
            sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
            if index % 2:  # half stall mid-headers (slowloris), half say nothing
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            idle.append(sock)
        with httpx.Client(timeout=5) as beside:  # well inside the 10 s header timeout
            for _ in range(5):
                assert beside.get(f"{live.url}/healthz").status_code == 200
                assert (
                    beside.get(f"{live.url}/healthz", headers={"connection": "close"}).status_code
                    == 200
                )
        served(live)
    finally:
        for sock in idle:
            sock.close()
        stop_server(live)
