"""parley's own CPU per request, without HTTP: the ASGI app driven in-process.

    python bench/inproc.py [--routes retrieve,create] [--requests 5000] [--concurrency 64]
    python bench/inproc.py --routes create --profile          # cProfile, top 30 by own time
    valgrind --tool=callgrind python bench/inproc.py --routes retrieve --requests 2000

The app (`create_app` over a fresh SQLite file or a PostgreSQL URL, the key fixed) runs on
one event loop; ``--concurrency`` tasks send it the bodies of `make bench` (bench/seed.py)
with scopes shaped like granian's, and its CPU per request is read from the process clock
(the writer thread included). No server and no load generator share the cores, so the figure
moves only with parley's own code: use it (and callgrind's instruction counts, which ignore
machine load) to tell one change from the next, and `make bench` for the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import pstats
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import seed

from parley import auth
from parley.app import create_app

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Driver:
    """Calls the ASGI app as granian would, one request at a time per task."""

    def __init__(self, app: Any, key: str) -> None:
        self.app = app
        self.auth = f"Bearer {key}".encode()

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = [
            (b"host", b"127.0.0.1"),
            (b"authorization", self.auth),
            (b"user-agent", b"inproc"),
        ]
        if body:
            headers.append((b"content-type", b"application/json"))
            headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "method": method,
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "extensions": {},
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # a disconnect never comes
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def lifespan(app: Any) -> tuple[Callable[[], Awaitable[None]], asyncio.Task[None]]:
    """Start the app's lifespan; return a function that ends it."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "state": {}}, inbox.get, outbox.put))
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"lifespan: {started}")

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return stop, task


def requests_for(
    route: str, ids: list[str], listed: list[str]
) -> Callable[[], tuple[str, str, bytes]]:
    """(method, path, body) for the next request of ``route``."""
    bodies = {
        "create": json.dumps(seed.CREATE_BODY).encode(),
        "add_items": json.dumps(seed.ADD_ITEMS_BODY).encode(),
        "update": json.dumps(seed.UPDATE_BODY).encode(),
    }
    rotation = itertools.cycle(random.Random(1).sample(ids, len(ids)))
    list_rotation = itertools.cycle(listed)
    conv = "/v1/conversations/"

    def make() -> tuple[str, str, bytes]:
        if route == "healthz":
            return "GET", "/healthz", b""
        if route == "retrieve":
            return "GET", conv + next(rotation), b""
        if route == "list_items":
            return "GET", conv + next(list_rotation) + "/items", b""
        if route == "create":
            return "POST", "/v1/conversations", bodies["create"]
        if route == "add_items":
            return "POST", conv + next(rotation) + "/items", bodies["add_items"]
        if route == "update":
            return "POST", conv + next(rotation), bodies["update"]
        raise ValueError(route)

    return make


async def drive(driver: Driver, make: Callable[[], tuple[str, str, bytes]], n: int, c: int) -> int:
    """``n`` requests over ``c`` tasks; the number of non-200 answers."""
    left = n
    bad = 0

    async def worker() -> None:
        nonlocal left, bad
        while left > 0:
            left -= 1
            status, _ = await driver.call(*make())
            bad += status != 200

    await asyncio.gather(*(worker() for _ in range(c)))
    return bad


async def main_async(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="parley-inproc-"))
    key = f"sk-bench-{uuid.uuid4().hex}"
    app = create_app(database=args.database or str(work / "parley.db"))
    stop, _ = await lifespan(app)
    try:
        store = app.state.store  # type: ignore[attr-defined]
        await auth.create_key(store, key=key)
        driver = Driver(app, key)
        ids = []
        for _ in range(args.conversations):
            status, answer = await driver.call(
                "POST", "/v1/conversations", json.dumps(seed.CREATE_BODY).encode()
            )
            assert status == 200, answer
            ids.append(json.loads(answer)["id"])
        fill = json.dumps(seed.LIST_FILL_BODY).encode()
        listed = ids[:200]
        for conversation in listed:
            status, answer = await driver.call(
                "POST", f"/v1/conversations/{conversation}/items", fill
            )
            assert status == 200, answer
        for route in args.routes.split(","):
            make = requests_for(route, ids, listed)
            await drive(driver, make, args.requests // 5, args.concurrency)  # warm-up
            profile = cProfile.Profile() if args.profile else None
            cpu, wall = time.process_time(), time.perf_counter()
            if profile is not None:
                profile.enable()
            bad = await drive(driver, make, args.requests, args.concurrency)
            if profile is not None:
                profile.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(
                f"{route:<11} {cpu / args.requests * 1e6:7.1f} µs CPU/req  "
                f"{args.requests / wall:8,.0f} req/s in-process"
                + (f"  non-200: {bad}" if bad else ""),
                flush=True,
            )
            if profile is not None:
                pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    finally:
        await stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="parley's CPU per request, in-process")
    parser.add_argument("--routes", default="healthz,retrieve,list_items,create,add_items,update")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true", help="cProfile each route")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
