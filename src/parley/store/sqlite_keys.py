"""SQLite store methods for projects, API keys and the dashboard's sessions and summaries."""

from __future__ import annotations

import sqlite3
import time

from parley.errors import KeyExists
from parley.models import ApiKeyInfo, ConversationSummary, DashboardSession
from parley.store import sqlite_dashboard as dashboard
from parley.store import sqlite_ops as ops
from parley.store.sqlite_core import SQLiteCore
from parley.store.sqlite_writer import OWN_COMMITS

# Keys are few; past this many cached, further ones are looked up every time.
_KEY_CACHE_LIMIT = 10_000


class SQLiteKeys(SQLiteCore):
    """Projects, API keys and dashboard sessions of :class:`parley.store.sqlite.SQLiteStore`."""

    async def ensure_project(self, name: str) -> str:
        def op(conn: sqlite3.Connection) -> str:
            return ops.ensure_project(conn, name)

        return await self._write(op)

    async def add_api_key(
        self, *, key_id: str, project_name: str, name: str, hint: str, key_hash: bytes
    ) -> ApiKeyInfo:
        now = int(time.time())

        def op(conn: sqlite3.Connection) -> ApiKeyInfo:
            project_id = ops.ensure_project(conn, project_name)
            inserted = conn.execute(
                "INSERT INTO api_keys (id, project_id, name, hint, key_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING",
                (key_id, project_id, name, hint, key_hash, now),
            )
            if inserted.rowcount == 0:
                raise _key_exists()
            return ApiKeyInfo(key_id, project_name, name, hint, now)

        return await self._write(op)

    def _only_own_commits(self, version: bytes) -> bool:
        """Whether every commit from ``_keys_version`` to ``version`` was a key-neutral one
        of this process's writer."""
        since, own = self._keys_version, self._writer.own_commits
        if not since:
            return False
        for _ in range(OWN_COMMITS):
            before = own.get(version)
            if before is None:
                return False
            if before == since:
                return True
            version = before
        return False

    async def project_for_key(self, key_hash: bytes) -> str | None:
        # A key found active is trusted while the database has not changed since (its
        # WAL-index header, CommitSignal, is the same 48 bytes): any commit in any process,
        # a revoke by `parley keys` included, changes it, so a revoked key still fails on its
        # next request everywhere. Without a commit no statement runs, and so none of the
        # eight GIL releases a one-row sqlite3 statement makes, each a hand-off to granian's
        # waiting thread under load: retrieve 0.23-0.25x -> 0.32x the floor, 80-91 -> 62-67
        # µs of server CPU per request (bench/README.md, "the reads, third session").
        # Commits of this process's writer that wrote only conversations and responses do
        # not count (Writer.own_commits: nothing else committed between, by the header's
        # change counter), so a conversation turn or an append does not cost the next
        # request a lookup.
        commits = self._commits
        version = b"" if commits is None else commits.version()
        if version:
            if version == self._keys_version or self._only_own_commits(version):
                self._keys_version = version
                project = self._key_projects.get(key_hash)
                if project is not None:
                    return project
            else:
                self._key_projects.clear()
                self._keys_version = version
        # Looked up outside the shared snapshot, on a connection of its own that sees every
        # commit at once: a key minted or revoked by `parley keys` in another process counts
        # from the next request, not from the next snapshot. A lookup by a unique key, so
        # straight on the connection (see SQLiteCore._keyed_row).
        conn = self._auth
        if conn is None:
            raise RuntimeError("the store is not open")
        row = conn.execute(
            "SELECT project_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
            (key_hash,),
        ).fetchone()
        if row is None:
            return None
        project = str(row[0])
        # The version was read before the lookup: a commit in between leaves the entry
        # tagged with the older version, so the next request looks the key up again.
        if version and len(self._key_projects) < _KEY_CACHE_LIMIT:
            self._key_projects[key_hash] = project
        return project

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        def op(conn: sqlite3.Connection) -> list[ApiKeyInfo]:
            rows = conn.execute(
                "SELECT k.id, p.name, k.name, k.hint, k.created_at, k.revoked_at, k.last_used_at "
                "FROM api_keys k JOIN projects p ON p.id = k.project_id "
                "ORDER BY k.created_at DESC, k.id DESC"
            ).fetchall()
            return [ApiKeyInfo(*row) for row in rows]

        return await self._read_op(op)

    async def revoke_api_key(self, key_id: str) -> bool:
        now = int(time.time())

        def op(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, key_id),
            )
            dashboard.end_key_sessions(conn, key_id)
            return cursor.rowcount > 0

        return await self._write(op)

    async def count_api_keys(self) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM api_keys").fetchone()[0])

        return await self._read_op(op)

    async def touch_api_key(self, key_hash: bytes, when: int) -> None:
        await self._write(lambda conn: dashboard.touch_key(conn, key_hash, when), isolated=False)

    async def create_session(
        self, *, key_hash: bytes, token_hash: bytes, created_at: int, expires_at: int
    ) -> DashboardSession | None:
        def op(conn: sqlite3.Connection) -> DashboardSession | None:
            return dashboard.create_session(conn, key_hash, token_hash, created_at, expires_at)

        return await self._write(op)

    async def find_session(self, token_hash: bytes, now: int) -> DashboardSession | None:
        # On the key connection, like project_for_key: a revoke by `parley keys` in another
        # process ends the session on the next request.
        conn = self._auth
        if conn is None:
            raise RuntimeError("the store is not open")
        return await self._reads.run(
            lambda c: dashboard.find_session(c, token_hash, now), conn, _nothing
        )

    async def end_session(self, token_hash: bytes) -> None:
        await self._write(lambda conn: dashboard.end_session(conn, token_hash), isolated=False)

    async def conversation_summaries(
        self, project: str, conversation_ids: list[str]
    ) -> dict[str, ConversationSummary]:
        return await self._read_op(
            lambda conn: dashboard.summaries(conn, project, conversation_ids)
        )

    async def conversation_project_name(self, conversation_id: str) -> str | None:
        row = self._reader.execute(
            "SELECT p.name FROM conversations c JOIN projects p ON p.id = c.project_id "
            "WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()
        return None if row is None else str(row[0])


def _key_exists() -> KeyExists:
    return KeyExists("An API key with this value is registered already.", code="key_exists")


def _nothing() -> None:
    return None
