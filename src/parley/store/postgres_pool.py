"""The PostgreSQL store's pool of asyncpg connections.

asyncpg's own ``Pool`` lends each connection through a proxy object and hands it back
through ``asyncio.shield`` (a Task per release), a holder's reset and its bookkeeping: about
50 µs of CPU per request on top of a 43 µs one-row statement (bench/pgpool.py). parley
keeps no session state on a connection (no SET, LISTEN, cursors or session locks; every
transaction ends inside its block), so lending one needs no more than a list of idle
connections: acquire pops the warmest, release pushes it back, in plain calls.

What comes back is kept unless it is closed (the server or the network dropped it) or still
in a transaction (a block that did not end its own: the transaction dies with the terminated
session). A block cancelled mid-statement needs nothing more: asyncpg has already sent the
server a cancel request, and every later statement on that connection first waits for the
cancellation to be over (``_wait_for_cancellation`` in asyncpg's protocol), so the statement
is stopped on the server, not left running on a dropped socket. Connections open on demand,
up to ``max_size``; a caller beyond that waits, first come first served, for one to come back
or a slot to free.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg


class PoolClosed(asyncpg.InterfaceError):  # type: ignore[misc]
    """The pool was closed: no connection is lent any more."""


class Pool:
    """Up to ``max_size`` connections made by ``connect``, lent one block at a time."""

    def __init__(self, connect: Callable[[], Awaitable[Any]], max_size: int) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._connect = connect
        self._max = max_size
        self._idle: list[Any] = []
        # Connections open or being dialled; never above _max.
        self._open = 0
        self._lent: set[Any] = set()
        # Callers waiting for a connection: each future gets one, or None (a slot is free,
        # dial), or an exception (the pool closed).
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._closed = False
        self._drained: asyncio.Event | None = None

    async def acquire(self) -> Any:
        """A connection of the caller's alone until :meth:`release`."""
        again = False
        while True:
            if self._closed:
                raise PoolClosed("the connection pool is closed")
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    self._lent.add(conn)
                    return conn
                self._open -= 1  # dropped by the server while idle: dial a new one
            if self._open < self._max:
                return await self._dial()
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            # A caller woken to dial that found the slot taken keeps its place in line.
            if again:
                self._waiters.appendleft(waiter)
            else:
                self._waiters.append(waiter)
            try:
                conn = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    # Handed something as the caller was cancelled: pass it on.
                    handed = waiter.result()
                    if handed is None:
                        self._wake()
                    else:
                        self._lent.add(handed)
                        self.release(handed)
                else:
                    self._waiters.remove(waiter)
                raise
            if conn is not None:
                self._lent.add(conn)
                return conn
            # A slot was freed for this caller: loop and dial (or take one that came back).
            again = True

    async def _dial(self) -> Any:
        self._open += 1
        try:
            conn = await self._connect()
        except BaseException:
            self._open -= 1
            self._wake()  # the slot is free again for whoever waits
            raise
        if self._closed:
            conn.terminate()
            self._open -= 1
            raise PoolClosed("the connection pool is closed")
        self._lent.add(conn)
        return conn

    def release(self, conn: Any) -> None:
        """Take back a connection lent by :meth:`acquire`: kept, or terminated when it is
        closed or still in a transaction."""
        if conn not in self._lent:  # lent before terminate(): already counted out
            if not conn.is_closed():
                conn.terminate()
            return
        self._lent.discard(conn)
        if self._closed or conn.is_closed() or conn.is_in_transaction():
            if not conn.is_closed():
                conn.terminate()
            self._open -= 1
            self._wake()
            self._check_drained()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _wake(self) -> None:
        """Tell the first waiter a slot is free (it dials)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _check_drained(self) -> None:
        if self._drained is not None and not self._lent:
            self._drained.set()

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """One statement's first row on a connection of the pool."""
        conn = await self.acquire()
        try:
            return await conn.fetchrow(query, *args)
        finally:
            self.release(conn)

    def get_size(self) -> int:
        """Connections open (lent or idle)."""
        return self._open

    def get_idle_size(self) -> int:
        return len(self._idle)

    async def close(self) -> None:
        """Lend no more; wait for lent connections to come back, then close every one."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the connection pool is closed"))
        if self._lent:
            self._drained = asyncio.Event()
            await self._drained.wait()
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        await asyncio.gather(*(conn.close() for conn in idle), return_exceptions=True)

    def terminate(self) -> None:
        """Close every connection at once, lent ones included."""
        self._closed = True
        for conn in [*self._idle, *self._lent]:
            conn.terminate()
        self._idle, self._lent, self._open = [], set(), 0
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the connection pool is closed"))
