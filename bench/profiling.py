"""Where a route's time goes: py-spy samples the granian worker while wrk drives the route.

    python bench/profiling.py                      retrieve, list_items, create (10 s each)
    python bench/profiling.py --routes healthz --seconds 15 --native
    python bench/profiling.py --database postgresql://postgres@127.0.0.1:5432/postgres
    python bench/profiling.py --database postgresql://... --routes create --perf-postgres

Prints, per route, the functions with the largest share of the worker's sampled time: "self"
(the function itself was running) and "total" (it was on the stack). Saves py-spy's collapsed
stacks and a flame graph SVG under bench/results/profile/. Needs py-spy (`pip install py-spy`).
With ``--perf-postgres`` (Linux `perf`, root), the PostgreSQL backends serving the run's
database are sampled too (on-CPU, call graphs) while py-spy samples the worker, and the share
of their time in each part of a statement's life is printed (POSTGRES_PARTS).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import loadgen
import pgdb
import seed
import server as parley_server
from run import targets

HERE = Path(__file__).resolve().parent

# The parts of a PostgreSQL backend's time, each as the inclusive share of one function (or
# more) in perf's call graphs; they nest (index inserts sit inside ExecutorFinish for a CTE's
# inserts), so the shares do not add up to 100 %.
POSTGRES_PARTS = [
    ("waiting for and reading the next message", ["pq_getbyte"]),
    ("running the statement (PortalRun)", ["PortalRun"]),
    ("  executor start-up", ["standard_ExecutorStart"]),
    ("  executor run (the statement's first node)", ["standard_ExecutorRun"]),
    ("  executor finish (a CTE's inserts)", ["standard_ExecutorFinish"]),
    ("    index entries", ["ExecInsertIndexTuples"]),
    ("      b-tree", ["btinsert"]),
    ("      GIN", ["gininsert"]),
    ("    heap rows", ["heap_insert", "heap_update"]),
    ("    to_tsvector", ["to_tsvector_byid"]),
    ("  PL/pgSQL (update's function)", ["plpgsql_call_handler"]),
    ("  the cached plan's check (and re-planning)", ["GetCachedPlan"]),
    ("binary array parameters", ["array_recv"]),
    ("commit", ["CommitTransactionCommand"]),
    ("  WAL flush", ["XLogFlush"]),
    ("    fdatasync", ["fdatasync"]),
    ("sending the answer", ["__send"]),
    ("the kernel's scheduler (switching in and out)", ["__schedule"]),
]

# Only the kernel's call graphs are whole (Python and Cython frames carry no frame pointers):
# the rest of the worker's time is given per binary below.
WORKER_PARTS = [
    ("system calls (the kernel's side of sockets, epoll)", ["entry_SYSCALL_64_after_hwframe"]),
    ("  sending on a socket", ["__sys_sendto", "sock_write_iter"]),
    ("  epoll", ["do_epoll_wait"]),
    ("the kernel's scheduler (switching in and out)", ["__schedule"]),
]


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``; line numbers dropped."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


def shares(collapsed: Path) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """Total samples; per function its self and inclusive counts; samples per kind of stack.

    Stacks rooted at the worker's main module run under asyncio's loop; stacks rooted elsewhere
    were entered straight from granian's Rust code (coroutine steps, scheduling callbacks).
    """
    total = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    roots: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [_short(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        count = int(count_text)
        total += count
        loop_thread = frames[0].startswith("_run_module_as_main")
        roots["under asyncio's loop" if loop_thread else f"entered from Rust: {frames[0]}"] += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return total, own, inclusive, roots


def record(pid: int, seconds: float, out: Path, fmt: str, native: bool, gil: bool = False) -> None:
    """py-spy record of ``pid`` for ``seconds`` into ``out``."""
    command = [
        shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "200",
        "--format",
        fmt,
        "--output",
        str(out),
        "--nonblocking",
    ]
    if native:
        command.append("--native")
    if gil:
        command.append("--gil")
    subprocess.run(command, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="py-spy profile of parley routes under wrk")
    parser.add_argument("--routes", default="retrieve,list_items,create")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--native", action="store_true", help="include C frames (slower)")
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample only the thread holding the GIL: how the one interpreter's time is split",
    )
    parser.add_argument("--server-arg", action="append", default=[])
    parser.add_argument(
        "--database", help="a PostgreSQL server URL: a fresh database next to it (default: SQLite)"
    )
    parser.add_argument(
        "--perf-postgres", action="store_true", help="perf record the PostgreSQL backends too"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profile")
    args = parser.parse_args(argv)
    if args.database:
        with pgdb.fresh_database(args.database) as url:
            return profile(args, url)
    return profile(args, None)


def profile(args: argparse.Namespace, database: str | None) -> int:
    """Profile each route of ``args`` on a server over ``database`` (None: a SQLite file)."""
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="parley-profile-"))
    srv = parley_server.start(
        database or str(work / "parley.db"),
        work / "server.log",
        api_key=f"sk-bench-{uuid.uuid4().hex}",
        extra_args=args.server_arg,
    )
    try:
        seeded = seed.seed(srv.url, srv.api_key, work / "seed", conversations=1000, listed=200)
        routes = targets(seeded)
        (worker,) = srv.worker_pids()
        for name in args.routes.split(","):
            target = routes[name]
            loadgen.run(
                "wrk", srv.url, target, api_key=srv.api_key, connections=args.connections, seconds=2
            )
            raw = args.out / f"{name}.collapsed"
            svg = args.out / f"{name}.svg"
            with ThreadPoolExecutor(1) as pool:
                driving = pool.submit(
                    loadgen.run,
                    "wrk",
                    srv.url,
                    target,
                    api_key=srv.api_key,
                    connections=args.connections,
                    seconds=2 * args.seconds + 4,
                )
                perf = on_cpu = None
                if args.perf_postgres and database is not None:
                    perf = _perf_start(_backends(database), args.out / f"{name}.postgres.perf")
                    on_cpu = _perf_start([worker], args.out / f"{name}.worker.perf")
                record(worker, args.seconds, raw, "raw", args.native, args.gil)
                for recording in (perf, on_cpu):
                    if recording is not None:
                        _perf_stop(recording)
                record(worker, args.seconds, svg, "flamegraph", args.native, args.gil)
                driven = driving.result()
            total, own, inclusive, roots = shares(raw)
            print(
                f"\n== {name}: {driven.rps:,.0f} req/s under py-spy, {total} samples "
                f"(collapsed: {raw}, flame graph: {svg})"
            )
            for root, count in roots.most_common(6):
                print(f"  {100 * count / total:5.1f} %  {root}")
            print(f"{'self %':>7} {'total %':>8}  function")
            for frame, count in own.most_common(args.top):
                print(f"{100 * count / total:7.1f} {100 * inclusive[frame] / total:8.1f}  {frame}")
            print("-- largest inclusive shares --")
            # Frames on every event-loop stack (runpy, click, granian's start-up) say nothing.
            chain = max(inclusive.values())
            shown = [(f, c) for f, c in inclusive.most_common() if c < chain][: args.top]
            for frame, count in shown:
                print(f"{100 * own[frame] / total:7.1f} {100 * count / total:8.1f}  {frame}")
            if perf is not None:
                _print_postgres_parts(args.out / f"{name}.postgres.perf")
            if on_cpu is not None:
                _print_worker_parts(args.out / f"{name}.worker.perf")
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _backends(database: str) -> list[int]:
    """The pids of the PostgreSQL backends connected to ``database``'s database."""
    import asyncio

    import asyncpg

    async def pids() -> list[int]:
        conn = await asyncpg.connect(database)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        return [int(row[0]) for row in rows]

    return asyncio.run(pids())


