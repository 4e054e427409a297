"""How much a model call costs parley's side: httpx (what parley uses) and the openai SDK's
AsyncOpenAI.

Both call the same loopback upstream (tests/upstream.py, non-streamed and streamed chat
completions) sequentially; the figure is client CPU per call (process time), and wall time.
Run: .venv/bin/python bench/upstream_client.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import msgspec  # noqa: E402
import openai  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BODY = {"model": "bench", "messages": [{"role": "user", "content": "hello there, how are you?"}]}


async def with_httpx(url: str, calls: int, stream: bool) -> tuple[float, float]:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        body = msgspec.json.encode({**BODY, "stream": stream})
        headers = {"content-type": "application/json", "authorization": "Bearer x"}
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(calls):
            if stream:
                request = client.build_request(
                    "POST", "/chat/completions", content=body, headers=headers
                )
                response = await client.send(request, stream=True)
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        msgspec.json.decode(line[6:])
                await response.aclose()
            else:
                response = await client.post("/chat/completions", content=body, headers=headers)
                msgspec.json.decode(response.content)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
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
                for name, run in (
                    ("httpx", with_httpx),
                    ("AsyncOpenAI", with_sdk),
                ):
                    key = f"{name} {'stream' if stream else 'whole'}"
                    results.setdefault(key, []).append(asyncio.run(run(url, args.calls, stream)))
    finally:
        fake.terminate()
        fake.wait()
    table = {}
    for key, runs in results.items():
        cpu = statistics.median(r[0] for r in runs) * 1e6
        wall = statistics.median(r[1] for r in runs) * 1e6
        table[key] = {"client_cpu_us_per_call": round(cpu, 1), "wall_us_per_call": round(wall, 1)}
        print(f"{key:20s} client CPU {cpu:7.1f} µs/call   wall {wall:7.1f} µs/call")
    print(json.dumps(table))


if __name__ == "__main__":
    main()
