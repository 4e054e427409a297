"""How much a model call costs parley's side, per HTTP client: aiohttp (what parley uses),
httpx as parley used it, httpx at its leanest, and the openai SDK's AsyncOpenAI.

Every client calls the same loopback upstream (tests/upstream.py, non-streamed and streamed
chat completions) sequentially over one pooled connection; the figure is client CPU per call
(process time), and wall time. The event loop is uvloop by default (granian runs parley on
it); ``--loop asyncio`` for the standard one.

- aiohttp:      one ClientSession (no cookie jar), ``session.post``; streams read by line.
- httpx:        one AsyncClient with a base URL and default headers, ``build_request`` +
                ``send`` (what parley did before aiohttp).
- httpx lean:   the cheapest httpx found: one AsyncHTTPTransport called directly with a
                prebuilt URL (no client-level auth, redirects, cookies or event hooks).
- AsyncOpenAI:  the SDK, ``max_retries=0``.

Run: .venv/bin/python bench/upstream_client.py [--calls 2000] [--rounds 3] [--loop asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import msgspec  # noqa: E402
import openai  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BODY = {"model": "bench", "messages": [{"role": "user", "content": "hello there, how are you?"}]}
HEADERS = {"content-type": "application/json", "authorization": "Bearer x"}
Run = Callable[[str, int, bool], Awaitable[tuple[float, float]]]


def _sse_line(line: str) -> None:
    if line.startswith("data: ") and line != "data: [DONE]":
        msgspec.json.decode(line[6:])


async def with_aiohttp(url: str, calls: int, stream: bool) -> tuple[float, float]:
    async with aiohttp.ClientSession(
        base_url=url.rstrip("/") + "/",
        cookie_jar=aiohttp.DummyCookieJar(),
        connector=aiohttp.TCPConnector(limit=256),
    ) as session:
        body = msgspec.json.encode({**BODY, "stream": stream})
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(calls):
            async with session.post("chat/completions", data=body, headers=HEADERS) as response:
                if stream:
                    async for raw in response.content:
                        _sse_line(raw.decode().rstrip("\r\n"))
                else:
                    msgspec.json.decode(await response.read())
        return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


async def with_httpx(url: str, calls: int, stream: bool) -> tuple[float, float]:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        body = msgspec.json.encode({**BODY, "stream": stream})
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(calls):
            request = client.build_request(
                "POST", "/chat/completions", content=body, headers=HEADERS
            )
            response = await client.send(request, stream=stream)
            if stream:
                async for line in response.aiter_lines():
                    _sse_line(line)
                await response.aclose()
            else:
                msgspec.json.decode(response.content)
        return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


async def with_httpx_lean(url: str, calls: int, stream: bool) -> tuple[float, float]:
    async with httpx.AsyncHTTPTransport(trust_env=False) as transport:
        target = httpx.URL(url + "/chat/completions")
        body = msgspec.json.encode({**BODY, "stream": stream})
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(calls):
            request = httpx.Request("POST", target, content=body, headers=HEADERS)
            response = await transport.handle_async_request(request)
            if stream:
                async for line in response.aiter_lines():
                    _sse_line(line)
            else:
                msgspec.json.decode(await response.aread())
            await response.aclose()
        return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


async def with_sdk(url: str, calls: int, stream: bool) -> tuple[float, float]:
    async with openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0) as client:
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(calls):
            if stream:
                chunks = await client.chat.completions.create(stream=True, **BODY)  # type: ignore[call-overload]
                async for _chunk in chunks:
                    pass
            else:
                await client.chat.completions.create(**BODY)  # type: ignore[call-overload]
        return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


CLIENTS: dict[str, Run] = {
    "aiohttp": with_aiohttp,
    "httpx": with_httpx,
    "httpx lean": with_httpx_lean,
    "AsyncOpenAI": with_sdk,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        def run_loop(work: Awaitable[tuple[float, float]]) -> tuple[float, float]:
            return uvloop.run(work)  # type: ignore[arg-type]
    else:

        def run_loop(work: Awaitable[tuple[float, float]]) -> tuple[float, float]:
            return asyncio.run(work)  # type: ignore[arg-type]

    clients = [(name, CLIENTS[name]) for name in args.clients.split(",")]
    # The upstream runs in a process of its own: its CPU is not the client's.
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.upstream"], stdout=subprocess.PIPE, cwd=ROOT
    )
    assert fake.stdout is not None
    url = f"http://127.0.0.1:{int(fake.stdout.readline())}/v1"
    results: dict[str, list[tuple[float, float]]] = {}
    try:
        for _ in range(args.rounds):
            for stream in (False, True):
                for name, run in clients:
                    key = f"{name} {'stream' if stream else 'whole'}"
                    results.setdefault(key, []).append(run_loop(run(url, args.calls, stream)))
    finally:
        fake.terminate()
        fake.wait()
        fake.stdout.close()
    table = {}
    for key, runs in results.items():
        cpu = statistics.median(r[0] for r in runs) * 1e6
        wall = statistics.median(r[1] for r in runs) * 1e6
        table[key] = {"client_cpu_us_per_call": round(cpu, 1), "wall_us_per_call": round(wall, 1)}
        print(f"{key:20s} client CPU {cpu:7.1f} µs/call   wall {wall:7.1f} µs/call")
    print(json.dumps({"loop": args.loop, "calls": args.calls, "results": table}))


if __name__ == "__main__":
    main()
