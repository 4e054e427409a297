"""Drive one route at a fixed number of connections: wrk when available, else bench/pyload.py."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
LUA = HERE / "route.lua"
PYLOAD = HERE / "pyload.py"
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class Target:
    """One route to drive: method, path template with ``{id}``, ids to rotate over, a body."""

    name: str
    method: str
    path: str
    ids_file: Path | None = None
    body_file: Path | None = None


@dataclass
class LoadResult:
    """What one load-generator run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    loadgen_cpu_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def ensure_wrk(allow_install: bool = True) -> str | None:
    """The path of wrk; installs it with apt-get when missing and we are root."""
    found = shutil.which("wrk")
    if found or not allow_install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("bench: wrk is missing; installing it with apt-get …", file=sys.stderr)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, **quiet)  # type: ignore[call-overload]
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, env=env, **quiet)  # type: ignore[call-overload]
    return shutil.which("wrk")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _parse(stdout: str, stderr: str, command: list[str]) -> dict[str, object]:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            parsed: dict[str, object] = json.loads(line[len(MARKER) :])
            return parsed
    raise RuntimeError(f"no result from {' '.join(command)}:\n{stdout}\n{stderr}")


def run(
    tool: str,
    url: str,
    target: Target,
    *,
    api_key: str,
    connections: int,
    seconds: float,
    threads: int = 2,
) -> LoadResult:
    """Drive ``target`` on ``url`` for ``seconds`` with ``tool`` ("wrk" or "python")."""
    args = [
        target.method,
        target.path,
        str(target.ids_file) if target.ids_file else "-",
        str(target.body_file) if target.body_file else "-",
        api_key,
    ]
    if tool == "wrk":
        command = [
            "wrk",
            f"-t{min(threads, connections)}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
            "--",
            *args,
        ]
    else:
        command = [
            sys.executable,
            str(PYLOAD),
            url,
            str(connections),
            str(seconds),
            *args,
        ]
    before = _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    loadgen_cpu = _children_cpu() - before
    raw = _parse(done.stdout, done.stderr, command)
    errors = raw["errors"]
    assert isinstance(errors, dict)
    us = 1000.0

    def number(key: str) -> float:
        value = raw[key]
        assert isinstance(value, int | float)
        return float(value)

    return LoadResult(
        requests=int(number("requests")),
        seconds=number("duration_us") / 1e6,
        p50_ms=number("p50_us") / us,
        p90_ms=number("p90_us") / us,
        p99_ms=number("p99_us") / us,
        max_ms=number("max_us") / us,
        errors={k: int(v) for k, v in errors.items() if v},
        loadgen_cpu_s=loadgen_cpu,
    )
