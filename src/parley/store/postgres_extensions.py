"""parley's extensions beyond OpenAI's API on PostgreSQL: lists, fork, usage, search, retention.

The statements live here, named, so postgres.py stays the OpenAI contract and tests can
EXPLAIN these; :class:`parley.store.postgres.PostgresStore` runs them.
"""

from __future__ import annotations

from typing import Any

from parley.models import TimeFilter, Usage
from parley.search import MARK, SNIPPET_TOKENS, item_text
from parley.store.base import Order
from parley.store.shared import page_bounds

# A conversation deleted since the client saw it still marks its place (its tombstone).
SQL_LIST_CURSOR = """
SELECT created_at, seq FROM conversations WHERE id = $1 AND project_id = $2
UNION ALL
SELECT created_at, seq FROM deleted_conversations WHERE id = $1 AND project_id = $2
LIMIT 1
"""

SQL_FORK_SOURCE = (
    "SELECT seq, metadata FROM conversations WHERE id = $1 AND project_id = $2 FOR SHARE"
)

SQL_ITEM_POSITION = "SELECT position FROM items WHERE conversation = $1 AND id = $2"

SQL_FORK_ITEMS = (
    "SELECT data FROM items WHERE conversation = $1 AND position <= $2 ORDER BY position"
)

# Tokens are read from each stored response's JSON as `json`, not `jsonb`: json keeps a
# "\u0000" escape that jsonb refuses.
SQL_USAGE = """
SELECT count(*),
       coalesce(sum(c.item_count), 0),
       coalesce(sum(length(c.metadata)), 0)
         + coalesce((SELECT sum(length(i.data)) FROM conversations k
                     JOIN items i ON i.conversation = k.seq WHERE k.project_id = $1), 0)
         + coalesce((SELECT sum(length(r.data) + length(r.input_items)) FROM responses r
                     WHERE r.project_id = $1), 0),
       (SELECT count(*) FROM responses r WHERE r.project_id = $1),
       coalesce((SELECT sum(((convert_from(r.data, 'UTF8')::json) -> 'usage'
                             ->> 'total_tokens')::bigint)
                 FROM responses r WHERE r.project_id = $1), 0)
FROM conversations c WHERE c.project_id = $1
"""


def usage_of(row: Any) -> Usage:
    """The Usage of a SQL_USAGE row."""
    conversations, items, stored, responses, tokens = (int(value) for value in row)
    return Usage(conversations, items, stored, responses, tokens)


# With an updated_after filter and metadata, at most this many conversations updated since:
# the page checks their pairs one by one and sorts them (bounded work), instead of walking
# the first pair's whole index range (the hash join's input grows with the store; the
# generic plan probed every entry of it: 398 ms on 1M conversations, bench/README.md).
FEW_UPDATED = 1000

SQL_COUNT_UPDATED = (
    "SELECT count(*) FROM (SELECT 1 FROM conversations WHERE project_id = $1 "
    "AND updated_at > $2 LIMIT $3) few"
)


