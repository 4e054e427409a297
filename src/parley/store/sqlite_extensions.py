"""parley's extensions beyond OpenAI's API on SQLite: lists, fork, usage, search, retention.

Plain functions over a connection, called by :class:`parley.store.sqlite.SQLiteStore`: the
statements live here so that sqlite.py stays the OpenAI contract and tests can EXPLAIN these.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from parley.errors import conversation_not_found, item_not_found
from parley.models import (
    ConversationRecord,
    NewItem,
    ProjectInfo,
    SearchRow,
    TimeFilter,
    Usage,
)
from parley.search import MARK, MAX_ITEMS_PER_HIT, SNIPPET_TOKENS, item_text
from parley.store.base import Order
from parley.store.shared import page_bounds
from parley.store.sqlite_ops import POSITIONS, item_key
from parley.store.sqlite_writer import defer_insert, flush_deferred


def conversations_query(
    project: str,
    metadata: list[tuple[str, str]],
    order: Order,
    times: TimeFilter,
    cursor: tuple[int, int] | None,
    limit: int,
    *,
    by_updated: bool = False,
) -> tuple[str, list[object]]:
    """The page query of list_conversations: a keyset walk in (created_at, seq) order.

    With metadata, the walk runs over the first pair's index rows (which carry created_at);
    the other pairs are point checks. Time bounds narrow the same index range. ``by_updated``
    (with ``times.updated_after``): read the conversations updated since from the updated_at
    index instead, every pair a point check, and sort them (see :func:`list_page`).
    """
    compare, stop, direction = (">", "<=", "ASC") if order == "asc" else ("<", ">=", "DESC")
    params: list[object] = [project]
    checked = metadata[1:]
    if by_updated:
        time_col, key_col = "c.created_at", "c.seq"
        sql = (
            "SELECT c.id, c.created_at, c.metadata FROM conversations c "
            "INDEXED BY conversations_by_project_updated WHERE c.project_id = ?"
        )
        checked = metadata
    elif metadata:
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
    # One bound per side of the index range (shared.page_bounds says why).
    bounds = page_bounds(order, times, cursor)
    if bounds.start is not None:
        sql += f" AND ({time_col}, {key_col}) {compare} (?, ?)"
        params += [bounds.start[0], bounds.start[1]]
    if bounds.stop is not None:
        sql += f" AND {time_col} {stop} ?"
        params.append(bounds.stop)
    if times.updated_after is not None:
        sql += " AND c.updated_at > ?"
        params.append(times.updated_after)
    held, held_params = holds_pairs(project, checked, key_col)
    sql += held
    params += held_params
    sql += f" ORDER BY {time_col} {direction}, {key_col} {direction} LIMIT ?"
    params.append(limit)
    return sql, params


def holds_pairs(
    project: str, pairs: Sequence[tuple[str, str]], key_col: str
) -> tuple[str, list[object]]:
    """Conditions that the conversation ``key_col`` holds every pair (a point check each)."""
    sql = ""
    params: list[object] = []
    for key, value in pairs:
        sql += (
            " AND EXISTS (SELECT 1 FROM conversation_metadata x WHERE x.project_id = ? "
            f"AND x.key = ? AND x.value = ? AND x.conversation = {key_col})"
        )
        params += [project, key, value]
    return sql, params


# At most this many conversations updated since `updated_after`: the page sorts them all
# (bounded work) instead of walking creation order and skipping the others. Measured on 1M
# conversations, 200 of a project's 100,000 updated in the last day (bench/extensions.py):
# an ascending page 3.35 ms -> 0.32 ms, 10.6x -> 1.26x of the same page on 100k.
FEW_UPDATED = 1000


def list_page(
    conn: sqlite3.Connection,
    project: str,
    metadata: list[tuple[str, str]],
    order: Order,
    times: TimeFilter,
    cursor: tuple[int, int] | None,
    limit: int,
) -> list[tuple[str, int, bytes]]:
    """The rows of a conversation page, ``limit`` at most.

    An ``updated_after`` filter matches rows anywhere in creation order, so walking that
    order costs the whole project when few match (an incremental sync: "what changed since
    yesterday"). A bounded probe of the updated_at index counts them first; when they are
    few, the page is read from that index and sorted; when many, the walk finds its page
    soon enough.
    """
    by_updated = False
    if times.updated_after is not None:
        (found,) = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM conversations "
            "INDEXED BY conversations_by_project_updated "
            "WHERE project_id = ? AND updated_at > ? LIMIT ?)",
            (project, times.updated_after, FEW_UPDATED + 1),
        ).fetchone()
        by_updated = found <= FEW_UPDATED
    sql, params = conversations_query(
        project, metadata, order, times, cursor, limit, by_updated=by_updated
    )
    return conn.execute(sql, params).fetchall()


def list_cursor(conn: sqlite3.Connection, project: str, conversation_id: str) -> tuple[int, int]:
    """The (created_at, seq) a page after ``conversation_id`` starts from.

    A conversation deleted since the client saw it still marks its place (its tombstone), so a
    walk through a list that someone edits goes on.
    """
    row = conn.execute(
        "SELECT created_at, seq FROM conversations WHERE id = ? AND project_id = ?",
        (conversation_id, project),
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT created_at, seq FROM deleted_conversations WHERE id = ? AND project_id = ?",
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
    last = POSITIONS - 1
    if after_item is not None:
        found = conn.execute(
            "SELECT position FROM items WHERE conversation = ? AND id = ?", (seq, after_item)
        ).fetchone()
        if found is None:
            raise item_not_found(after_item)
        last = found[0]
    rows = conn.execute(
        "SELECT data FROM items WHERE seq BETWEEN ? AND ? ORDER BY seq",
        (item_key(seq, 0), item_key(seq, last)),
    ).fetchall()
    return bytes(metadata), [bytes(r[0]) for r in rows]


def usage(conn: sqlite3.Connection, project: str) -> Usage:
    """Counts and stored bytes (metadata, item JSON, stored responses) of ``project``."""
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
    responses, tokens, response_bytes = conn.execute(
        "SELECT count(*), "
        "coalesce(sum(json_extract(CAST(data AS TEXT), '$.usage.total_tokens')), 0), "
        "coalesce(sum(length(data) + length(input_items)), 0) "
        "FROM responses WHERE project_id = ?",
        (project,),
    ).fetchone()
    stored = int(meta_bytes) + int(item_bytes) + int(response_bytes)
    return Usage(int(conversations), int(items), stored, int(responses), int(tokens))


# -- full-text search ------------------------------------------------------------------------


def scope_token(project: str) -> str:
    """The one token that stands for ``project`` in the index's scope column (its id's hex:
    a single unicode61 token whatever the id holds; SQL writes it as lower(hex(project_id)))."""
    return project.encode().hex()


def index_items(
    conn: sqlite3.Connection, project: str, first_key: int, items: list[NewItem]
) -> None:
    """Index items just inserted into a conversation of ``project`` with row keys from
    ``first_key`` on, in order, each row scoped to the project.

    Inside the writer's batch the rows are deferred to its end (sqlite_writer.defer_insert)
    and so committed with the items, in one insert in key order."""
    scope = scope_token(project)
    rows: list[Sequence[object]] = [
        (first_key + offset, scope, text)
        for offset, item in enumerate(items)
        if (text := item_text(item.data))
    ]
    if rows:
        defer_insert(conn, "INSERT INTO items_fts (rowid, scope, body) VALUES (?, ?, ?)", rows)


def unindex_conversation(conn: sqlite3.Connection, seq: int) -> None:
    """Drop the index rows of a conversation's items (before the items go)."""
    flush_deferred(conn)  # rows of this batch's own appends are in the index first
    conn.execute(
        "DELETE FROM items_fts WHERE rowid IN (SELECT seq FROM items WHERE conversation = ?)",
        (seq,),
    )


