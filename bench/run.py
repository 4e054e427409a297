"""`make bench`: start a real `parley serve`, seed it, drive every route, print and save the table.

Beside it runs the floor (bench/bare.py: a bare ASGI app under the same granian settings); each
round measures the floor first, and every route is quoted as a ratio to it.

    python bench/run.py                  full: 3 rounds × (3 s warm-up + 10 s) per route and count
    python bench/run.py --quick          about a minute: 1 round × (1 s + 3 s)
    python bench/run.py --database postgresql://… --workers 2
    python bench/run.py --scale          also the million-conversation store (bench/scale.py)

The load generator and the server share this machine's cores; the table says how much CPU the
server used, and how much everything else on the machine used, during each measured run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import loadgen
import pgdb
import report
import seed
import server as parley_server

HERE = Path(__file__).resolve().parent
BARE = HERE / "bare.py"
ROUTES = ("healthz", "retrieve", "list_items", "create", "add_items", "update")


def targets(seeded: seed.Seeded) -> dict[str, loadgen.Target]:
    """The measured routes; reads first, so writes do not change what reads see."""
    conv = "/v1/conversations/{id}"
    return {
        "healthz": loadgen.Target("healthz", "GET", "/healthz"),
        "retrieve": loadgen.Target("retrieve", "GET", conv, seeded.conversations),
        "list_items": loadgen.Target(
            "list_items", "GET", conv + "/items", seeded.list_conversations
        ),
        "create": loadgen.Target(
            "create", "POST", "/v1/conversations", body_file=seeded.create_body
        ),
        "add_items": loadgen.Target(
            "add_items", "POST", conv + "/items", seeded.conversations, seeded.add_items_body
        ),
        "update": loadgen.Target("update", "POST", conv, seeded.conversations, seeded.update_body),
    }


def backend_of(database: str) -> bool:
    """True for a PostgreSQL URL."""
    return database.startswith(("postgres://", "postgresql://"))


def environment(tool: str) -> dict[str, object]:
    """What the numbers depend on: machine, load before the run, the tools used."""
    top = subprocess.run(
        ["ps", "-eo", "pid,pcpu,etime,args", "--sort=-pcpu"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()[:8]
    wrk_version = ""
    if tool == "wrk":
        wrk_version = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, check=False
        ).stdout.splitlines()[0:1]
    git = ["git", "-C", str(HERE.parent)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        [*git, "status", "--short", "src"], capture_output=True, text=True, check=False
    )
    return {
        "git_commit": commit.stdout.strip(),
        "src_files_changed_since_commit": len(dirty.stdout.splitlines()),
        "cpus": os.cpu_count(),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "top_before": [line[:160] for line in top],
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadgen": tool,
        "loadgen_version": wrk_version,
        "note": "load generator and server share the same cores (loopback)",
    }


def measure(
    tool: str,
    srv: parley_server.Server,
    target: loadgen.Target,
    connections: int,
    *,
    warmup: float,
    seconds: float,
    threads: int,
    repeat: int,
) -> report.Sample:
    """Warm up (discarded), then one measured run with the server's CPU read around it."""
    options = {"api_key": srv.api_key, "connections": connections, "threads": threads}
    if warmup > 0:
        loadgen.run(tool, srv.url, target, seconds=warmup, **options)  # type: ignore[arg-type]
    pids = srv.pids()
    # PostgreSQL's own processes (when it runs here) are the store's CPU, not "other"; they may
    # also serve other users of the same server, which the note in the output says.
    db_pids = (
        parley_server.processes_named("postgres") + parley_server.processes_named("pgbouncer")
        if backend_of(srv.database)
        else []
    )
    cpu_before, busy_before = parley_server.cpu_seconds(pids), parley_server.machine_busy_seconds()
    db_before = parley_server.cpu_seconds(db_pids)
    wall = time.monotonic()
    result = loadgen.run(tool, srv.url, target, seconds=seconds, **options)  # type: ignore[arg-type]
    wall = time.monotonic() - wall
    server_cpu = parley_server.cpu_seconds(pids) - cpu_before
    db_cpu = parley_server.cpu_seconds(db_pids) - db_before
    busy = parley_server.machine_busy_seconds() - busy_before
    return report.Sample(
        route=target.name,
        connections=connections,
        repeat=repeat,
        requests=result.requests,
        seconds=result.seconds,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p90_ms=result.p90_ms,
        p99_ms=result.p99_ms,
        max_ms=result.max_ms,
        errors=result.errors,
        server_cpu_s=server_cpu,
        loadgen_cpu_s=result.loadgen_cpu_s,
        db_cpu_s=db_cpu,
        wall_s=wall,
        other_cpu_s=max(0.0, busy - server_cpu - db_cpu - result.loadgen_cpu_s),
    )


