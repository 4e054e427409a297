"""What the dashboard needs from PostgreSQL beyond the API: sessions, key use, list summaries.

Named statements, run by :class:`parley.store.postgres.PostgresStore`.
"""

from __future__ import annotations

SQL_SESSION_KEY = (
    "SELECT k.id, k.project_id, p.name FROM api_keys k JOIN projects p ON p.id = k.project_id "
    "WHERE k.key_hash = $1 AND k.revoked_at IS NULL"
)

# Expired sessions are swept on sign-in rather than by a timer.
SQL_SWEEP_SESSIONS = "DELETE FROM dashboard_sessions WHERE expires_at <= $1"

SQL_INSERT_SESSION = (
    "INSERT INTO dashboard_sessions (token_hash, key_id, created_at, expires_at) "
    "VALUES ($1, $2, $3, $4)"
)

# A session is live only while its key is: revoking a key ends its sessions in this join.
SQL_FIND_SESSION = (
    "SELECT k.id, k.project_id, p.name, s.expires_at FROM dashboard_sessions s "
    "JOIN api_keys k ON k.id = s.key_id JOIN projects p ON p.id = k.project_id "
    "WHERE s.token_hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL"
)

SQL_END_SESSION = "DELETE FROM dashboard_sessions WHERE token_hash = $1"

SQL_END_KEY_SESSIONS = "DELETE FROM dashboard_sessions WHERE key_id = $1"

SQL_TOUCH_KEY_ID = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1"

SQL_TOUCH_KEY = (
    "UPDATE api_keys SET last_used_at = $2 WHERE key_hash = $1 "
    "AND (last_used_at IS NULL OR last_used_at < $2)"
)

SQL_SUMMARIES = (
    "SELECT id, updated_at, item_count FROM conversations "
    "WHERE project_id = $1 AND id = ANY($2::text[])"
)