def unindex_item(conn: sqlite3.Connection, key: int) -> None:
    """Drop the index row of the item at row key ``key``."""
    flush_deferred(conn)  # the item may have been appended earlier in this batch
    conn.execute("DELETE FROM items_fts WHERE rowid = ?", (key,))


def backfill_search(conn: sqlite3.Connection) -> None:
    """Index every stored item (the migration that creates the index runs this)."""
    last = 0
    while True:
        rows = conn.execute(
            "SELECT seq, data FROM items WHERE seq > ? ORDER BY seq LIMIT 1000", (last,)
        ).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        texts = [(seq, item_text(bytes(data))) for seq, data in rows]
        conn.executemany(
            "INSERT INTO items_fts (rowid, body) VALUES (?, ?)",
            [(seq, text) for seq, text in texts if text],
        )


def _match(query: str) -> str:
    """The query as FTS5 reads it, or, when that is not valid FTS5, its words as phrases."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in query.split())


def scoped(project: str, query: str) -> str:
    """``query`` limited to ``project``'s rows inside the index: its scope token AND the
    query on the text column (a column filter inside the query can only narrow it)."""
    if not _nested(query):
        # A ')' that would close our parenthesis could OR other projects' rows back in.
        query = _match(query)
    return f'scope : "{scope_token(project)}" AND body : ({query})'


def _nested(query: str) -> bool:
    """Whether the parentheses outside quoted strings close only what the query opened."""
    depth, quoted = 0, False
    for char in query:
        if char == '"':
            quoted = not quoted  # a doubled "" inside a string toggles twice
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quoted


def search(
    conn: sqlite3.Connection,
    project: str,
    query: str,
    metadata: list[tuple[str, str]],
    times: TimeFilter,
    cursor: tuple[float, int] | None,
    limit: int,
) -> tuple[list[SearchRow], bool]:
    """A page of the project's conversations ranked by their best matching item (bm25)."""
    sql, params = _ranking(project, metadata, times, cursor, limit)
    try:
        return _run_search(conn, sql, scoped(project, query), params, limit)
    except sqlite3.OperationalError:
        # Not FTS5 syntax (a stray quote, '-' or ':'); anything else fails again below.
        pass
    return _run_search(conn, sql, scoped(project, _match(query)), params, limit)


