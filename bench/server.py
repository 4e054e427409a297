"""Start and stop a real `parley serve` for the benchmarks (through `parley.testing`, as the
tests do), and read its CPU time from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from parley import testing
from parley.testing import free_port

__all__ = ["Server", "cpu_seconds", "descendants", "free_port", "launch", "start"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses; everything after the last ')' is safe.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (granian's workers are children of the server)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (gone processes count zero)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def processes_named(name: str) -> list[int]:
    """Pids whose command name is ``name`` (e.g. the PostgreSQL server's processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == name:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine spent busy (the aggregate line of /proc/stat)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


@dataclass
class Server:
    """A running `parley serve` and what the benchmark needs to drive it."""

    process: subprocess.Popen[bytes]
    port: int
    api_key: str
    database: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The server process and its granian workers."""
        return descendants(self.process.pid)

    def worker_pids(self) -> list[int]:
        """Only the granian worker processes (where the application runs)."""
        return [pid for pid in self.pids() if pid != self.process.pid]

    def cpu_seconds(self) -> float:
        """CPU seconds the whole server tree has used so far."""
        return cpu_seconds(self.pids())

    def stop(self) -> int:
        """SIGTERM, then wait; SIGKILL only if it does not stop within 20 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start(
    database: str,
    log_path: Path,
    *,
    api_key: str,
    workers: int = 1,
    extra_args: list[str] | None = None,
) -> Server:
    """Start `python -m parley serve` on a free loopback port; wait until /healthz answers."""
    port = free_port()
    args = ["--api-key", api_key, "--workers", str(workers), *(extra_args or [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    command = testing.serve_command(database, port, args)
    return launch(command, env, port, log_path, database=database, api_key=api_key, workers=workers)


def launch(
    command: list[str],
    env: dict[str, str],
    port: int,
    log_path: Path,
    *,
    database: str,
    api_key: str,
    workers: int = 1,
) -> Server:
    """Run ``command`` (a server listening on ``port``); wait until /healthz answers and every
    worker process is up."""
    started = testing.launch(
        command,
        port,
        log_path,
        env=env,
        ready=lambda server: len(descendants(server.process.pid)) > workers,
    )
    return Server(started.process, port, api_key, database, log_path)
