"""Checks `parley serve` makes before it says "serving on": each failure is one line, exit 1.

A second server on a port parley already serves would start anyway (granian binds with
SO_REUSEPORT, so the kernel splits connections between the two), and a second server on one
SQLite file would be a second writer. So the port is tried first without SO_REUSEPORT, and a
SQLite database is claimed with a lock held for the server's life.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from parley.cli.options import describe, is_postgres, sqlite_file
from parley.settings import Settings


class StartupError(Exception):
    """Why the server cannot start, in one line that says what to do."""


def check(chosen: Settings) -> None:
    """Every check, in the order a person would fix them; then claim a SQLite database.

    The claim is held (never released by hand) until this process ends; its granian
    workers are its children.
    """
    check_workers(chosen.database, chosen.workers)
    check_driver(chosen.database)
    check_address(chosen.host, chosen.port)
    claim_database(chosen.database, f"http://{chosen.host}:{chosen.port}")


def check_workers(database: str, workers: int) -> None:
    """One SQLite file has one writer: several worker processes belong on PostgreSQL."""
    if workers > 1 and not is_postgres(database):
        raise StartupError(
            f"--workers {workers} on SQLite: one SQLite file takes one server process. Use "
            "--workers 1, or PostgreSQL (--database postgresql://…) to run several processes."
        )


def check_driver(database: str) -> None:
    """A postgresql:// URL needs asyncpg, an optional dependency."""
    if not is_postgres(database):
        return
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        raise StartupError(
            "a postgresql:// database needs asyncpg, which is not installed: pip install "
            "asyncpg (or pip install 'conversations-server[postgres]')"
        ) from None


def check_address(host: str, port: int) -> None:
    """Refuse a host this machine cannot listen on, and a port something already serves."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise StartupError(f"--host {host!r} is not a host name or address ({exc})") from None
    family, kind, proto, _, address = found[0]
    probe = socket.socket(family, kind, proto)
    try:
        # SO_REUSEADDR (as granian): a port whose last connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is already in use (another parley serve?): stop that "
                "server, or pick another port with --port (PARLEY_PORT)."
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"port {port} on {host} needs privileges: pick a port above 1023 with --port."
            ) from None
        raise StartupError(
            f"cannot listen on {host}:{port}: {exc.strerror} (is --host an address of this "
            "machine? 127.0.0.1 for this machine only, 0.0.0.0 for every interface)"
        ) from None
    finally:
        probe.close()


def lock_path(database: str) -> Path:
    """The lock file that sits beside a SQLite database while a server has it open."""
    return Path(os.path.abspath(sqlite_file(database)) + ".serve-lock")


def claim_database(database: str, url: str) -> None:
    """Claim the SQLite ``database`` for this process; refuse if another server has it.

    A POSIX record lock (``lockf``) rather than ``flock``: forked granian workers do not
    inherit it, so it goes away the moment this process does, however it ends. The descriptor
    stays open for the process's life on purpose. Nothing for PostgreSQL, where several
    server processes belong.
    """
    if is_postgres(database):
        return
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
        os.close(fd)
        pid, where = (holder + ["?", "?"])[:2]
        raise StartupError(
            f"the SQLite database {describe(database)} is open in another parley serve "
            f"(pid {pid}, {where}): stop it (Ctrl-C in its terminal, or kill {pid}) or use "
            "another --database. Several servers on one database need PostgreSQL."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {url}\n".encode(), 0)


def server_holding(database: str) -> str | None:
    """ "pid N, URL" of the server that has the SQLite ``database`` open, else None."""
    path = lock_path(database)
    if is_postgres(database) or not path.exists():
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
            pid, where = (holder + ["?", "?"])[:2]
            return f"pid {pid}, {where}"
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