def _ranking(
    project: str,
    metadata: list[tuple[str, str]],
    times: TimeFilter,
    cursor: tuple[float, int] | None,
    limit: int,
) -> tuple[str, list[object]]:
    """The ranking statement of :func:`search` and its parameters after the MATCH string."""
    params: list[object] = [project]
    sql = (
        "WITH hits AS MATERIALIZED (SELECT i.conversation AS conversation, i.seq AS item, "
        "i.id AS id, i.position AS position, "
        # The scope column weighs nothing: every row of the project holds its token once.
        "bm25(items_fts, 0.0, 1.0) AS rank "
        "FROM items_fts JOIN items i ON i.seq = items_fts.rowid WHERE items_fts MATCH ?), "
        "page AS MATERIALIZED (SELECT c.seq AS seq, c.id AS id, c.created_at AS created_at, "
        "c.metadata AS metadata, min(h.rank) AS best "
        "FROM hits h JOIN conversations c ON c.seq = h.conversation WHERE c.project_id = ?"
    )
    if times.created_after is not None:
        sql += " AND c.created_at > ?"
        params.append(times.created_after)
    if times.created_before is not None:
        sql += " AND c.created_at < ?"
        params.append(times.created_before)
    if times.updated_after is not None:
        sql += " AND c.updated_at > ?"
        params.append(times.updated_after)
    held, held_params = holds_pairs(project, metadata, "c.seq")
    sql += held
    params += held_params
    sql += " GROUP BY c.seq"
    if cursor is not None:
        sql += " HAVING (min(h.rank), c.seq) > (?, ?)"
        params += [cursor[0], cursor[1]]
    sql += " ORDER BY best, c.seq LIMIT ?)"
    params.append(limit + 1)
    # Each page conversation with its matching items, best first: the items' ranks come from
    # this one bm25 pass. (The snippets used to come from a second MATCH ordered by bm25,
    # which counted the word's rows in every project again: a tenant's common word on 1M
    # items cost 514M instructions per search, now 318M; bench/README.md.)
    sql += (
        " SELECT p.seq, p.id, p.created_at, p.metadata, p.best, h.item, h.id FROM page p "
        "JOIN hits h ON h.conversation = p.seq ORDER BY p.best, p.seq, h.rank, h.position"
    )
    return sql, params


