"""A lean HTTP/1.1 client for plain-HTTP model servers: keep-alive connections over asyncio
streams, Content-Length and chunked bodies, nothing else.

httpx costs parley about a third of a response's CPU on loopback (httpcore's pool, anyio's
cancel scopes, h11's state machine, cookies and URL merging per call; bench/upstream_client.py
and the py-spy profile in bench/README.md). A local model server (vLLM, Ollama, llama.cpp)
is reached over plain HTTP, where this client is all that is needed; TLS upstreams keep
httpx. Its failures are httpx's exception classes, so callers map one set of errors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from urllib.parse import urlsplit

import httpx


class _Stale(Exception):
    """A kept-alive connection the server had closed before this request."""


class WireResponse(httpx.Response):
    """An upstream answer: status and headers read; the body read on demand. An
    ``httpx.Response`` for what callers use of one (status, headers, ``content`` once read,
    ``aread``, ``aiter_lines``, ``aclose``), so both clients answer the same type."""

    def __init__(
        self,
        pool: WirePool,
        conn: _Conn,
        status_code: int,
        headers: httpx.Headers,
        *,
        length: int | None,
        chunked: bool,
    ) -> None:
        super().__init__(status_code, headers=headers)
        self._pool = pool
        self._conn: _Conn | None = conn
        self._length = length
        self._chunked = chunked

    async def aread(self) -> bytes:
        """The whole body (the connection goes back to the pool)."""
        self._content = b"".join([piece async for piece in self.aiter_bytes()])
        return self._content

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body as it arrives; read to its end, the connection goes back to the pool."""
        conn = self._conn
        if conn is None:
            return
        read = self._pool.read
        finished = False
        try:
            if self._chunked:
                while True:
                    line = await read(conn.reader.readline())
                    try:
                        size = int(line.split(b";", 1)[0].strip(), 16)
                    except ValueError:
                        raise httpx.RemoteProtocolError("a bad chunk size") from None
                    if size == 0:
                        # Trailers, if any, end with an empty line.
                        while (await read(conn.reader.readline())).strip():
                            pass
                        break
                    data = await read(conn.reader.readexactly(size + 2))
                    yield data[:-2]
            elif self._length is not None:
                left = self._length
                while left > 0:
                    data = await read(conn.reader.read(min(left, 65536)))
                    if not data:
                        raise httpx.RemoteProtocolError("the body ended early")
                    left -= len(data)
                    yield data
            else:  # the body runs to the end of the connection
                conn.keep = False
                while data := await read(conn.reader.read(65536)):
                    yield data
            finished = True
        except asyncio.IncompleteReadError:
            raise httpx.RemoteProtocolError("the body ended early") from None
        finally:
            if self._conn is conn:
                self._conn = None
                self._pool.release(conn, reuse=finished and conn.keep)

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body's lines (LF or CRLF), decoded as UTF-8, as they arrive."""
        pending = b""
        async for data in self.aiter_bytes():
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.removesuffix(b"\r").decode("utf-8", "replace")
        if pending:
            yield pending.removesuffix(b"\r").decode("utf-8", "replace")

    async def aclose(self) -> None:
        """Stop reading: an unfinished body closes the connection (the upstream stops)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn, reuse=False)


class _Conn:
    __slots__ = ("reader", "writer", "keep", "used")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.keep = True  # False once the server said `connection: close` or a body ran to EOF
        self.used = False  # an answer was read on it: a later EOF may be a keep-alive timeout


class WirePool:
    """Idle keep-alive connections to one ``http://host:port`` and the requests sent on them."""

    def __init__(
        self, url: str, headers: dict[str, str], *, timeout: float, connect_timeout: float
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a plain-HTTP URL: {url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        host = parts.netloc.rsplit("@", 1)[-1]
        self._head = "".join(f"{k}: {v}\r\n" for k, v in {"host": host, **headers}.items())
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._idle: list[_Conn] = []
        self._max_idle = 64

    async def read(self, awaitable: Awaitable[bytes]) -> bytes:
        """``awaitable``'s bytes, or httpx.ReadTimeout after the upstream's timeout."""
        try:
            async with asyncio.timeout(self._timeout):
                return await awaitable
        except TimeoutError:
            raise httpx.ReadTimeout("the model server did not answer in time") from None
        except (ConnectionError, OSError) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from None

    async def _connect(self) -> _Conn:
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(self._host, self._port)
        except TimeoutError:
            raise httpx.ConnectTimeout("cannot connect in time") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from None
        return _Conn(reader, writer)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> WireResponse:
        """Send ``POST path`` with ``body``; the response once its status and headers came."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = (
            f"POST {self._prefix}{path} HTTP/1.1\r\n{self._head}{extra}"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        while self._idle:
            conn = self._idle.pop()
            if conn.reader.at_eof() or conn.writer.is_closing():
                conn.writer.close()
                continue
            try:
                return await self._exchange(conn, head + body)
            except _Stale:
                continue  # the server had closed it, unseen: nothing was sent to a model
        return await self._exchange(await self._connect(), head + body)

    async def get(self, path: str) -> WireResponse:
        """``GET path`` on a connection of its own (rare calls: the model list)."""
        head = f"GET {self._prefix}{path} HTTP/1.1\r\n{self._head}\r\n".encode("latin-1")
        return await self._exchange(await self._connect(), head)

    async def _exchange(self, conn: _Conn, request: bytes) -> WireResponse:
        try:
            conn.writer.write(request)
            head = await self.read(conn.reader.readuntil(b"\r\n\r\n"))
        except asyncio.IncompleteReadError as exc:
            conn.writer.close()
            if conn.used and not exc.partial:
                raise _Stale from None
            raise httpx.RemoteProtocolError("the server closed without answering") from None
        except httpx.ReadError:
            conn.writer.close()
            if conn.used:  # reset by a server that had closed it: it never saw the request
                raise _Stale from None
            raise
        except asyncio.LimitOverrunError:
            conn.writer.close()
            raise httpx.RemoteProtocolError("the response headers are too long") from None
        except BaseException:
            conn.writer.close()
            raise
        conn.used = True
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (ValueError, IndexError):
            conn.writer.close()
            raise httpx.RemoteProtocolError("not an HTTP response") from None
        fields = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                fields.append((name.strip(), value.strip()))
        headers = httpx.Headers(fields)
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length_text = headers.get("content-length")
        length = int(length_text) if length_text and not chunked else None
        if headers.get("connection", "").lower() == "close":
            conn.keep = False
        if status in (204, 304):
            length = 0
        return WireResponse(self, conn, status, headers, length=length, chunked=chunked)

    def release(self, conn: _Conn, *, reuse: bool) -> None:
        """Back to the idle list when its answer was read to the end, else closed."""
        if reuse and len(self._idle) < self._max_idle:
            self._idle.append(conn)
            return
        conn.writer.close()

    async def close(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.writer.close()
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()
