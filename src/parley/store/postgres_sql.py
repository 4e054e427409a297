"""The PostgreSQL store's statements, named so that tests can EXPLAIN exactly what runs."""

from __future__ import annotations


def key_ok(param: str, project: str = "$2") -> str:
    """The request's key check, folded into a hot statement: true when ``param`` is NULL (the
    caller was checked already) or the SHA-256 of a key still active in ``project``.

    An uncorrelated EXISTS: PostgreSQL evaluates it once per execution, on api_keys' unique
    index, in the same round trip as the statement's own work.
    """
    return (
        f"({param}::bytea IS NULL OR EXISTS (SELECT 1 FROM api_keys k WHERE k.key_hash = "
        f"{param} AND k.revoked_at IS NULL AND k.project_id = {project}))"
    )


SQL_PROJECT_FOR_KEY = "SELECT project_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"

# An item's search scope (its project, when it has searchable text) and the search vector of
# both, which the statements storing items write (migration 0012 says why it is not a
# generated column; parley_search_vector is inlined into the statement's plan).
_SCOPE = "CASE WHEN item.search_text IS NOT NULL THEN $2 END"

# Answers the new conversation's seq; no row when the key ($11) is no longer active.
SQL_CREATE_CONVERSATION = f"""
WITH conversation AS (
    INSERT INTO conversations
        (id, project_id, created_at, updated_at, metadata, next_position, item_count)
    SELECT $1::text, $2::text, $3::bigint, $3, $4::bytea, cardinality($5::text[]),
           cardinality($5::text[])
    WHERE {key_ok("$11")}
    RETURNING seq
), pairs AS (
    INSERT INTO conversation_metadata (project_id, key, value, conversation, created_at)
    SELECT $2, pair.key, pair.value, conversation.seq, $3
    FROM conversation, unnest($8::bytea[], $9::bytea[]) AS pair (key, value)
), stored AS (
    INSERT INTO items (
        conversation, position, id, type, created_at, data, search_text, search_scope, search
    )
    SELECT conversation.seq, item.ordinality - 1, item.id, item.type, $3, item.data,
           item.search_text, {_SCOPE}, parley_search_vector(item.search_text, {_SCOPE})
    FROM conversation,
         unnest($5::text[], $6::text[], $7::bytea[], $10::text[])
             WITH ORDINALITY AS item (id, type, data, search_text, ordinality)
)
SELECT seq FROM conversation
"""

# The UPDATE takes the conversation's row lock and advances its position counter; the INSERT
# of the same statement uses the counter's old value. A concurrent append waits for the lock
# and then re-reads the committed counter, so calls never interleave.
SQL_CREATE_ITEMS = f"""
WITH conversation AS (
    UPDATE conversations
    SET next_position = next_position + cardinality($3::text[]),
        item_count = item_count + cardinality($3::text[]),
        updated_at = $6
    WHERE id = $1 AND project_id = $2 AND {key_ok("$8")}
    RETURNING seq, next_position - cardinality($3::text[]) AS first
)
INSERT INTO items (
    conversation, position, id, type, created_at, data, search_text, search_scope, search
)
SELECT conversation.seq, conversation.first + item.ordinality - 1, item.id, item.type, $6,
       item.data, item.search_text, {_SCOPE}, parley_search_vector(item.search_text, {_SCOPE})
FROM conversation,
     unnest($3::text[], $4::text[], $5::bytea[], $7::text[])
         WITH ORDINALITY AS item (id, type, data, search_text, ordinality)
"""

SQL_RETRIEVE_CONVERSATION = (
    "SELECT created_at, metadata FROM conversations WHERE id = $1 AND project_id = $2 AND "
    + key_ok("$3")
)

# The update and its metadata reindex, in one round trip: migration 0009 says why it is a
# PL/pgSQL function. Its arguments: id, project, metadata, now, keys, values, key hash.
SQL_UPDATE_CONVERSATION = "SELECT * FROM parley_update_conversation($1, $2, $3, $4, $5, $6, $7)"

# A deleted conversation leaves its place in the list (a tombstone), so a walk goes on past it.
SQL_DELETE_CONVERSATION = f"""
WITH deleted AS (
    DELETE FROM conversations WHERE id = $1 AND project_id = $2 AND {key_ok("$3")}
    RETURNING id, created_at, seq
)
INSERT INTO deleted_conversations (id, project_id, created_at, seq)
SELECT id, $2, created_at, seq FROM deleted
ON CONFLICT (id) DO UPDATE SET project_id = excluded.project_id,
    created_at = excluded.created_at, seq = excluded.seq
"""

