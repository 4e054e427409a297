"""Side by side with the peer: parley and ogx 1.5.0 under the same wrk load, in one run.

    python bench/peers.py                      retrieve, list items (20), create; 3 rounds
    python bench/peers.py --quick              one short round
    python bench/peers.py --ogx-venv DIR       where ogx lives (made there when missing)

ogx (the maintained successor of llama-stack) serves OpenAI's Conversations API too. It runs
here as its own docs describe a local stack: ``ogx stack run CONFIG`` (uvicorn, one worker)
with only its built-in conversations service, its SQLite SQL store (``sql_sqlite``) and KV store
(``kv_sqlite``) in a throwaway folder, no authentication, bound to loopback, its per-request
log lines off (``OGX_LOGGING=all=warning``; parley logs no line per request by default either).
parley runs as ``make bench`` runs it: ``parley serve`` on SQLite, one worker, its key check on.

Both are seeded the same way through their own HTTP API (bench/seed.py: n8n-shaped bodies, 3
items and 2 metadata pairs per conversation, 20 more items in each listed one), then each route
is driven by wrk (bench/loadgen.py, bench/route.lua) at the same connection count, the two
servers taking turns route by route, round by round. The ratio per route is parley's median
requests per second over ogx's. ogx needs Python 3.12; without it (or when the install fails)
the run is skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import loadgen
import seed
import server as parley_server

from parley.testing import free_port

HERE = Path(__file__).resolve().parent
OGX_VERSION = "1.5.0"
# Issue 12 part 5: parley over ogx, requests per second, same run.
GOALS = {"retrieve": 100.0, "list_items": 100.0, "create": 30.0}
PYTHON_312 = ("python3.12", "/root/.pyenv/versions/3.12.1/bin/python3.12")

OGX_CONFIG = """\
version: 2
distro_name: parley-bench-peer
apis:
- conversations
providers: {{}}
storage:
  backends:
    kv_default:
      type: kv_sqlite
      db_path: {folder}/kvstore.db
    sql_default:
      type: sql_sqlite
      db_path: {folder}/sql_store.db
  stores:
    metadata:
      namespace: registry
      backend: kv_default
    inference:
      table_name: inference_store
      backend: sql_default
    conversations:
      table_name: openai_conversations
      backend: sql_default
    prompts:
      table_name: prompts
      backend: sql_default
    connectors:
      table_name: connectors
      backend: sql_default
server:
  host: 127.0.0.1
  port: {port}
  workers: 1
  insecure: true
"""


def python_312() -> str | None:
    """A Python 3.12 interpreter: on PATH, or pyenv's."""
    for candidate in PYTHON_312:
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found:
            return found
    return None


def installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('ogx'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_ogx(venv: Path, install: bool) -> str | None:
    """None when ogx OGX_VERSION is ready in ``venv`` (installed there if allowed), else why
    not."""
    version = installed_version(venv)
    if version == OGX_VERSION:
        return None
    if version is not None:
        return f"{venv} holds ogx {version}, not {OGX_VERSION}"
    if not install:
        return f"ogx is not installed in {venv} (and --no-install was given)"
    python = python_312()
    if python is None:
        return "ogx needs Python 3.12, and none was found (python3.12 on PATH or pyenv's)"
    print(f"peers: installing ogx=={OGX_VERSION} into {venv} (Python {python}) …", flush=True)
    steps = [
        [python, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "--quiet", f"ogx=={OGX_VERSION}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"installing ogx failed: {' '.join(step[:3])}: {' | '.join(tail)}"
    version = installed_version(venv)
    return None if version == OGX_VERSION else f"ogx {OGX_VERSION} not importable after install"


class Ogx:
    """A running ``ogx stack run`` on loopback, with the process tree's CPU."""

    def __init__(self, venv: Path, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = folder / "config.yaml"
        config.write_text(OGX_CONFIG.format(folder=folder, port=self.port))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("OGX_", "PYTHON"))},
            "OGX_LOGGING": "all=warning",
            "HOME": str(folder),  # ogx keeps its own files under ~/.ogx
        }
        self.log = (folder / "ogx.log").open("wb")
        self.process = subprocess.Popen(
            [str(venv / "bin" / "ogx"), "stack", "run", str(config), "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
            start_new_session=True,
        )
        self.log_path = folder / "ogx.log"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ogx exited at start:\n{self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ogx did not answer within 120 s:\n{self.log_path.read_text()[-2000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return parley_server.descendants(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.log.close()


def targets(seeded: seed.Seeded) -> list[loadgen.Target]:
    conv = "/v1/conversations/{id}"
    return [
        loadgen.Target("retrieve", "GET", conv, seeded.conversations),
        loadgen.Target("list_items", "GET", conv + "/items", seeded.list_conversations),
        loadgen.Target("create", "POST", "/v1/conversations", None, seeded.create_body),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="parley beside ogx, same wrk load, same run")
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--ogx-venv", type=Path, default=HERE / ".ogx-venv")
    parser.add_argument("--no-install", action="store_true", help="skip when ogx is missing")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=200, help="seeded per server")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.repeats = 3.0, 1.0, 1
    if loadgen.ensure_wrk() is None:
        print("peers: skipped: wrk is not installed")
        return 0
    reason = ensure_ogx(args.ogx_venv, install=not args.no_install)
    if reason is not None:
        print(f"peers: skipped: {reason}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="parley-bench-peers-"))
    key = f"sk-bench-{uuid.uuid4().hex}"
    runs: dict[str, dict[str, list[dict[str, float]]]] = {"parley": {}, "ogx": {}}
    servers: dict[str, tuple[str, list[int]]] = {}
    parley = ogx = None
    try:
        parley = parley_server.start(str(work / "parley.db"), work / "parley.log", api_key=key)
        ogx = Ogx(args.ogx_venv, work / "ogx")
        servers = {"parley": (parley.url, parley.pids()), "ogx": (ogx.url, ogx.pids())}
        seeded = {
            name: seed.seed(
                url,
                key,
                work / f"seed-{name}",
                conversations=args.conversations,
                listed=args.conversations,
            )
            for name, (url, _) in servers.items()
        }
        print(
            f"peers: parley and ogx {OGX_VERSION}, SQLite, {args.conversations} conversations "
            f"each, {args.connections} connections, {args.repeats} round(s) of "
            f"{args.duration:.0f} s per route"
        )
        for _ in range(args.repeats):
            for index, _target in enumerate(targets(seeded["parley"])):
                for name, (url, pids) in servers.items():
                    target = targets(seeded[name])[index]
                    options = {"api_key": key, "connections": args.connections}
                    loadgen.run("wrk", url, target, seconds=args.warmup, **options)  # type: ignore[arg-type]
                    before = parley_server.cpu_seconds(pids)
                    result = loadgen.run("wrk", url, target, seconds=args.duration, **options)  # type: ignore[arg-type]
                    cpu = (parley_server.cpu_seconds(pids) - before) / max(1, result.requests)
                    runs[name].setdefault(target.name, []).append(
                        {
                            "rps": result.rps,
                            "p50_ms": result.p50_ms,
                            "p99_ms": result.p99_ms,
                            "cpu_us_per_request": cpu * 1e6,
                            "errors": result.error_count,
                        }
                    )
                    print(
                        f"  {name:<6} {target.name:<10} {result.rps:>9,.1f} req/s  "
                        f"p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms  "
                        f"{cpu * 1e6:8.0f} µs CPU/req"
                        + (f"  errors {result.error_count}" if result.error_count else ""),
                        flush=True,
                    )
    finally:
        for running in (parley, ogx):
            if running is not None:
                running.stop()
        shutil.rmtree(work, ignore_errors=True)
    medians = {
        name: {
            route: {figure: statistics.median(r[figure] for r in rounds) for figure in rounds[0]}
            for route, rounds in by_route.items()
        }
        for name, by_route in runs.items()
    }
    ratios = {
        route: medians["parley"][route]["rps"] / max(medians["ogx"][route]["rps"], 1e-9)
        for route in GOALS
    }
    print(f"\npeers: parley / ogx {OGX_VERSION}, median req/s of {args.repeats} round(s):")
    for route, ratio in ratios.items():
        met = "met" if ratio >= GOALS[route] else "MISSED"
        print(
            f"  [{met}] {route:<10} {medians['parley'][route]['rps']:>9,.0f} vs "
            f"{medians['ogx'][route]['rps']:>7,.1f} req/s = {ratio:6.1f}x (goal >= "
            f"{GOALS[route]:.0f}x)"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"peers-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {
                "ogx_version": OGX_VERSION,
                "settings": {k: v for k, v in vars(args).items() if k not in ("out", "ogx_venv")},
                "runs": runs,
                "medians": medians,
                "ratios": ratios,
                "goals": GOALS,
            },
            indent=2,
        )
    )
    shutil.copyfile(path, args.out / "peers-latest.json")
    print(f"peers: wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