def _perf_start(pids: list[int], out: Path) -> subprocess.Popen[bytes] | None:
    if not pids or shutil.which("perf") is None:
        print("profiling: no processes to sample, or no perf")
        return None
    command = ["perf", "record", "-F", "999", "-g", "-o", str(out), "-p", ",".join(map(str, pids))]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _perf_stop(perf: subprocess.Popen[bytes]) -> None:
    perf.send_signal(signal.SIGINT)
    perf.wait(timeout=60)


def _perf_report(data: Path, *options: str) -> str:
    """`perf report` of a recording as text, flat (no call graphs)."""
    command = ["perf", "report", "-i", str(data), *options, "--stdio", "-g", "none"]
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout


def _children(data: Path) -> dict[str, float]:
    """Each symbol's inclusive share (%) in a perf recording."""
    report = _perf_report(data, "--children", "--sort", "symbol")
    children: dict[str, float] = {}
    for line in report.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0].endswith("%") and fields[2] in ("[.]", "[k]"):
            children.setdefault(fields[3], float(fields[0].rstrip("%")))
    return children


def _print_worker_parts(data: Path) -> None:
    """The worker's on-CPU time in the kernel by part, and per binary (self time)."""
    children = _children(data)
    print(f"-- the granian worker (perf, on-CPU; inclusive %, nested): {data}")
    for label, functions in WORKER_PARTS:
        share = sum(children.get(function, 0.0) for function in functions)
        print(f"{share:7.1f}  {label}")
    by_object = _perf_report(data, "--no-children", "--sort", "dso")
    print("   self % by binary:")
    shown = [line.strip() for line in by_object.splitlines() if line.strip()[:1].isdigit()]
    for line in shown[:8]:
        print(f"   {line}")


def _print_postgres_parts(data: Path) -> None:
    """Inclusive shares of POSTGRES_PARTS in a perf recording of the backends."""
    children = _children(data)
    print(f"-- PostgreSQL backends (perf, on-CPU; inclusive %, nested): {data}")
    for label, functions in POSTGRES_PARTS:
        share = sum(children.get(function, 0.0) for function in functions)
        print(f"{share:7.1f}  {label}")


if __name__ == "__main__":
    raise SystemExit(main())
