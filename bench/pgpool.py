"""What lending a PostgreSQL connection costs parley per request: asyncpg's Pool against
parley's own (parley.store.postgres_pool) and against a connection held throughout.

    python bench/pgpool.py [--database URL] [--calls 5000] [--rounds 5]

Each call is one request's use of the database: take a connection, run a one-row statement
(``SELECT 1``), give it back, sequentially on uvloop. Printed per way: the event loop
thread's CPU per call (time.thread_time, so the PostgreSQL backend's own CPU on the other
core is not counted) and the wall time, medians of the rounds. The difference between a way
and the held connection is what the lending costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from parley.store.postgres_pool import Pool  # noqa: E402


class _NoReset(asyncpg.Connection):  # type: ignore[misc]
    """asyncpg's pool as parley used it: no reset query on release."""

    def get_reset_query(self) -> str:
        return ""


async def measure(url: str, calls: int, rounds: int) -> dict[str, tuple[float, float]]:
    held = await asyncpg.connect(url)
    theirs = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=4,
        max_inactive_connection_lifetime=0,
        connection_class=_NoReset,
    )
    ours = Pool(lambda: asyncpg.connect(url), 4)

    async def via_held() -> None:
        await held.fetchval("SELECT 1")

    async def via_asyncpg() -> None:
        async with theirs.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def via_parley() -> None:
        conn = await ours.acquire()
        try:
            await conn.fetchval("SELECT 1")
        finally:
            ours.release(conn)

    ways: dict[str, Callable[[], Awaitable[None]]] = {
        "held connection": via_held,
        "asyncpg Pool": via_asyncpg,
        "parley Pool": via_parley,
    }
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    try:
        for _ in range(rounds):
            for name, call in ways.items():  # interleaved: drift hits every way alike
                for _ in range(calls // 10):
                    await call()
                cpu, wall = time.thread_time(), time.perf_counter()
                for _ in range(calls):
                    await call()
                runs[name].append(
                    ((time.thread_time() - cpu) / calls, (time.perf_counter() - wall) / calls)
                )
    finally:
        await held.close()
        await theirs.close()
        await ours.close()
    return {
        name: (statistics.median(c for c, _ in got), statistics.median(w for _, w in got))
        for name, got in runs.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    found: Any = uvloop.run(measure(args.database, args.calls, args.rounds))
    base_cpu = found["held connection"][0]
    print(f"{'way':<16} {'CPU/call':>9} {'wall/call':>10} {'lending CPU':>12}  (µs, median)")
    for name, (cpu, wall) in found.items():
        print(f"{name:<16} {cpu * 1e6:9.1f} {wall * 1e6:10.1f} {(cpu - base_cpu) * 1e6:12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
