"""PostgreSQL's own CPU per store call: each hot call run N times in a row on one pooled
connection, the server backend's on-CPU time (/proc/PID/schedstat, nanoseconds) read before
and after. No HTTP and no concurrency: what each statement costs the database, key check
included (folded into the statement where the store can, else the lookup before it).

    python bench/pgcpu.py --database postgresql://postgres@127.0.0.1:5432/postgres [-n 2000]
    python bench/pgcpu.py --database ... --concurrency 64 --pool 10   # as a server would

With ``--concurrency``, that many tasks share a pool of ``--pool`` connections (the server's
default is 10), so commits overlap and share their WAL flushes as under load; the figure is
then the CPU of all the pool's backends over the run, per call.

Needs to run on the database's host, as a user who may read the backend's /proc entry.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pgdb
import seed

from parley import auth, ids
from parley.items import parse_items, prepare_items
from parley.metadata import encode_metadata
from parley.store import open_store

try:
    from parley import keycheck
except ImportError:  # a parley from before the key check rode in the statements
    keycheck = None  # type: ignore[assignment]


def _on_cpu(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


async def measure(url: str, n: int, concurrency: int = 1, pool_size: int = 1) -> dict[str, float]:
    """Microseconds of backend CPU per call, by call."""
    store = open_store(url, postgres=_options(pool_size))
    await store.open()
    try:
        plain, _ = await auth.create_key(store, "pgcpu", name="bench")
        digest = auth.hash_key(plain)
        project = await store.project_for_key(digest)
        assert project is not None
        pool: Any = store._pool  # type: ignore[attr-defined]
        pids = await _backends(pool, pool_size)
        cache = keycheck.KeyCache() if keycheck is not None else None
        inline = keycheck is not None and getattr(store, "checks_keys_in_statements", False)
        create_meta = encode_metadata(seed.METADATA)
        update_meta = encode_metadata(seed.UPDATE_BODY["metadata"])

        async def items(body: dict[str, Any]) -> Any:
            return await prepare_items(
                store, project, parse_items(body["items"]), max_bytes=1 << 22
            )

        async def request(call: Callable[[], Awaitable[Any]]) -> None:
            # What one request costs the database: the key check, then the call.
            if not inline or keycheck is None or cache is None:
                await store.project_for_key(digest)
                await call()
                return
            token = keycheck.owe(keycheck.OwedCheck(digest, "…", cache))
            try:
                await call()
                if keycheck.owed() is not None:
                    await store.project_for_key(digest)
            finally:
                keycheck.release(token)

        conversations = [ids.conversation_id() for _ in range(n)]
        now = int(time.time())
        created = [await items(seed.CREATE_BODY) for _ in range(n)]
        added = [await items(seed.ADD_ITEMS_BODY) for _ in range(n)]
        calls: dict[str, Callable[[int], Awaitable[Any]]] = {
            "create": lambda i: store.create_conversation(
                project, conversations[i], now, create_meta, created[i]
            ),
            "retrieve": lambda i: store.retrieve_conversation(project, conversations[i]),
            "list_items": lambda i: store.list_items(
                project, conversations[i], after=None, limit=20, order="desc"
            ),
            "add_items": lambda i: store.create_items(project, conversations[i], added[i], now),
            # Each conversation's first update: one pair changes, one stays (as in make bench).
            "update": lambda i: store.update_conversation(project, conversations[i], update_meta),
            "update_unchanged": lambda i: store.update_conversation(
                project, conversations[i], update_meta
            ),
        }
        figures = {}
        for name, call in calls.items():
            before = sum(map(_on_cpu, pids))
            left = iter(range(n))
            await asyncio.gather(*(_worker(request, call, left) for _ in range(concurrency)))
            figures[name] = (sum(map(_on_cpu, pids)) - before) / n / 1000
        return figures
    finally:
        await store.close()


async def _worker(
    request: Callable[[Callable[[], Awaitable[Any]]], Awaitable[None]],
    call: Callable[[int], Awaitable[Any]],
    left: Iterator[int],
) -> None:
    """Call ``call`` for each index left, one after another (the iterator is shared)."""
    for i in left:
        await request(functools.partial(call, i))


async def _backends(pool: Any, size: int) -> list[int]:
    """The server pids of all ``size`` pool connections (opened now, all at once)."""
    held = [await pool.acquire() for _ in range(size)]
    try:
        return [int(await conn.fetchval("SELECT pg_backend_pid()")) for conn in held]
    finally:
        for conn in held:
            pool.release(conn)


def _options(pool_size: int) -> Any:
    from parley.settings import PostgresOptions

    return PostgresOptions(pool_size=pool_size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", required=True, help="postgresql:// URL (a server)")
    parser.add_argument("-n", type=int, default=2000, help="calls per kind")
    parser.add_argument("--concurrency", type=int, default=1, help="tasks calling at once")
    parser.add_argument("--pool", type=int, default=1, help="pooled connections (backends)")
    args = parser.parse_args()
    with pgdb.fresh_database(args.database) as url:
        figures = asyncio.run(measure(url, args.n, args.concurrency, args.pool))
    for name, micros in figures.items():
        print(f"{name:18s} {micros:8.1f} µs of PostgreSQL CPU per call")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