def _run_search(
    conn: sqlite3.Connection, sql: str, match: str, params: list[object], limit: int
) -> tuple[list[SearchRow], bool]:
    """Run the ranking statement for the FTS5 query ``match``, then the page's snippets."""
    pages: dict[int, tuple[Any, list[tuple[int, str]]]] = {}
    for row in conn.execute(sql, [match, *params]):
        entry = pages.setdefault(row[0], (row[:5], []))
        if len(entry[1]) < MAX_ITEMS_PER_HIT:
            entry[1].append((row[5], str(row[6])))
    ordered = list(pages.values())
    page = ordered[:limit]
    snippets: dict[int, str] = {}
    keys = [key for _, items in page for key, _ in items]
    if keys:
        marks = ", ".join("?" * len(keys))
        # snippet() needs no bm25 statistics. `+rowid` keeps this one MATCH scan filtered by
        # rowid: a plain `rowid IN` makes FTS5 run the query once per row (2x the cost).
        snippets = dict(
            conn.execute(
                "SELECT rowid, "
                f"snippet(items_fts, 1, '{MARK}', '{MARK}', '…', {SNIPPET_TOKENS}) "
                f"FROM items_fts WHERE items_fts MATCH ? AND +rowid IN ({marks})",
                [match, *keys],
            ).fetchall()
        )
    results = [
        SearchRow(
            ConversationRecord(str(row[1]), int(row[2]), bytes(row[3])),
            float(row[4]),
            int(row[0]),
            [(item_id, str(snippets.get(key, ""))) for key, item_id in items],
        )
        for row, items in page
    ]
    return results, len(ordered) > limit


# -- projects and retention ------------------------------------------------------------------


def list_projects(conn: sqlite3.Connection) -> list[ProjectInfo]:
    """Every project with its retention, active key count and usage."""
    rows = conn.execute(
        "SELECT p.id, p.name, p.created_at, p.retention_seconds, "
        "(SELECT count(*) FROM api_keys k WHERE k.project_id = p.id AND k.revoked_at IS NULL) "
        "FROM projects p ORDER BY p.name"
    ).fetchall()
    return [
        ProjectInfo(str(name), int(created), retention, int(keys), usage(conn, project_id))
        for project_id, name, created, retention, keys in rows
    ]


# Conversations whose project's retention has expired; the (project_id, updated_at) index
# makes each project's walk a range scan over its oldest rows.
SQL_EXPIRED = (
    "SELECT c.seq, c.id, c.project_id, c.created_at FROM projects p "
    "JOIN conversations c ON c.project_id = p.id "
    "AND c.updated_at < ? - p.retention_seconds "
    "WHERE p.retention_seconds IS NOT NULL LIMIT ?"
)


# Stored responses expire by age (they are never updated), walking responses_by_project_created.
SQL_EXPIRED_RESPONSES = (
    "DELETE FROM responses WHERE seq IN (SELECT r.seq FROM projects p "
    "JOIN responses r ON r.project_id = p.id AND r.created_at < ? - p.retention_seconds "
    "WHERE p.retention_seconds IS NOT NULL LIMIT ?)"
)


def sweep(conn: sqlite3.Connection, now: int, limit: int) -> int:
    """Delete up to ``limit`` expired conversations (with their items and index rows, leaving
    their tombstones) and up to ``limit`` expired stored responses; return how many went."""
    responses = conn.execute(SQL_EXPIRED_RESPONSES, (now, limit)).rowcount
    return responses + _sweep_conversations(conn, now, limit)


def _sweep_conversations(conn: sqlite3.Connection, now: int, limit: int) -> int:
    expired = conn.execute(SQL_EXPIRED, (now, limit)).fetchall()
    if not expired:
        return 0
    seqs = [row[0] for row in expired]
    marks = ", ".join("?" * len(seqs))
    # Tombstones as delete_conversation leaves them: a page walk whose cursor expired goes on.
    conn.execute(f"DELETE FROM deleted_items WHERE conversation IN ({marks})", seqs)
    conn.executemany(
        "INSERT OR REPLACE INTO deleted_conversations (id, project_id, created_at, seq) "
        "VALUES (?, ?, ?, ?)",
        [(cid, project, created, seq) for seq, cid, project, created in expired],
    )
    flush_deferred(conn)
    conn.execute(
        f"DELETE FROM items_fts WHERE rowid IN "
        f"(SELECT seq FROM items WHERE conversation IN ({marks}))",
        seqs,
    )
    conn.execute(f"DELETE FROM items WHERE conversation IN ({marks})", seqs)
    conn.execute(f"DELETE FROM conversation_metadata WHERE conversation IN ({marks})", seqs)
    conn.execute(f"DELETE FROM conversations WHERE seq IN ({marks})", seqs)
    return len(seqs)
