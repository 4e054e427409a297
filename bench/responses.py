"""What parley adds per response over calling the same model server directly.

Three processes on loopback: the deterministic upstream (tests/upstream.py), `parley serve
--upstream` over it, and this client. Sequential calls (one at a time, keep-alive), so the
latency is the request's own, not a queue's. For each mode the same upstream answer is fetched
directly (Chat Completions) and through parley (/v1/responses):

- whole:        `store: false`, no conversation: translation and the HTTP hop only.
- conversation: `store: true` on a conversation of 2 items (a fresh one per call): the
                context read, the stored response and the appended turn, in one transaction.
- stream:       `stream: true`; first-delta lag = when the client saw the first text delta
                minus when the upstream wrote its first chunk (both CLOCK_MONOTONIC, so
                comparable across processes); direct, the same for the raw chunk.

The commit floor: what one durable commit costs on this machine, without parley. On SQLite an
os.fsync of a 4 KiB write in the database's folder, and a one-row WAL transaction with
`synchronous = FULL` (what parley's writer runs); on PostgreSQL a one-row INSERT in its own
transaction (the WAL flush of `synchronous_commit = on`) over asyncpg. The conversation mode's
added latency minus this floor is what parley adds on top of making the turn durable.

Run: .venv/bin/python bench/responses.py [--calls 500] [--rounds 3] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import server as bench_server  # noqa: E402

KEY = "sk-bench-responses"
MODEL = "bench"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_upstream() -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.upstream"],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}/v1"


def first_chunks(upstream: str) -> list[float]:
    answer = httpx.get(f"{upstream}/_first_chunks/{MODEL}")
    return list(answer.json())


def timed(call: Any) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def commit_floor(folder: Path, database: str | None, calls: int) -> dict[str, float]:
    """p50 seconds of one durable commit without parley (see the module's docstring)."""
    out: dict[str, float] = {}
    if database is None:
        fd = os.open(folder / "fsync-probe", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            times = []
            for _ in range(calls):
                os.write(fd, b"x" * 4096)
                began = time.perf_counter()
                os.fsync(fd)
                times.append(time.perf_counter() - began)
        finally:
            os.close(fd)
        out["fsync"] = pct(times, 0.5)
        for name in ("floor.db", "floor.db-wal", "floor.db-shm"):  # a fresh one each round
            (folder / name).unlink(missing_ok=True)
        conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE t (data BLOB)")
        row = b"y" * 2000
        out["commit"] = pct(
            [
                timed(
                    lambda: (
                        conn.execute("BEGIN IMMEDIATE"),
                        conn.execute("INSERT INTO t VALUES (?)", (row,)),
                        conn.execute("COMMIT"),
                    )
                )
                for _ in range(calls)
            ],
            0.5,
        )
        conn.close()
        return out
    import asyncpg

    async def postgres() -> float:
        conn = await asyncpg.connect(database)
        try:
            # Not a temp table: those skip the WAL, whose flush is the cost measured.
            await conn.execute("CREATE TABLE IF NOT EXISTS bench_floor_probe (data bytea)")
            times = []
            row = b"y" * 2000
            for _ in range(calls):
                began = time.perf_counter()
                await conn.execute("INSERT INTO bench_floor_probe VALUES ($1)", row)
                times.append(time.perf_counter() - began)
            await conn.execute("DROP TABLE bench_floor_probe")
            return pct(times, 0.5)
        finally:
            await conn.close()

    out["commit"] = asyncio.run(postgres())
    return out


def run_round(upstream: str, parley: bench_server.Server, calls: int) -> dict[str, Any]:
    base = f"{parley.url}/v1"
    auth = {"authorization": f"Bearer {KEY}"}
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hello there"}]}
    out: dict[str, Any] = {}
    with httpx.Client(timeout=30) as client:
        # Warm both paths (connections, caches).
        for _ in range(20):
            client.post(f"{upstream}/chat/completions", json=chat).raise_for_status()
            client.post(
                f"{base}/responses",
                json={"model": MODEL, "input": "hi", "store": False},
                headers=auth,
            ).raise_for_status()

        direct = [
            timed(lambda: client.post(f"{upstream}/chat/completions", json=chat).raise_for_status())
            for _ in range(calls)
        ]
        cpu = parley.cpu_seconds()
        via = [
            timed(
                lambda: client.post(
                    f"{base}/responses",
                    json={"model": MODEL, "input": "hello there", "store": False},
                    headers=auth,
                ).raise_for_status()
            )
            for _ in range(calls)
        ]
        out["whole"] = (direct, via, (parley.cpu_seconds() - cpu) / calls)

        conversations = []
        for _ in range(calls):
            made = client.post(
                f"{base}/conversations",
                json={
                    "items": [
                        {"role": "user", "content": "I am Bo."},
                        {"role": "assistant", "content": "Hi Bo."},
                    ]
                },
                headers=auth,
            )
            conversations.append(made.json()["id"])
        chat3 = {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": "I am Bo."},
                {"role": "assistant", "content": "Hi Bo."},
                {"role": "user", "content": "hello there"},
            ],
        }
        direct = [
            timed(
                lambda: client.post(f"{upstream}/chat/completions", json=chat3).raise_for_status()
            )
            for _ in range(calls)
        ]
        cpu = parley.cpu_seconds()
        via = [
            timed(
                lambda c=c: client.post(
                    f"{base}/responses",
                    json={"model": MODEL, "input": "hello there", "conversation": c},
                    headers=auth,
                ).raise_for_status()
            )
            for c in conversations
        ]
        out["conversation"] = (direct, via, (parley.cpu_seconds() - cpu) / calls)

        def first_line(
            url: str, body: dict[str, Any], marker: str, headers: dict[str, str]
        ) -> tuple[float, float]:
            began = time.perf_counter()
            seen = 0.0
            with client.stream("POST", url, json=body, headers=headers) as answer:
                for line in answer.iter_lines():
                    if not seen and marker in line:
                        seen = time.perf_counter()
            return seen, time.perf_counter() - began

        before = len(first_chunks(upstream))
        direct_first = [
            first_line(
                f"{upstream}/chat/completions", {**chat, "stream": True}, '"content": "echo', {}
            )
            for _ in range(calls)
        ]
        sent = first_chunks(upstream)[before:]
        direct_lag = [seen - up for (seen, _), up in zip(direct_first, sent, strict=True)]
        cpu = parley.cpu_seconds()
        before = len(first_chunks(upstream))
        via_first = [
            first_line(
                f"{base}/responses",
                {"model": MODEL, "input": "hello there", "store": False, "stream": True},
                "output_text.delta",
                auth,
            )
            for _ in range(calls)
        ]
        stream_cpu = (parley.cpu_seconds() - cpu) / calls
        sent = first_chunks(upstream)[before:]
        via_lag = [seen - up for (seen, _), up in zip(via_first, sent, strict=True)]
        out["stream"] = ([t for _, t in direct_first], [t for _, t in via_first], stream_cpu)
        out["first_delta"] = (direct_lag, via_lag)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--database", default=None, help="PostgreSQL URL (default: a temp SQLite file)"
    )
    args = parser.parse_args()
    upstream_process, upstream = start_upstream()
    rounds = []
    try:
        folder = Path(tempfile.mkdtemp(prefix="parley-bench-responses-"))
        database = args.database or str(folder / "parley.db")
        parley = bench_server.start(
            database, folder / "server.log", api_key=KEY, extra_args=["--upstream", upstream]
        )
        try:
            for _ in range(args.rounds):
                rounds.append(run_round(upstream, parley, args.calls))
                rounds[-1]["floor"] = commit_floor(folder, args.database, min(args.calls, 200))
        finally:
            parley.stop()
    finally:
        # Whatever failed, the upstream process must not outlive the benchmark.
        upstream_process.terminate()
        upstream_process.wait()
    report: dict[str, Any] = {
        "calls": args.calls,
        "rounds": args.rounds,
        "backend": "postgres" if args.database else "sqlite",
    }
    print(
        f"{'mode':14s} {'direct p50':>10s} {'p99':>8s} {'parley p50':>10s} {'p99':>8s} "
        f"{'added p50':>9s} {'p99':>8s} {'CPU/resp':>9s}  (ms, median of rounds)"
    )
    for mode in ("whole", "conversation", "stream"):
        rows = [r[mode] for r in rounds]
        d50 = statistics.median(pct(d, 0.5) for d, _, _ in rows) * 1e3
        d99 = statistics.median(pct(d, 0.99) for d, _, _ in rows) * 1e3
        v50 = statistics.median(pct(v, 0.5) for _, v, _ in rows) * 1e3
        v99 = statistics.median(pct(v, 0.99) for _, v, _ in rows) * 1e3
        cpu = statistics.median(c for _, _, c in rows) * 1e3
        report[mode] = {
            "direct_p50_ms": round(d50, 3),
            "direct_p99_ms": round(d99, 3),
            "parley_p50_ms": round(v50, 3),
            "parley_p99_ms": round(v99, 3),
            "added_p50_ms": round(v50 - d50, 3),
            "added_p99_ms": round(v99 - d99, 3),
            "parley_cpu_ms_per_response": round(cpu, 3),
        }
        print(
            f"{mode:14s} {d50:10.2f} {d99:8.2f} {v50:10.2f} {v99:8.2f} "
            f"{v50 - d50:9.2f} {v99 - d99:8.2f} {cpu:9.2f}"
        )
    lags = [r["first_delta"] for r in rounds]
    direct_lag = statistics.median(pct(d, 0.5) for d, _ in lags) * 1e3
    via_lag = statistics.median(pct(v, 0.5) for _, v in lags) * 1e3
    via_lag99 = statistics.median(pct(v, 0.99) for _, v in lags) * 1e3
    report["first_delta"] = {
        "direct_lag_p50_ms": round(direct_lag, 3),
        "parley_lag_p50_ms": round(via_lag, 3),
        "parley_lag_p99_ms": round(via_lag99, 3),
    }
    print(
        f"first delta after the upstream's first chunk: direct {direct_lag:.2f} ms, "
        f"through parley {via_lag:.2f} ms (p99 {via_lag99:.2f})"
    )
    floor = {
        f"{name}_p50_ms": round(statistics.median(r["floor"][name] for r in rounds) * 1e3, 3)
        for name in rounds[0]["floor"]
    }
    added = report["conversation"]["added_p50_ms"]
    floor["conversation_added_minus_commit_ms"] = round(added - floor["commit_p50_ms"], 3)
    report["commit_floor"] = floor
    probes = ", ".join(f"{k[:-7]} {v:.2f} ms" for k, v in floor.items() if k.endswith("_p50_ms"))
    rest = floor["conversation_added_minus_commit_ms"]
    print(f"commit floor without parley (p50): {probes}; conversation added - commit {rest:.2f}")
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "responses-latest.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