# A page of items in one statement. The anchor is the position of the item the page starts
# after (NULL for none): a live item's, else where a deleted one stood, so a walk goes on past
# a deleted cursor. Every row carries the anchor; a conversation with no item on the page
# gives one row whose id is NULL, and no conversation (or a key no longer active: $5) none.
_PAGE = """
WITH c AS (
    SELECT c.seq, coalesce(i.position, (
        SELECT d.position FROM deleted_items d WHERE d.conversation = c.seq AND d.id = $3
    )) AS anchor
    FROM conversations c
    LEFT JOIN items i ON i.conversation = c.seq AND i.id = $3
    WHERE c.id = $1 AND c.project_id = $2 AND {key}
)
SELECT c.anchor, page.id, page.data
FROM c LEFT JOIN LATERAL (
    SELECT i.id, i.data FROM items i
    WHERE i.conversation = c.seq AND ($3::text IS NULL OR c.anchor IS NOT NULL)
      AND i.position {comparison} coalesce(c.anchor, {start})
    ORDER BY i.position {direction}
    LIMIT $4
) page ON true
"""
SQL_PAGE_ASC = _PAGE.format(key=key_ok("$5"), comparison=">", start="-1", direction="ASC")
SQL_PAGE_DESC = _PAGE.format(key=key_ok("$5"), comparison="<", start=str(1 << 62), direction="DESC")

SQL_RETRIEVE_ITEM = f"""
SELECT i.data
FROM conversations c JOIN items i ON i.conversation = c.seq AND i.id = $3
WHERE c.id = $1 AND c.project_id = $2 AND {key_ok("$4")}
"""

SQL_DELETE_ITEM = f"""
WITH deleted AS (
    DELETE FROM items i
    USING conversations c
    WHERE c.id = $1 AND c.project_id = $2 AND i.conversation = c.seq AND i.id = $3
      AND {key_ok("$5")}
    RETURNING i.conversation, i.id, i.position
), tombstone AS (
    INSERT INTO deleted_items (conversation, id, position)
    SELECT conversation, id, position FROM deleted
    ON CONFLICT (conversation, id) DO UPDATE SET position = excluded.position
)
UPDATE conversations c
SET item_count = c.item_count - 1, updated_at = $4
FROM deleted
WHERE c.seq = deleted.conversation AND c.project_id = $2
RETURNING c.created_at, c.metadata
"""

SQL_FIND_ITEM = """
SELECT i.data
FROM items i JOIN conversations c ON c.seq = i.conversation
WHERE i.id = $1 AND c.project_id = $2
ORDER BY i.seq DESC
LIMIT 1
"""

SQL_TAKEN_IDS = """
SELECT i.id
FROM conversations c JOIN items i ON i.conversation = c.seq
WHERE c.id = $1 AND c.project_id = $2 AND i.id = ANY($3::text[])
"""

SQL_INSERT_PROJECT = (
    "INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (name) DO NOTHING RETURNING id"
)


SQL_INSERT_RESPONSE = """
INSERT INTO responses (id, project_id, created_at, previous_response_id, data, input_items)
VALUES ($1, $2, $3, $4, $5, $6)
"""

# A conversation turn in one statement (one round trip, one implicit transaction): the append
# of SQL_CREATE_ITEMS and the stored response, written only when the conversation is there
# (the response's row comes from the conversation's). "INSERT 0 0": nothing was written.
# Before, BEGIN, the append, the response's INSERT and COMMIT were four round trips.
SQL_COMMIT_TURN = """
WITH conversation AS (
    UPDATE conversations
    SET next_position = next_position + cardinality($3::text[]),
        item_count = item_count + cardinality($3::text[]),
        updated_at = $6
    WHERE id = $1 AND project_id = $2
    RETURNING seq, next_position - cardinality($3::text[]) AS first
), appended AS (
    INSERT INTO items
        (conversation, position, id, type, created_at, data, search_text, search_scope)
    SELECT conversation.seq, conversation.first + item.ordinality - 1, item.id, item.type, $6,
           item.data, item.search_text, CASE WHEN item.search_text IS NOT NULL THEN $2 END
    FROM conversation,
         unnest($3::text[], $4::text[], $5::bytea[], $7::text[])
             WITH ORDINALITY AS item (id, type, data, search_text, ordinality)
)
INSERT INTO responses (id, project_id, created_at, previous_response_id, data, input_items)
SELECT $8, $2, $9, $10, $11, $12 FROM conversation
"""

SQL_RETRIEVE_RESPONSE = """
SELECT created_at, data, input_items, previous_response_id
FROM responses WHERE id = $1 AND project_id = $2
"""

SQL_DELETE_RESPONSE = "DELETE FROM responses WHERE id = $1 AND project_id = $2"
