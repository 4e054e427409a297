"""Evidence for server-level changes: the same routes under granian variants and bare floors.

    python bench/variants.py [--routes healthz,retrieve,create] [--uvloop-path DIR]

Every variant serves the same seeded SQLite file (parley's app via granian's own CLI, so its
options can change without touching parley), plus a bare ASGI and a bare RSGI app (bench/bare.py)
as floors. uvloop is tried only from ``--uvloop-path`` (`pip install --target DIR uvloop`), so
the project's environment is not changed: granian picks uvloop up by itself once installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import loadgen
import seed
import server as parley_server
from run import targets

HERE = Path(__file__).resolve().parent
GRANIAN = str(Path(sys.executable).parent / "granian")


def variants(uvloop_path: str | None) -> list[tuple[str, list[str], dict[str, str], str]]:
    """(name, granian options, extra environment, app): what to compare."""
    found = [
        ("parley, granian defaults", [], {}, "parley"),
        ("parley, --task-impl rust", ["--task-impl", "rust"], {}, "parley"),
        ("parley, --runtime-mode st", ["--runtime-mode", "st"], {}, "parley"),
    ]
    if uvloop_path:
        uv = {"PYTHONPATH": uvloop_path}
        found.append(("parley, --loop uvloop", ["--loop", "uvloop"], uv, "parley"))
        found.append(
            (
                "parley, uvloop + task-impl rust",
                ["--loop", "uvloop", "--task-impl", "rust"],
                uv,
                "parley",
            )
        )
    found.append(("bare ASGI app", [], {"PYTHONPATH": str(HERE)}, "bare:asgi"))
    found.append(("bare RSGI app", [], {"PYTHONPATH": str(HERE)}, "bare:rsgi"))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="granian variants and bare floors")
    parser.add_argument("--routes", default="healthz,retrieve,create")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uvloop-path", help="a folder holding uvloop (pip install --target)")
    parser.add_argument("--only", help="comma-separated variant names (substring match)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="parley-bench-variants-"))
    database = str(work / "parley.db")
    key = f"sk-bench-{uuid.uuid4().hex}"
    prepared = parley_server.start(database, work / "prepare.log", api_key=key)
    try:
        seeded = seed.seed(prepared.url, key, work / "seed", conversations=1000, listed=200)
    finally:
        prepared.stop()
    routes = targets(seeded)
    chosen = [r for r in args.routes.split(",") if r]
    results: list[dict[str, object]] = []
    try:
        for name, options, extra_env, app in variants(args.uvloop_path):
            if args.only and not any(o in name for o in args.only.split(",")):
                continue
            port = parley_server.free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "GRANIAN_"))}
            env.update(PARLEY_DATABASE=database, PARLEY_MIGRATE="0", **extra_env)
            target = "parley.app:app_from_env" if app == "parley" else app
            interface = "rsgi" if app.endswith("rsgi") else "asgi"
            command = [GRANIAN, "--interface", interface, "--host", "127.0.0.1"]
            command += ["--port", str(port), *options]
            command += ["--factory", target] if app == "parley" else [target]
            srv = parley_server.launch(
                command, env, port, work / "variant.log", database=database, api_key=key
            )
            try:
                for route in chosen if app == "parley" else ["healthz"]:
                    runs, cpus = [], []
                    for _ in range(args.repeats):
                        opts = {"api_key": key, "connections": args.connections}
                        loadgen.run("wrk", srv.url, routes[route], seconds=args.warmup, **opts)  # type: ignore[arg-type]
                        pids = srv.pids()
                        before = parley_server.cpu_seconds(pids)
                        result = loadgen.run(
                            "wrk", srv.url, routes[route], seconds=args.duration, **opts
                        )  # type: ignore[arg-type]
                        cpus.append(
                            (parley_server.cpu_seconds(pids) - before) / result.requests * 1e6
                        )
                        runs.append(result)
                    row = {
                        "variant": name,
                        "route": route,
                        "rps": statistics.median(r.rps for r in runs),
                        "p99_ms": statistics.median(r.p99_ms for r in runs),
                        "cpu_us_per_request": statistics.median(cpus),
                        "errors": sum(r.error_count for r in runs),
                    }
                    results.append(row)
                    print(
                        f"{name:<34} {route:<10} {row['rps']:>9,.0f} req/s  "
                        f"p99 {row['p99_ms']:6.2f} ms  {row['cpu_us_per_request']:6.1f} µs/req"
                        + (f"  errors {row['errors']}" if row["errors"] else ""),
                        flush=True,
                    )
            finally:
                srv.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"variants-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"variants: wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
