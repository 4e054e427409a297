"""parley's own CPU per /v1/responses call, without parley's HTTP server: the ASGI app driven
in-process (bench/inproc.py's driver) over the loopback test upstream in its own process.

    python bench/responses_inproc.py [--modes whole,conversation,stream] [--calls 2000]
    python bench/responses_inproc.py --modes whole --profile        # cProfile, top 40
    python bench/responses_inproc.py --modes conversation --threads # CPU per call, per thread
    PYTHONHASHSEED=0 valgrind --tool=callgrind python bench/responses_inproc.py --modes whole

The upstream (tests/upstream.py, `python -m tests.upstream`) is another process, so its CPU
is not counted; parley's upstream client, translation, store and event building are. Calls
are sequential (one at a time), as in bench/responses.py. The figure is process CPU (the
SQLite writer thread included) per call; under callgrind, instructions per call are the
load-independent measure for A/B.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inproc import lifespan  # noqa: E402

from parley import auth  # noqa: E402
from parley.app import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODEL = "bench"


class Driver:
    """Calls the app as granian would; the client's disconnect comes once the answer ended."""

    def __init__(self, app: Any, key: str) -> None:
        self.app = app
        self.auth = f"Bearer {key}".encode()

    async def call(self, path: str, body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "scheme": "http",
            "method": "POST",
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"authorization", self.auth),
                (b"user-agent", b"inproc"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "extensions": {},
            "state": {},
        }
        sent = False
        ended = asyncio.Event()
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await ended.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    ended.set()

        await self.app(scope, receive, send)
        ended.set()
        return status, b"".join(chunks)


def thread_cpu() -> dict[str, float]:
    """On-CPU seconds of each of this process's threads so far, by Python thread name
    (/proc's schedstat, in ns; threads Python did not start go by their OS name)."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            name = names.get(int(tid)) or Path(f"/proc/self/task/{tid}/comm").read_text().strip()
            ran = int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue
        out[name] = out.get(name, 0.0) + ran / 1e9
    return out


async def main_async(args: argparse.Namespace, url: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="parley-rinproc-"))
    key = f"sk-bench-{uuid.uuid4().hex}"
    app = create_app(database=args.database or str(work / "parley.db"), upstream=url)
    stop, _ = await lifespan(app)
    try:
        await auth.create_key(app.state.store, key=key)  # type: ignore[attr-defined]
        driver = Driver(app, key)
        for mode in args.modes.split(","):
            bodies = []
            for _ in range(args.calls + args.calls // 5):
                body: dict[str, Any] = {"model": MODEL, "input": "hello there", "store": False}
                if mode == "stream":
                    body["stream"] = True
                elif mode == "conversation":
                    status, made = await driver.call(
                        "/v1/conversations",
                        json.dumps(
                            {
                                "items": [
                                    {"role": "user", "content": "I am Bo."},
                                    {"role": "assistant", "content": "Hi Bo."},
                                ]
                            }
                        ).encode(),
                    )
                    assert status == 200, made
                    body = {"model": MODEL, "input": "hello there"}
                    body["conversation"] = json.loads(made)["id"]
                bodies.append(json.dumps(body).encode())
            warm, timed = bodies[: args.calls // 5], bodies[args.calls // 5 :]
            for body in warm:
                status, answer = await driver.call("/v1/responses", body)
                assert status == 200, answer
            # The main thread's CPU clock by default: a wall clock would charge a socket write
            # with the time the scheduler ran the upstream (woken by it) instead.
            timer = time.thread_time if args.timer == "thread" else time.perf_counter
            profile = cProfile.Profile(timer) if args.profile else None
            threads = thread_cpu()
            cpu, wall = time.process_time(), time.perf_counter()
            if profile is not None:
                profile.enable()
            for body in timed:
                status, answer = await driver.call("/v1/responses", body)
                assert status == 200, answer
            if profile is not None:
                profile.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(
                f"{mode:<13} {cpu / args.calls * 1e6:7.1f} µs CPU/call  "
                f"{wall / args.calls * 1e6:7.1f} µs wall/call",
                flush=True,
            )
            if args.threads:
                after = thread_cpu()
                for name, seconds in sorted(after.items(), key=lambda kv: -kv[1]):
                    spent = seconds - threads.get(name, 0.0)
                    if spent > 0:
                        print(f"  {name:<24} {spent / args.calls * 1e6:7.1f} µs CPU/call")
            if profile is not None:
                stats = pstats.Stats(profile)
                stats.sort_stats(args.sort).print_stats(args.top)
                if args.dump:
                    stats.dump_stats(f"{args.dump}.{mode}")
    finally:
        await stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="parley's CPU per response, in-process")
    parser.add_argument("--modes", default="whole,conversation,stream")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true", help="cProfile each mode")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", help="with --profile: also write the pstats file here")
    parser.add_argument("--threads", action="store_true", help="CPU per call of each thread")
    parser.add_argument("--timer", choices=("thread", "wall"), default="thread")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.upstream"], stdout=subprocess.PIPE, cwd=ROOT
    )
    assert fake.stdout is not None
    try:
        url = f"http://127.0.0.1:{int(fake.stdout.readline())}/v1"
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(main_async(args, url))
        else:
            asyncio.run(main_async(args, url))
    finally:
        fake.terminate()
        fake.wait()
        fake.stdout.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