def conversations_query(
    project: str,
    metadata: list[tuple[bytes, bytes]],
    order: Order,
    times: TimeFilter,
    cursor: Any,
    *,
    by_updated: bool = False,
) -> tuple[str, list[Any]]:
    """The page query of list_conversations and its arguments (the limit follows).

    A keyset walk in (created_at, seq) order; with metadata, over the first pair's index rows
    (which carry created_at), the other pairs being point checks. ``by_updated`` (with
    ``times.updated_after`` and metadata): the conversations updated since, read from the
    updated_at index, every pair a point check, then sorted (see :data:`FEW_UPDATED`).
    """
    compare, stop, direction = (">", "<=", "ASC") if order == "asc" else ("<", ">=", "DESC")
    args: list[Any] = [project]
    checked = metadata[1:]
    if by_updated and times.updated_after is not None:
        # MATERIALIZED: the candidates come from the updated_at index whatever the plan
        # cache settles on; joined back by primary key for the page's rows.
        args.append(times.updated_after)
        time_col, key_col = "u.created_at", "u.seq"
        sql = (
            "WITH u AS MATERIALIZED (SELECT seq, created_at FROM conversations "
            "WHERE project_id = $1 AND updated_at > $2) "
            "SELECT c.id, c.created_at, c.metadata FROM u JOIN conversations c ON c.seq = u.seq "
            "WHERE true"
        )
        checked = metadata
        times = TimeFilter(times.created_after, times.created_before, None)
    elif metadata:
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

    # One bound per side of the index range (shared.page_bounds says why).
    bounds = page_bounds(order, times, None if cursor is None else (int(cursor[0]), int(cursor[1])))
    if bounds.start is not None:
        start_time, start_key = arg(bounds.start[0]), arg(bounds.start[1])
        sql += f" AND ({time_col}, {key_col}) {compare} ({start_time}, {start_key})"
    if bounds.stop is not None:
        sql += f" AND {time_col} {stop} {arg(bounds.stop)}"
    if times.updated_after is not None:
        sql += f" AND c.updated_at > {arg(times.updated_after)}"
    rest = list(dict.fromkeys(checked))
    if checked is not metadata:
        rest = [pair for pair in rest if pair != metadata[0]]
    if rest:
        # One count over the candidate's own pairs (at most 16 rows, found by the
        # conversation index alone) instead of one EXISTS per pair: PostgreSQL flattens
        # EXISTS into joins, and planning a 16-way join took seconds per call (a 16-pair
        # filter on 10,000 conversations ran into the 30 s statement timeout). Naming the
        # project here too would let a fresh, unanalysed table lure the planner into the
        # primary key, scanning the whole project per candidate: 0.1 s became 30 s.
        keys, values = arg([k for k, _ in rest]), arg([v for _, v in rest])
        sql += (
            " AND (SELECT count(*) FROM conversation_metadata x"
            f" WHERE x.conversation = {key_col}"
            f" AND (x.key, x.value) IN (SELECT * FROM unnest({keys}::bytea[], {values}::bytea[])))"
            f" = {arg(len(rest))}"
        )
    sql += f" ORDER BY {time_col} {direction}, {key_col} {direction} LIMIT ${len(args) + 1}"
    return sql, args


# -- full-text search ------------------------------------------------------------------------


def scope_query(project: str) -> str:
    """The tsquery text of ``project``'s lexeme in every item's tsvector (migration 0010): a
    space, then the project id, which no parsed word can be."""
    lexeme = (" " + project).replace("\\", "\\\\").replace("'", "''")
    return f"'{lexeme}'"


# The scope (parameter {scope}) ANDed into the query makes GIN intersect inside the index
# instead of matching every project's items. An empty query (nothing but punctuation) must
# match nothing, not the whole scope.
_SCOPED = "(CASE WHEN numnode(q.query) = 0 THEN q.query ELSE q.query && {scope}::tsquery END)"

# websearch_to_tsquery never fails on user input: quotes, OR and -word, as web search boxes.
SQL_SEARCH_ITEMS = f"""
SELECT i.conversation, i.id,
       ts_headline('simple', i.search_text, q.query,
                   'StartSel={MARK}, StopSel={MARK}, MaxWords={SNIPPET_TOKENS}, MinWords=4')
FROM items i, websearch_to_tsquery('simple', $1) AS q (query)
WHERE i.search @@ {_SCOPED.format(scope="$3")} AND i.conversation = ANY($2::bigint[])
ORDER BY i.conversation, ts_rank(i.search, q.query) DESC, i.position
"""


