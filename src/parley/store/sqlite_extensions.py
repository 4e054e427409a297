"""parley's extensions beyond OpenAI's API on SQLite: filtered lists, fork, usage.

Plain functions over a connection, called by :class:`parley.store.sqlite.SQLiteStore`: the
statements live here so that sqlite.py stays the OpenAI contract and tests can EXPLAIN these.
"""

from __future__ import annotations

import sqlite3

from parley.errors import conversation_not_found, item_not_found
from parley.models import TimeFilter, Usage
from parley.store.base import Order

_LAST = 1 << 62


def conversations_query(
    project: str,
    metadata: list[tuple[str, str]],
    order: Order,
    times: TimeFilter,
    cursor: tuple[int, int] | None,
    limit: int,
) -> tuple[str, list[object]]:
    """The page query of list_conversations: a keyset walk in (created_at, seq) order.

    With metadata, the walk runs over the first pair's index rows (which carry created_at);
    the other pairs are point checks. Time bounds narrow the same index range.
    """
    compare, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
    if cursor is None:
        cursor = (-_LAST, -_LAST) if order == "asc" else (_LAST, _LAST)
    params: list[object] = [project]
    if metadata:
        time_col, key_col = "m.created_at", "m.conversation"
        sql = (
            "SELECT c.id, c.created_at, c.metadata FROM conversation_metadata m "
            "JOIN conversations c ON c.seq = m.conversation "
            "WHERE m.project_id = ? AND m.key = ? AND m.value = ?"
        )
        params += [metadata[0][0], metadata[0][1]]
    else:
        time_col, key_col = "c.created_at", "c.seq"
        sql = "SELECT c.id, c.created_at, c.metadata FROM conversations c WHERE c.project_id = ?"
    # The redundant bound on the time column alone gives the planner a range to seek to.
    sql += f" AND {time_col} {compare}= ? AND ({time_col}, {key_col}) {compare} (?, ?)"
    params += [cursor[0], cursor[0], cursor[1]]
    if times.created_after is not None:
        sql += f" AND {time_col} > ?"
        params.append(times.created_after)
    if times.created_before is not None:
        sql += f" AND {time_col} < ?"
        params.append(times.created_before)
    if times.updated_after is not None:
        sql += " AND c.updated_at > ?"
        params.append(times.updated_after)
    for key, value in metadata[1:]:
        sql += (
            " AND EXISTS (SELECT 1 FROM conversation_metadata x WHERE x.project_id = ? "
            "AND x.key = ? AND x.value = ? AND x.conversation = m.conversation)"
        )
        params += [project, key, value]
    sql += f" ORDER BY {time_col} {direction}, {key_col} {direction} LIMIT ?"
    params.append(limit)
    return sql, params


def list_cursor(conn: sqlite3.Connection, project: str, conversation_id: str) -> tuple[int, int]:
    """The (created_at, seq) a page after ``conversation_id`` starts from."""
    row = conn.execute(
        "SELECT created_at, seq FROM conversations WHERE id = ? AND project_id = ?",
        (conversation_id, project),
    ).fetchone()
    if row is None:
        raise conversation_not_found(conversation_id)
    return int(row[0]), int(row[1])


def items_to_fork(
    conn: sqlite3.Connection, project: str, conversation_id: str, after_item: str | None
) -> tuple[bytes, list[bytes]]:
    """The source's metadata and the JSON of its items up to ``after_item``, in order."""
    row = conn.execute(
        "SELECT seq, metadata FROM conversations WHERE id = ? AND project_id = ?",
        (conversation_id, project),
    ).fetchone()
    if row is None:
        raise conversation_not_found(conversation_id)
    seq, metadata = row
    last = _LAST
    if after_item is not None:
        found = conn.execute(
            "SELECT position FROM items WHERE conversation = ? AND id = ?", (seq, after_item)
        ).fetchone()
        if found is None:
            raise item_not_found(after_item)
        last = found[0]
    rows = conn.execute(
        "SELECT data FROM items WHERE conversation = ? AND position <= ? ORDER BY position",
        (seq, last),
    ).fetchall()
    return bytes(metadata), [bytes(r[0]) for r in rows]


def usage(conn: sqlite3.Connection, project: str) -> Usage:
    """Counts and stored bytes (metadata and item JSON) of ``project``."""
    conversations, items, meta_bytes = conn.execute(
        "SELECT count(*), coalesce(sum(item_count), 0), coalesce(sum(length(metadata)), 0) "
        "FROM conversations WHERE project_id = ?",
        (project,),
    ).fetchone()
    (item_bytes,) = conn.execute(
        "SELECT coalesce(sum(length(i.data)), 0) FROM conversations c "
        "JOIN items i ON i.conversation = c.seq WHERE c.project_id = ?",
        (project,),
    ).fetchone()
    return Usage(int(conversations), int(items), int(meta_bytes) + int(item_bytes))