def start_floor(workers: int, work: Path) -> parley_server.Server:
    """bench/bare.py's ASGI app, served by `parley serve`'s own granian settings."""
    port = parley_server.free_port()
    command = [sys.executable, str(BARE), "--port", str(port), "--workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "GRANIAN_"))}
    return parley_server.launch(
        command, env, port, work / "floor.log", database="", api_key="", workers=workers
    )


def run_routes(
    args: argparse.Namespace, tool: str, database: str, work: Path
) -> list[report.Sample]:
    """Start the server on ``database`` (and the floor), seed it, measure the floor and every
    chosen route round by round; stop both."""
    srv = parley_server.start(
        database,
        work / "server.log",
        api_key=f"sk-bench-{uuid.uuid4().hex}",
        workers=args.workers,
        extra_args=args.server_arg,
    )
    samples: list[report.Sample] = []
    floor: parley_server.Server | None = None
    try:
        if not args.no_floor:
            floor = start_floor(args.workers, work)
        started = time.monotonic()
        seeded = seed.seed(
            srv.url,
            srv.api_key,
            work / "seed",
            conversations=args.conversations,
            listed=min(200, args.conversations),
        )
        took = time.monotonic() - started
        print(f"bench: seeded {args.conversations} conversations in {took:.1f} s")
        chosen = [r for r in args.routes.split(",") if r]
        routes = targets(seeded)
        routes[report.FLOOR] = loadgen.Target(report.FLOOR, "GET", "/healthz")
        conns = [int(c) for c in args.connections.split(",") if c]
        for repeat in range(args.repeats):
            for name in ([report.FLOOR] if floor is not None else []) + chosen:
                for connections in conns:
                    sample = measure(
                        tool,
                        floor if floor is not None and name == report.FLOOR else srv,
                        routes[name],
                        connections,
                        warmup=args.warmup,
                        seconds=args.duration,
                        threads=args.threads,
                        repeat=repeat,
                    )
                    samples.append(sample)
                    print(
                        f"  round {repeat + 1}/{args.repeats} {name:<11} c={connections:<3} "
                        f"{sample.rps:>9,.0f} req/s  p50 {sample.p50_ms:6.2f} ms  "
                        f"p99 {sample.p99_ms:6.2f} ms  {sample.cpu_us_per_request:6.1f} µs/req"
                        + (f"  errors {sample.errors}" if sample.errors else ""),
                        flush=True,
                    )
    finally:
        if floor is not None:
            floor.stop()
        code = srv.stop()
        if code not in (0, None):
            print(f"bench: the server exited with {code}; log: {srv.log_path}", file=sys.stderr)
    return samples


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="about a minute: 1 round, short")
    parser.add_argument("--database", help="SQLite file (default: fresh temp) or postgresql://")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--connections", default="32,64", help="comma-separated")
    parser.add_argument("--routes", default=",".join(ROUTES), help="comma-separated subset")
    parser.add_argument("--duration", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, help="warm-up seconds before each run")
    parser.add_argument("--repeats", type=int, help="rounds over all routes; medians are quoted")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--conversations", type=int, default=1000, help="seeded conversations")
    parser.add_argument("--server-arg", action="append", default=[], help="passed to serve")
    parser.add_argument(
        "--pg-as-given", action="store_true", help="use the PostgreSQL database as given"
    )
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="PostgreSQL through Debian's pgbouncer (transaction mode) on a free loopback port",
    )
    parser.add_argument("--render", type=Path, help="print the table of a saved results JSON")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--scale", action="store_true", help="also run bench/scale.py")
    parser.add_argument("--no-client", action="store_true", help="skip bench/client.py")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the bare floor (and so the ratios)"
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    args.repeats = args.repeats or (1 if args.quick else 3)
    return args


