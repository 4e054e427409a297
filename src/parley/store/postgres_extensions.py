"""parley's extensions beyond OpenAI's API on PostgreSQL: filtered lists, fork, usage.

The statements live here, named, so postgres.py stays the OpenAI contract and tests can
EXPLAIN these; :class:`parley.store.postgres.PostgresStore` runs them.
"""

from __future__ import annotations

from typing import Any

from parley.models import TimeFilter
from parley.store.base import Order

_LAST = 1 << 62

SQL_LIST_CURSOR = "SELECT created_at, seq FROM conversations WHERE id = $1 AND project_id = $2"

SQL_FORK_SOURCE = (
    "SELECT seq, metadata FROM conversations WHERE id = $1 AND project_id = $2 FOR SHARE"
)

SQL_ITEM_POSITION = "SELECT position FROM items WHERE conversation = $1 AND id = $2"

SQL_FORK_ITEMS = (
    "SELECT data FROM items WHERE conversation = $1 AND position <= $2 ORDER BY position"
)

SQL_USAGE = """
SELECT count(*),
       coalesce(sum(c.item_count), 0),
       coalesce(sum(length(c.metadata)), 0)
         + coalesce((SELECT sum(length(i.data)) FROM conversations k
                     JOIN items i ON i.conversation = k.seq WHERE k.project_id = $1), 0)
FROM conversations c WHERE c.project_id = $1
"""


def conversations_query(
    project: str,
    metadata: list[tuple[bytes, bytes]],
    order: Order,
    times: TimeFilter,
    cursor: Any,
) -> tuple[str, list[Any]]:
    """The page query of list_conversations and its arguments (the limit follows).

    A keyset walk in (created_at, seq) order; with metadata, over the first pair's index rows
    (which carry created_at), the other pairs being point checks.
    """
    compare, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
    if cursor is None:
        cursor = (-_LAST, -_LAST) if order == "asc" else (_LAST, _LAST)
    args: list[Any] = [project]
    if metadata:
        time_col, key_col = "m.created_at", "m.conversation"
        sql = (
            "SELECT c.id, c.created_at, c.metadata FROM conversation_metadata m "
            "JOIN conversations c ON c.seq = m.conversation "
            "WHERE m.project_id = $1 AND c.project_id = $1 AND m.key = $2 AND m.value = $3"
        )
        args += [metadata[0][0], metadata[0][1]]
    else:
        time_col, key_col = "c.created_at", "c.seq"
        sql = "SELECT c.id, c.created_at, c.metadata FROM conversations c WHERE c.project_id = $1"

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    sql += f" AND ({time_col}, {key_col}) {compare} ({arg(int(cursor[0]))}, {arg(int(cursor[1]))})"
    if times.created_after is not None:
        sql += f" AND {time_col} > {arg(times.created_after)}"
    if times.created_before is not None:
        sql += f" AND {time_col} < {arg(times.created_before)}"
    if times.updated_after is not None:
        sql += f" AND c.updated_at > {arg(times.updated_after)}"
    for key, value in metadata[1:]:
        sql += (
            " AND EXISTS (SELECT 1 FROM conversation_metadata x WHERE x.project_id = $1"
            f" AND x.key = {arg(key)} AND x.value = {arg(value)}"
            " AND x.conversation = m.conversation)"
        )
    sql += f" ORDER BY {time_col} {direction}, {key_col} {direction} LIMIT ${len(args) + 1}"
    return sql, args
