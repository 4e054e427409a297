"""PostgreSQL store methods for projects, API keys and the dashboard's sessions and summaries."""

from __future__ import annotations

import time
from typing import Any

from parley import ids
from parley.errors import KeyExists
from parley.models import ApiKeyInfo, ConversationSummary, DashboardSession
from parley.store import postgres_dashboard as dash
from parley.store.postgres_core import PostgresCore
from parley.store.postgres_sql import SQL_INSERT_PROJECT, SQL_PROJECT_FOR_KEY


class PostgresKeys(PostgresCore):
    """Projects, API keys and dashboard sessions of :class:`parley.store.postgres.PostgresStore`."""

    async def ensure_project(self, name: str) -> str:
        async with self._conn() as conn:
            return await _ensure_project(conn, name)

    async def add_api_key(
        self, *, key_id: str, project_name: str, name: str, hint: str, key_hash: bytes
    ) -> ApiKeyInfo:
        now = int(time.time())
        async with self._conn() as conn, conn.transaction():
            project_id = await _ensure_project(conn, project_name)
            # ON CONFLICT waits for a concurrent insert of the same hash to commit or roll
            # back, so of N processes registering one key at once exactly one inserts.
            status: str = await conn.execute(
                "INSERT INTO api_keys (id, project_id, name, hint, key_hash, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_hash) DO NOTHING",
                key_id,
                project_id,
                name,
                hint,
                key_hash,
                now,
            )
        if status == "INSERT 0 0":
            raise KeyExists("An API key with this value is registered already.", code="key_exists")
        return ApiKeyInfo(key_id, project_name, name, hint, now)

    async def project_for_key(self, key_hash: bytes) -> str | None:
        async with self._conn(guarded=True) as conn:  # the check itself: nothing to settle
            row = await conn.fetchrow(SQL_PROJECT_FOR_KEY, key_hash)
        return None if row is None else str(row[0])

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT k.id, p.name, k.name, k.hint, k.created_at, k.revoked_at, "
                "k.last_used_at FROM api_keys k JOIN projects p ON p.id = k.project_id "
                "ORDER BY k.created_at DESC, k.id DESC"
            )
        return [ApiKeyInfo(*row) for row in rows]

    async def revoke_api_key(self, key_id: str) -> bool:
        async with self._conn() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL "
                "RETURNING id",
                key_id,
                int(time.time()),
            )
            await conn.execute(dash.SQL_END_KEY_SESSIONS, key_id)
        return row is not None

    async def count_api_keys(self) -> int:
        row = await self._fetchrow("SELECT count(*) FROM api_keys")
        return int(row[0])

    async def touch_api_key(self, key_hash: bytes, when: int) -> None:
        async with self._conn() as conn:
            await conn.execute(dash.SQL_TOUCH_KEY, key_hash, when)

    async def create_session(
        self, *, key_hash: bytes, token_hash: bytes, created_at: int, expires_at: int
    ) -> DashboardSession | None:
        async with self._conn() as conn, conn.transaction():
            row = await conn.fetchrow(dash.SQL_SESSION_KEY, key_hash)
            if row is None:
                return None
            await conn.execute(dash.SQL_SWEEP_SESSIONS, created_at)
            await conn.execute(dash.SQL_INSERT_SESSION, token_hash, row[0], created_at, expires_at)
            await conn.execute(dash.SQL_TOUCH_KEY_ID, row[0], created_at)
        return DashboardSession(row[0], row[1], row[2], expires_at)

    async def find_session(self, token_hash: bytes, now: int) -> DashboardSession | None:
        row = await self._fetchrow(dash.SQL_FIND_SESSION, token_hash, now)
        return None if row is None else DashboardSession(row[0], row[1], row[2], int(row[3]))

    async def end_session(self, token_hash: bytes) -> None:
        async with self._conn() as conn:
            await conn.execute(dash.SQL_END_SESSION, token_hash)

    async def conversation_summaries(
        self, project: str, conversation_ids: list[str]
    ) -> dict[str, ConversationSummary]:
        if not conversation_ids:
            return {}
        async with self._conn() as conn:
            rows = await conn.fetch(dash.SQL_SUMMARIES, project, conversation_ids)
        return {r[0]: ConversationSummary(int(r[1]), int(r[2])) for r in rows}

    async def conversation_project_name(self, conversation_id: str) -> str | None:
        row = await self._fetchrow(
            "SELECT p.name FROM conversations c JOIN projects p ON p.id = c.project_id "
            "WHERE c.id = $1",
            conversation_id,
        )
        return None if row is None else str(row[0])


async def _ensure_project(conn: Any, name: str) -> str:
    project_id = await conn.fetchval(
        SQL_INSERT_PROJECT, ids.new_id("proj_"), name, int(time.time())
    )
    if project_id is None:
        project_id = await conn.fetchval("SELECT id FROM projects WHERE name = $1", name)
    return str(project_id)