def search_query(
    project: str,
    query: str,
    metadata: list[tuple[bytes, bytes]],
    times: TimeFilter,
    page: tuple[float, int] | None,
) -> tuple[str, list[Any]]:
    """The ranked page query of search and its arguments (the limit follows).

    The rank is minus ts_rank (lower is better, as SQLite's bm25), so the keyset cursor
    (rank, seq) runs ascending on both backends.
    """
    args: list[Any] = [query, project, scope_query(project)]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    sql = (
        "WITH q AS (SELECT websearch_to_tsquery('simple', $1) AS query), "
        "hits AS (SELECT i.conversation, -ts_rank(i.search, q.query)::float8 AS rank "
        f"FROM items i, q WHERE i.search @@ {_SCOPED.format(scope='$3')}) "
        "SELECT c.seq, c.id, c.created_at, c.metadata, min(h.rank) AS best "
        "FROM hits h JOIN conversations c ON c.seq = h.conversation WHERE c.project_id = $2"
    )
    if times.created_after is not None:
        sql += f" AND c.created_at > {arg(times.created_after)}"
    if times.created_before is not None:
        sql += f" AND c.created_at < {arg(times.created_before)}"
    if times.updated_after is not None:
        sql += f" AND c.updated_at > {arg(times.updated_after)}"
    for key, value in metadata:
        sql += (
            " AND EXISTS (SELECT 1 FROM conversation_metadata x WHERE x.project_id = $2"
            f" AND x.key = {arg(key)} AND x.value = {arg(value)} AND x.conversation = c.seq)"
        )
    sql += " GROUP BY c.seq"
    if page is not None:
        sql += f" HAVING (min(h.rank), c.seq) > ({arg(float(page[0]))}::float8, {arg(page[1])})"
    sql += f" ORDER BY best, c.seq LIMIT ${len(args) + 1}"
    return sql, args


async def backfill_search(conn: Any) -> None:
    """Give every stored item its searchable text (the migration adding the index runs this)."""
    last = 0
    while True:
        rows = await conn.fetch(
            "SELECT seq, data FROM items WHERE seq > $1 ORDER BY seq LIMIT 1000", last
        )
        if not rows:
            return
        last = rows[-1][0]
        texts = [(row[0], item_text(bytes(row[1]))) for row in rows]
        await conn.executemany(
            "UPDATE items SET search_text = $2 WHERE seq = $1",
            [(seq, text) for seq, text in texts if text],
        )


# -- projects and retention ------------------------------------------------------------------

SQL_SET_RETENTION = "UPDATE projects SET retention_seconds = $2 WHERE name = $1 RETURNING id"

SQL_LIST_PROJECTS = """
SELECT p.id, p.name, p.created_at, p.retention_seconds,
       (SELECT count(*) FROM api_keys k WHERE k.project_id = p.id AND k.revoked_at IS NULL)
FROM projects p ORDER BY p.name
"""

# Stored responses expire by age (they are never updated).
SQL_SWEEP_RESPONSES = """
DELETE FROM responses WHERE seq IN (
    SELECT r.seq FROM projects p
    JOIN responses r ON r.project_id = p.id AND r.created_at < $1 - p.retention_seconds
    WHERE p.retention_seconds IS NOT NULL
    LIMIT $2
    FOR UPDATE OF r SKIP LOCKED
)
"""

# One batch of expired conversations; items and metadata go by the deletion trigger (migration
# 0011), and each leaves its tombstone as delete_conversation does (a page walk whose cursor
# expired goes on).
# SKIP LOCKED: sweepers of several server processes share the work instead of queueing on the
# same rows, and a conversation being appended to right now is left for the next round.
SQL_SWEEP = """
WITH deleted AS (
    DELETE FROM conversations WHERE seq IN (
        SELECT c.seq FROM projects p
        JOIN conversations c ON c.project_id = p.id AND c.updated_at < $1 - p.retention_seconds
        WHERE p.retention_seconds IS NOT NULL
        LIMIT $2
        FOR UPDATE OF c SKIP LOCKED
    )
    RETURNING id, project_id, created_at, seq
)
INSERT INTO deleted_conversations (id, project_id, created_at, seq)
SELECT id, project_id, created_at, seq FROM deleted
ON CONFLICT (id) DO UPDATE SET project_id = excluded.project_id,
    created_at = excluded.created_at, seq = excluded.seq
"""
