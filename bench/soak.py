"""Memory soak: mixed traffic against `parley serve` for minutes; RSS and descriptors stay flat.

Samples the resident set size and open file descriptors of every server process (granian's
main process and its worker) every few seconds. After a warm-up, RSS growth must stay under
10 % and the descriptor count must not grow.

    python bench/soak.py                        # 10 minutes, 16 clients
    python bench/soak.py --seconds 60 --warmup 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def group_pids(leader: int) -> list[int]:
    """The server's processes: the leader and its descendants (granian workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError):
                continue
    found, frontier = [leader], [leader]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def sample(pids: list[int]) -> tuple[int, int]:
    """(RSS in KiB, open descriptors) summed over ``pids``."""
    rss = fds = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return rss, fds


async def client(
    http: httpx.AsyncClient, rng: random.Random, stop: float, counts: dict[str, int]
) -> None:
    """One client doing a realistic mix, including some bad requests."""
    mine: list[str] = []
    while time.monotonic() < stop:
        roll = rng.random()
        try:
            if not mine or roll < 0.10:
                items = [{"role": "user", "content": "x" * rng.randint(10, 2000)} for _ in range(3)]
                answer = await http.post(
                    "/v1/conversations", json={"items": items, "metadata": {"k": uuid.uuid4().hex}}
                )
                if answer.status_code == 200:
                    mine.append(answer.json()["id"])
            elif roll < 0.45:
                conv = rng.choice(mine)
                text = "y" * rng.randint(10, 4000)
                answer = await http.post(
                    f"/v1/conversations/{conv}/items",
                    json={"items": [{"role": "assistant", "content": text}]},
                )
            elif roll < 0.75:
                answer = await http.get(
                    f"/v1/conversations/{rng.choice(mine)}/items",
                    params={"limit": rng.choice(["5", "20", "100"])},
                )
            elif roll < 0.85:
                answer = await http.get(f"/v1/conversations/{rng.choice(mine)}")
            elif roll < 0.90:
                answer = await http.post(
                    f"/v1/conversations/{rng.choice(mine)}",
                    json={"metadata": {"v": str(rng.random())}},
                )
            elif roll < 0.93 and len(mine) > 5:
                answer = await http.delete(f"/v1/conversations/{mine.pop(0)}")
            elif roll < 0.97:
                answer = await http.get(f"/v1/conversations/conv_{uuid.uuid4().hex}")
            else:
                answer = await http.post("/v1/conversations", content=b'{"metadata": [1,')
            key = str(answer.status_code)
            counts[key] = counts.get(key, 0) + 1
        except httpx.HTTPError as exc:
            counts[type(exc).__name__] = counts.get(type(exc).__name__, 0) + 1
        if len(mine) > 200:  # keep each client's working set bounded, like a real app
            mine = mine[-100:]


async def traffic(url: str, key: str, clients: int, stop: float, counts: dict[str, int]) -> None:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30, limits=limits
    ) as http:
        await asyncio.gather(
            *(client(http, random.Random(n), stop, counts) for n in range(clients))
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--warmup", type=float, default=90)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--interval", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-soak-") as folder:
        port, key = free_port(), f"sk-soak-{uuid.uuid4().hex}"
        log = Path(folder) / "server.log"
        command = [sys.executable, "-m", "parley", "serve", "--port", str(port),
                   "--database", str(Path(folder) / "soak.db"), "--api-key", key]  # fmt: skip
        with log.open("wb") as out:
            server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        began = time.monotonic()
        stop = began + args.seconds
        counts: dict[str, int] = {}
        samples: list[tuple[float, int, int]] = []

        async def run() -> None:
            load = asyncio.create_task(traffic(url, key, args.clients, stop, counts))
            while not load.done():
                rss, fds = sample(group_pids(server.pid))
                samples.append((time.monotonic() - began, rss, fds))
                await asyncio.sleep(args.interval)
            await load

        asyncio.run(run())
        healthy = httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    settled = [s for s in samples if s[0] >= args.warmup]
    window = max(3, len(settled) // 10)
    rss_start = statistics.median(s[1] for s in settled[:window])
    rss_end = statistics.median(s[1] for s in settled[-window:])
    fds_start = max(s[2] for s in settled[:window])
    fds_end = max(s[2] for s in settled[-window:])
    figures = {
        "seconds": args.seconds,
        "warmup": args.warmup,
        "clients": args.clients,
        "requests": sum(v for k, v in counts.items() if k.isdigit()),
        "answers": counts,
        "rss_kib_after_warmup": rss_start,
        "rss_kib_end": rss_end,
        "rss_kib_peak": max(s[1] for s in samples),
        "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 2),
        "fds_after_warmup": fds_start,
        "fds_end": fds_end,
        "healthy_after": healthy,
        "samples": [(round(t), rss, fds) for t, rss, fds in samples[:: max(1, len(samples) // 20)]],
    }
    print(json.dumps(figures, indent=2))
    server_errors = sum(v for k, v in counts.items() if k.startswith("5"))
    ok = figures["rss_growth_pct"] < 10 and fds_end <= fds_start and healthy and not server_errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
