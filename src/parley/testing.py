"""A real `parley serve` in a child process, for tests and benchmarks (both start it here).

with serve("parley.db", "server.log", args=["--api-key", key]) as server:
    httpx.get(server.url + "/healthz")
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_command(database: str, port: int, args: Sequence[str] = ()) -> list[str]:
    """``python -m parley serve`` on 127.0.0.1:``port`` over ``database``, plus ``args``."""
    return [
        sys.executable,
        *("-m", "parley", "serve", "--host", "127.0.0.1", "--port", str(port)),
        *("--database", database, *args),
    ]


class ServeProcess:
    """A started server process: its port, its log, a clean stop."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """What the server wrote so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig``, wait; SIGKILL only if it has not stopped within ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def launch(
    command: Sequence[str],
    port: int,
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    ready: Callable[[ServeProcess], bool] = lambda server: True,
) -> ServeProcess:
    """Run ``command`` (a server that will listen on ``port``) until /healthz answers 200 and
    ``ready`` agrees; raise with the server's log if it exits or does not come up."""
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, env=dict(env or {}) or None
        )
    server = ServeProcess(process, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"parley serve exited early:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1) as answer:
                if answer.status == 200 and ready(server):
                    return server
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"parley serve did not come up:\n{server.log()}")


@contextlib.contextmanager
def serve(
    database: str,
    log_path: str | Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[ServeProcess]:
    """``parley serve`` over ``database`` on a free loopback port, stopped on the way out."""
    port = free_port()
    server = launch(serve_command(database, port, args), port, Path(log_path), env=env)
    try:
        yield server
    finally:
        server.stop()