def render(path: Path) -> int:
    """Print the table and targets of a saved run again (from its raw samples)."""
    saved = json.loads(path.read_text())
    fields = {f.name for f in dataclasses.fields(report.Sample)}
    samples = [
        report.Sample(**{k: v for k, v in s.items() if k in fields}) for s in saved["samples"]
    ]
    rows = report.summarise(samples)
    print(saved["title"])
    print(report.table(rows))
    print(report.verdict_text(report.check_targets(rows, saved["backend"])))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args.render)
    tool = args.loadgen
    if tool in ("auto", "wrk"):
        tool = "wrk" if loadgen.ensure_wrk() else "python"
        if tool == "python" and args.loadgen == "wrk":
            sys.exit("bench: --loadgen wrk, but wrk is not installed and could not be installed")
    print(f"bench: load generator: {tool}" + ("" if tool == "wrk" else " (a floor, not a limit)"))
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    database = args.database or str(work / "parley.db")
    backend = "postgresql" if backend_of(database) else "sqlite"
    env = environment(tool)
    stack = contextlib.ExitStack()
    if backend == "postgresql" and not args.pg_as_given:
        database = stack.enter_context(pgdb.fresh_database(database))
    if backend == "postgresql" and args.pgbouncer:
        sys.path.insert(0, str(HERE.parent))
        from tests import bouncer

        database = bouncer.through(database, stack.enter_context(bouncer.running(database)))
        args.server_arg.append("--pgbouncer")
        backend = "postgresql-pgbouncer"
    with stack:
        samples = run_routes(args, tool, database, work)
    rows = report.summarise(samples)
    verdicts = report.check_targets(rows, backend)
    title = (
        f"parley {backend}, workers={args.workers}, load generator {tool} on the same "
        f"{os.cpu_count()} cores; medians of {args.repeats} × {args.duration:g} s"
    )
    print()
    print(title)
    print(report.table(rows))
    if verdicts:
        print(f"\nissue 12 targets ({backend}, ratios to the floor, judged at 64 connections):")
        print(report.verdict_text(verdicts))
    env["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    stem = f"http-{backend}-w{args.workers}{'-quick' if args.quick else ''}"
    payload = {
        "title": title,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "backend": backend,
        "workers": args.workers,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "repeats": args.repeats,
        "environment": env,
        "targets": verdicts,
        **report.as_json(rows, samples),
    }
    json_path = args.out / f"{stem}-{stamp}.json"
    json_path.write_text(json.dumps(payload, indent=2))
    shutil.copyfile(json_path, args.out / f"{stem}-latest.json")
    png = report.chart(rows, args.out / f"{stem}-{stamp}.png", title, backend)
    if png is not None:
        shutil.copyfile(png, args.out / f"{stem}-latest.png")
    print(
        f"\nbench: wrote {json_path}"
        + (f" and {png}" if png else " (no PNG: pip install matplotlib)")
    )
    shutil.rmtree(work, ignore_errors=True)
    if not args.no_client:
        import client

        client.main(["--out", str(args.out)] + (["--quick"] if args.quick else []))
    if args.scale:
        import scale

        scale.main(["--out", str(args.out)] + (["--quick"] if args.quick else []))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
