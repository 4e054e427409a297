"""What changes whenever any process commits to a SQLite file in WAL mode, read without a statement.

In WAL mode every commit, by any connection of any process, rewrites the header at the start
of the ``-shm`` file, the WAL-index (https://www.sqlite.org/walformat.html, "The WAL-Index
Header": a change counter incremented with each transaction, the last valid frame, the WAL's
salts and checksums; the format every process sharing a file must agree on). A new read
transaction sees a commit exactly when this header shows it, so the 48 bytes are the
database's version as any reader sees it: what ``PRAGMA data_version`` reports, but read from
a shared mapping, with no statement (each sqlite3 call lets go of the GIL twice) and no system
call. :class:`CommitSignal` is how the key cache (``SQLiteKeys.project_for_key``) knows that
nothing, a revoke by `parley keys` in another process included, has been committed since it
last looked a key up.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import threading

# The first copy of the WAL-index information (walformat.html, 2.1): bytes 0..47.
HEADER = 48


class _Mapped:
    """One -shm file's descriptor and view in this process, and how many signals use them."""

    def __init__(self, fd: int, view: mmap.mmap) -> None:
        self.fd = fd
        self.view = view
        self.users = 1


# The -shm files mapped by this process, by (device, inode). A descriptor of a -shm file
# must stay open while any SQLite connection of this process has the file open: SQLite's
# locks on it are POSIX record locks, which the kernel drops when the process closes *any*
# descriptor of the file. Closing ours early dropped the "dead man switch" lock that tells
# other processes the index is in use, so the next process to open the file truncated it
# and this process's SQLite died of SIGBUS (seen in tests/test_backup.py). So one
# descriptor per file, shared, closed with its last user.
_MAPPED: dict[tuple[int, int], _Mapped] = {}
_LOCK = threading.Lock()


class CommitSignal:
    """A read-only view of a WAL-mode file's WAL-index header."""

    def __init__(self, key: tuple[int, int], view: mmap.mmap) -> None:
        self._key = key
        self._view = view

    @classmethod
    def open(cls, path: str, conn: sqlite3.Connection) -> CommitSignal | None:
        """The signal of the file at ``path``, which ``conn`` has open; None when the file is
        not in WAL mode with a shared-memory index (callers then look everything up).

        ``conn`` must stay open while the signal is used, and :meth:`close` must come after
        every connection of the store is closed: an open WAL connection holds the ``-shm``
        file open and initialised, so no other process can truncate or remove it (SQLite
        resets it only when no connection anywhere has it open).
        """
        row = conn.execute("PRAGMA journal_mode").fetchone()
        if row is None or str(row[0]).lower() != "wal":
            return None
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # maps the index
        shm = path + "-shm"
        try:
            found = os.stat(shm)
        except OSError:
            return None
        key = (found.st_dev, found.st_ino)
        with _LOCK:
            held = _MAPPED.get(key)
            if held is not None:
                held.users += 1
                return cls(key, held.view)
            try:
                fd = os.open(shm, os.O_RDONLY)
            except OSError:
                return None
            try:
                view = mmap.mmap(fd, HEADER, mmap.MAP_SHARED, mmap.PROT_READ)
            except (OSError, ValueError):
                # Left open on purpose: closing it would drop SQLite's locks (see _MAPPED).
                return None
            _MAPPED[key] = _Mapped(fd, view)
            return cls(key, view)

    def version(self) -> bytes:
        """The header as it is now: different after any commit since the last call.

        A read racing a commit may see a torn header; that differs from both the old and the
        new one, which costs a lookup, never a missed commit.
        """
        return self._view[:HEADER]

    def close(self) -> None:
        """Let go of the view; the last user of the file unmaps it and closes its descriptor."""
        with _LOCK:
            held = _MAPPED.get(self._key)
            if held is None:
                return
            held.users -= 1
            if held.users > 0:
                return
            del _MAPPED[self._key]
        held.view.close()
        os.close(held.fd)
