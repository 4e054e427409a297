"""What the dashboard needs from SQLite beyond the API: sessions, key use, list summaries.

Plain functions over a connection, called by :class:`parley.store.sqlite.SQLiteStore`.
"""

from __future__ import annotations

import sqlite3

from parley.models import ConversationSummary, DashboardSession

# A session is live only while its key is: revoking a key ends its sessions in this join.
_FIND = (
    "SELECT k.id, k.project_id, p.name, s.expires_at FROM dashboard_sessions s "
    "JOIN api_keys k ON k.id = s.key_id JOIN projects p ON p.id = k.project_id "
    "WHERE s.token_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL"
)


def create_session(
    conn: sqlite3.Connection, key_hash: bytes, token_hash: bytes, created_at: int, expires_at: int
) -> DashboardSession | None:
    """Insert a session for the active key with ``key_hash``; None when there is none."""
    row = conn.execute(
        "SELECT k.id, k.project_id, p.name FROM api_keys k JOIN projects p ON p.id = k.project_id "
        "WHERE k.key_hash = ? AND k.revoked_at IS NULL",
        (key_hash,),
    ).fetchone()
    if row is None:
        return None
    # Expired sessions are swept here, on sign-in, rather than by a timer.
    conn.execute("DELETE FROM dashboard_sessions WHERE expires_at <= ?", (created_at,))
    conn.execute(
        "INSERT INTO dashboard_sessions (token_hash, key_id, created_at, expires_at) "
        "VALUES (?, ?, ?, ?)",
        (token_hash, row[0], created_at, expires_at),
    )
    conn.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (created_at, row[0]))
    return DashboardSession(row[0], row[1], row[2], expires_at)


def find_session(conn: sqlite3.Connection, token_hash: bytes, now: int) -> DashboardSession | None:
    """The live session with this token hash."""
    row = conn.execute(_FIND, (token_hash, now)).fetchone()
    return None if row is None else DashboardSession(row[0], row[1], row[2], int(row[3]))


def end_session(conn: sqlite3.Connection, token_hash: bytes) -> None:
    """Delete one session."""
    conn.execute("DELETE FROM dashboard_sessions WHERE token_hash = ?", (token_hash,))


def end_key_sessions(conn: sqlite3.Connection, key_id: str) -> None:
    """Delete every session of a (revoked) key."""
    conn.execute("DELETE FROM dashboard_sessions WHERE key_id = ?", (key_id,))


def touch_key(conn: sqlite3.Connection, key_hash: bytes, when: int) -> None:
    """Move a key's last-used time forward."""
    conn.execute(
        "UPDATE api_keys SET last_used_at = ? WHERE key_hash = ? "
        "AND (last_used_at IS NULL OR last_used_at < ?)",
        (when, key_hash, when),
    )


def summaries(
    conn: sqlite3.Connection, project: str, conversation_ids: list[str]
) -> dict[str, ConversationSummary]:
    """updated_at and item_count of the given conversations of ``project``."""
    if not conversation_ids:
        return {}
    marks = ",".join("?" * len(conversation_ids))
    rows = conn.execute(
        "SELECT id, updated_at, item_count FROM conversations "
        f"WHERE project_id = ? AND id IN ({marks})",
        (project, *conversation_ids),
    ).fetchall()
    return {r[0]: ConversationSummary(int(r[1]), int(r[2])) for r in rows}
