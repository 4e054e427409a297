"""A small HTTP/1.1 keep-alive load generator, the fallback when wrk is not installed.

Same arguments and output line as bench/route.lua under wrk, so the runner treats both alike:
    pyload.py URL CONNECTIONS SECONDS METHOD PATH IDS_FILE|- BODY_FILE|- API_KEY
It is one Python process on one core, so it saturates long before wrk does: figures measured
with it are a floor for the server, not its ceiling.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit


def build_requests(
    host: str, method: str, template: str, ids_file: str, body_file: str, key: str
) -> list[bytes]:
    """Every distinct request, pre-encoded, in rotation order."""
    body = b"" if body_file == "-" else Path(body_file).read_bytes()
    ids = [""] if ids_file == "-" else [i for i in Path(ids_file).read_text().split() if i]
    head = f"Host: {host}\r\nAuthorization: Bearer {key}\r\n"
    if body_file != "-":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return [
        f"{method} {template.replace('{id}', i)} HTTP/1.1\r\n{head}\r\n".encode() + body
        for i in ids
    ]


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    offset: int,
    deadline: float,
    latencies: list[float],
    errors: dict[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    index = offset % len(requests)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests[index])
            index = (index + 1) % len(requests)
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status >= 400:
                errors["status"] += 1
    except (OSError, asyncio.IncompleteReadError):
        errors["read"] += 1
    finally:
        writer.close()


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(argv: list[str]) -> None:
    url, connections, seconds, method, template, ids_file, body_file, key = argv
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = build_requests(f"{host}:{port}", method, template, ids_file, body_file, key)
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    started = time.perf_counter()
    deadline = started + float(seconds)
    await asyncio.gather(
        *(
            _connection(host, port, requests, n * 7919, deadline, latencies, errors)
            for n in range(int(connections))
        )
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    us = 1e6
    result = {
        "requests": len(ordered),
        "duration_us": int(elapsed * us),
        "bytes": 0,
        "p50_us": int(_percentile(ordered, 0.50) * us),
        "p90_us": int(_percentile(ordered, 0.90) * us),
        "p99_us": int(_percentile(ordered, 0.99) * us),
        "max_us": int((ordered[-1] if ordered else 0) * us),
        "mean_us": (sum(ordered) / len(ordered) * us) if ordered else 0.0,
        "errors": errors,
    }
    print("BENCH_JSON " + json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
