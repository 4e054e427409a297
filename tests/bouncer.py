"""Debian's real PgBouncer in transaction mode, in front of the test PostgreSQL, for the tests
that run parley through it (``--pgbouncer``)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from parley.testing import free_port

BINARY = "/usr/sbin/pgbouncer"


def missing() -> str | None:
    """Why PgBouncer tests cannot run here, or None when they can."""
    if shutil.which("pgbouncer") is None and not Path(BINARY).exists():
        return "PgBouncer tests need Debian's pgbouncer (apt-get install pgbouncer; .ci/run does)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "PgBouncer will not run as root, and there is no postgres user to run it as"
    return None


def through(url: str, port: int) -> str:
    """``url`` (a PostgreSQL URL) sent to the bouncer on 127.0.0.1:``port`` instead."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    return urlunsplit((parts.scheme, f"{user}@127.0.0.1:{port}", parts.path, "", ""))


@contextmanager
def running(server_url: str) -> Iterator[int]:
    """PgBouncer on a free loopback port, pool_mode = transaction, for every database of the
    server at ``server_url``; yields its port and stops it after."""
    # PgBouncer will not run as root: it switches to the postgres user (`user =`), who must
    # reach its files, so they live in a directory of their own under /tmp.
    work = Path(tempfile.mkdtemp(prefix="parley-pgbouncer-"))
    switch = ""
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(work, owner.pw_uid, owner.pw_gid)
        switch = "user = postgres\n"
    try:
        with _started(server_url, work, switch) as port:
            yield port
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def _started(server_url: str, work: Path, switch: str) -> Iterator[int]:
    target = urlsplit(server_url)
    port = free_port()
    user = target.username or "postgres"
    (work / "users.txt").write_text(f'"{user}" ""\n')
    ini = work / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={target.hostname or '127.0.0.1'} port={target.port or 5432} user={user}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {work / 'users.txt'}\n"
        "pool_mode = transaction\n"
        # Few server connections for many clients: statements of different clients do land
        # on one server connection one after the other, as in production.
        "default_pool_size = 4\n"
        "max_client_conn = 500\n"
        f"logfile = {work / 'pgbouncer.log'}\n"
        f"pidfile = {work / 'pgbouncer.pid'}\n" + switch
    )
    binary = shutil.which("pgbouncer") or BINARY
    errors = work / "stderr.txt"
    with errors.open("wb") as stderr:
        process = subprocess.Popen(
            [binary, str(ini)], stdout=subprocess.DEVNULL, stderr=stderr, cwd=work
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "pgbouncer did not start: " + errors.read_text(errors="replace")
                    ) from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
