"""The steps the SQLite store's write ops share, run on the writer's connection inside its
transaction: plain functions over a connection."""

from __future__ import annotations

import sqlite3
import time

import msgspec

from parley import ids
from parley.errors import InvalidRequest, ParleyError, conversation_not_found
from parley.models import NewItem, ResponseRecord
from parley.store.shared import repeated_item

# An item's row key: its conversation's seq times 2^32 plus its position (migration 0008), so
# the items table's own b-tree holds each conversation's items together and in order.
POSITIONS = 1 << 32


def item_key(conversation: int, position: int) -> int:
    """The items row key (and search index rowid) of ``position`` in ``conversation``."""
    return conversation * POSITIONS + position


def conversation_seq(conn: sqlite3.Connection, project: str, conversation_id: str) -> int:
    """The row key of a project's conversation; 404 when it has none."""
    row = conn.execute(
        "SELECT seq FROM conversations WHERE id = ? AND project_id = ?",
        (conversation_id, project),
    ).fetchone()
    if row is None:
        raise conversation_not_found(conversation_id)
    seq: int = row[0]
    return seq


def ensure_project(conn: sqlite3.Connection, name: str) -> str:
    """The id of the project called ``name``, created if needed."""
    row = conn.execute("SELECT id FROM projects WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return str(row[0])
    project_id = ids.new_id("proj_")
    conn.execute(
        "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)",
        (project_id, name, int(time.time())),
    )
    return project_id


def insert_conversation(
    conn: sqlite3.Connection,
    project: str,
    conversation_id: str,
    created_at: int,
    metadata: bytes,
    items: list[NewItem],
) -> int:
    """Insert a conversation row, its metadata index and its items."""
    cursor = conn.execute(
        "INSERT INTO conversations (id, project_id, created_at, updated_at, metadata, "
        "next_position, item_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (conversation_id, project, created_at, created_at, metadata, len(items), len(items)),
    )
    seq = cursor.lastrowid or 0
    index_metadata(conn, project, seq, metadata, created_at)
    if items:
        insert_items(conn, project, seq, 0, items, created_at)
    return seq


def append_items(
    conn: sqlite3.Connection,
    project: str,
    conversation_id: str,
    items: list[NewItem],
    created_at: int,
    *,
    look_first: bool = True,
) -> None:
    """Append ``items`` at the end of a project's conversation; 404 when it has none.

    Fails only before its first write (an id the conversation holds is looked for first), so
    the writer may run it without a savepoint of its own (``isolated=False``). With
    ``look_first=False`` an id already held is found by the items' unique index instead, after
    the conversation's row was written: only for an op the writer runs isolated.
    """
    if items and look_first:
        marks = ", ".join("?" * len(items))
        taken = conn.execute(
            "SELECT i.id FROM conversations c JOIN items i ON i.conversation = c.seq "
            f"WHERE c.id = ? AND c.project_id = ? AND i.id IN ({marks})",
            (conversation_id, project, *(item.id for item in items)),
        ).fetchall()
        repeated = repeated_item(items, {row[0] for row in taken}) if taken else None
        if repeated is not None:
            raise repeated
    # The position counter is read and advanced inside the write transaction: appends are
    # serialised here, so one call's items stay adjacent and in order.
    row = conn.execute(
        "UPDATE conversations SET next_position = next_position + ?, "
        "item_count = item_count + ?, updated_at = ? "
        "WHERE id = ? AND project_id = ? RETURNING seq, next_position",
        (len(items), len(items), created_at, conversation_id, project),
    ).fetchone()
    if row is None:
        raise conversation_not_found(conversation_id)
    seq, next_position = row
    if items:
        insert_items(conn, project, seq, next_position - len(items), items, created_at)


def commit_turn(
    conn: sqlite3.Connection,
    project: str,
    conversation_id: str | None,
    items: list[NewItem],
    created_at: int,
    response: ResponseRecord | None,
) -> None:
    """A response's turn: its items appended to the conversation (when it has one) and the
    stored response (when it is stored), in the writer's one transaction."""
    if conversation_id is not None:
        # The same serialised append as create_items: the turn's items stay adjacent. The
        # turn's context held every id of the conversation and refused those it holds
        # (responses.context), so only a racing turn can collide: the unique index tells
        # (commit_response runs isolated), and the look for held ids is not needed first.
        append_items(conn, project, conversation_id, items, created_at, look_first=False)
    if response is not None:
        conn.execute(
            "INSERT INTO responses (id, project_id, created_at, previous_response_id, "
            "data, input_items) VALUES (?, ?, ?, ?, ?, ?)",
            (
                response.id,
                project,
                response.created_at,
                response.previous_response_id,
                response.data,
                response.input_items,
            ),
        )


def update_conversation(
    conn: sqlite3.Connection, project: str, conversation_id: str, metadata: bytes, now: int
) -> int:
    """Replace a project's conversation's metadata; its created_at. 404 when it has none.

    The metadata index changes by the pairs that changed, not by all of them: an update
    that keeps a pair (most keep most) leaves its index row alone, so an unchanged update
    writes only the conversation's row. (Deleting and re-inserting every pair cost the
    writer 33 µs per update in batches of 64, bench/writesql.py; see bench/README.md.)
    """
    row = conn.execute(
        "SELECT seq, created_at, metadata FROM conversations WHERE id = ? AND project_id = ?",
        (conversation_id, project),
    ).fetchone()
    if row is None:
        raise conversation_not_found(conversation_id)
    seq, created_at, old = row
    conn.execute(
        "UPDATE conversations SET metadata = ?, updated_at = ? WHERE seq = ?",
        (metadata, now, seq),
    )
    if old != metadata:
        before: dict[str, str] = msgspec.json.decode(old)
        after: dict[str, str] = msgspec.json.decode(metadata)
        gone = [(k, v) for k, v in before.items() if after.get(k) != v]
        if gone:
            conn.executemany(
                "DELETE FROM conversation_metadata WHERE project_id = ? AND key = ? "
                "AND value = ? AND conversation = ?",
                [(project, k, v, seq) for k, v in gone],
            )
        new = [(k, v) for k, v in after.items() if before.get(k) != v]
        if new:
            conn.executemany(
                "INSERT INTO conversation_metadata (project_id, key, value, conversation, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                [(project, k, v, seq, created_at) for k, v in new],
            )
    created: int = created_at
    return created


def index_metadata(
    conn: sqlite3.Connection, project: str, seq: int, metadata: bytes, created_at: int
) -> None:
    """Index a conversation's metadata pairs for the list filter."""
    pairs: dict[str, str] = msgspec.json.decode(metadata)
    if pairs:
        conn.executemany(
            "INSERT INTO conversation_metadata (project_id, key, value, conversation, "
            "created_at) VALUES (?, ?, ?, ?, ?)",
            [(project, key, value, seq, created_at) for key, value in pairs.items()],
        )


def insert_items(
    conn: sqlite3.Connection,
    project: str,
    seq: int,
    first: int,
    items: list[NewItem],
    created_at: int,
) -> None:
    """Insert items at positions from ``first`` of ``project``'s conversation ``seq``; a
    repeated id is a 400."""
    base = item_key(seq, first)
    try:
        conn.executemany(
            "INSERT INTO items (seq, conversation, position, id, type, created_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (base + offset, seq, first + offset, item.id, item.type, created_at, item.data)
                for offset, item in enumerate(items)
            ],
        )
    except sqlite3.IntegrityError:
        raise duplicate(conn, seq, first, items) from None
    # In the same transaction as the items: a search never finds what is not stored.
    from parley.store.sqlite_extensions import index_items

    index_items(conn, project, base, items)


def duplicate(conn: sqlite3.Connection, seq: int, first: int, items: list[NewItem]) -> ParleyError:
    """The error for an insert that hit an id the conversation already holds."""
    # Rows this call inserted before failing sit at `first` and above: not a prior owner.
    marks = ", ".join("?" * len(items))
    taken = conn.execute(
        f"SELECT id FROM items WHERE conversation = ? AND position < ? AND id IN ({marks})",
        (seq, first, *(item.id for item in items)),
    ).fetchall()
    repeated = repeated_item(items, {row[0] for row in taken})
    if repeated is not None:
        return repeated
    return InvalidRequest("The items could not be stored: an id is already in use.")
