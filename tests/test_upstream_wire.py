"""parley's plain-HTTP upstream client against real sockets: a scripted raw HTTP server on
loopback answers each framing a model server may use, closes kept-alive connections, stalls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import httpx
import pytest

from parley.upstreams.wire import WirePool

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


class _Server:
    """A server calling ``answer`` per request (it returns whether to keep the connection)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections: list[int] = []
        self.requests: list[bytes] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.url = ""

    async def __aenter__(self) -> _Server:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        self.writers.append(writer)
        self.connections.append(len(self.connections))
        try:
            while True:
                self.requests.append(await _read_request(reader))
                if not await self.answer(reader, writer, len(self.connections)):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        writer.close()

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        await self.server.wait_closed()


def _pool(url: str, timeout: float = 5.0) -> WirePool:
    return WirePool(url, {"accept": "application/json"}, timeout=timeout, connect_timeout=5)


def test_each_framing_is_read_and_kept_alive_connections_are_reused() -> None:
    bodies = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n2;x=1\r\ncd\r\n"
        b"0\r\nx-trailer: 1\r\n\r\n",
        b"HTTP/1.1 429 Too Many\r\nretry-after: 7\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nto the end",
    ]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> bool:
        body = bodies.pop(0)
        writer.write(body)
        await writer.drain()
        return b"connection: close" not in body

    async def run() -> None:
        async with _Server(answer) as server:
            await _framings(server)

    async def _framings(server: _Server) -> None:
        connections, requests = server.connections, server.requests
        pool = _pool(server.url)
        first = await pool.post("/chat/completions", b'{"a":1}', {"x-one": "1"})
        assert (first.status_code, await first.aread()) == (200, b"hello")
        assert requests[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert b"content-length: 7\r\n" in requests[0] and b"x-one: 1\r\n" in requests[0]
        assert requests[0].endswith(b'{"a":1}')
        second = await pool.post("/chat/completions", b"{}", {})
        assert [line async for line in second.aiter_lines()] == ["ab", "cd"]
        third = await pool.post("/chat/completions", b"{}", {})
        assert (third.status_code, third.headers["Retry-After"]) == (429, "7")
        assert await third.aread() == b"{}"
        # Three answers read to their end: one connection carried them all.
        assert len(connections) == 1
        fourth = await pool.post("/chat/completions", b"{}", {})
        assert await fourth.aread() == b"to the end"
        await pool.close()

    asyncio.run(run())


def test_a_kept_alive_connection_the_server_closed_is_replaced_unseen() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        return False  # the server closes every connection after one answer, without saying so

    async def run() -> None:
        async with _Server(answer) as server:
            pool = _pool(server.url)
            await _turns(pool)
            assert len(server.connections) == 4
            await pool.close()

    async def _turns(pool: WirePool) -> None:
        for turn in range(4):
            response = await pool.post("/responses", b"{}", {})
            assert await response.aread() == b"ok"
            if turn % 2:
                await asyncio.sleep(0.05)  # the close reaches the idle connection first

    asyncio.run(run())


def test_a_stream_left_unfinished_closes_its_connection() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\ndata:1\n\r\n")
        await writer.drain()
        await reader.read()  # until the client hangs up
        return False

    async def run() -> None:
        async with _Server(answer) as server:
            pool = _pool(server.url)
            response = await pool.post("/chat/completions", b"{}", {})
            lines = response.aiter_lines()
            assert await anext(lines) == "data:1"
            await response.aclose()
            await lines.aclose()
            again = await pool.post("/chat/completions", b"{}", {})
            assert len(server.connections) == 2  # the unfinished one was not reused
            await again.aclose()
            await pool.close()

    asyncio.run(run())


def test_silence_is_a_read_timeout_and_a_closed_port_a_connect_error() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> bool:
        await asyncio.sleep(5)
        return False

    async def run() -> None:
        async with _Server(answer) as server:
            with pytest.raises(httpx.ReadTimeout):
                await _pool(server.url, timeout=0.2).post("/chat/completions", b"{}", {})
        with pytest.raises(httpx.ConnectError):
            await _pool(server.url).post("/chat/completions", b"{}", {})

    asyncio.run(run())


def test_only_plain_http_urls_are_taken() -> None:
    with pytest.raises(ValueError, match="plain-HTTP"):
        _pool("https://api.openai.com/v1")
