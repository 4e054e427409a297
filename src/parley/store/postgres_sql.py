"""The PostgreSQL store's statements, named so that tests can EXPLAIN exactly what runs."""

from __future__ import annotations

SQL_PROJECT_FOR_KEY = "SELECT project_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"

SQL_CREATE_CONVERSATION = """
WITH conversation AS (
    INSERT INTO conversations
        (id, project_id, created_at, updated_at, metadata, next_position, item_count)
    VALUES ($1, $2, $3, $3, $4, cardinality($5::text[]), cardinality($5::text[]))
    RETURNING seq
), pairs AS (
    INSERT INTO conversation_metadata (project_id, key, value, conversation, created_at)
    SELECT $2, pair.key, pair.value, conversation.seq, $3
    FROM conversation, unnest($8::bytea[], $9::bytea[]) AS pair (key, value)
)
INSERT INTO items (conversation, position, id, type, created_at, data, search_text)
SELECT conversation.seq, item.ordinality - 1, item.id, item.type, $3, item.data, item.search_text
FROM conversation,
     unnest($5::text[], $6::text[], $7::bytea[], $10::text[])
         WITH ORDINALITY AS item (id, type, data, search_text, ordinality)
"""

# The UPDATE takes the conversation's row lock and advances its position counter; the INSERT
# of the same statement uses the counter's old value. A concurrent append waits for the lock
# and then re-reads the committed counter, so calls never interleave.
SQL_CREATE_ITEMS = """
WITH conversation AS (
    UPDATE conversations
    SET next_position = next_position + cardinality($3::text[]),
        item_count = item_count + cardinality($3::text[]),
        updated_at = $6
    WHERE id = $1 AND project_id = $2
    RETURNING seq, next_position - cardinality($3::text[]) AS first
)
INSERT INTO items (conversation, position, id, type, created_at, data, search_text)
SELECT conversation.seq, conversation.first + item.ordinality - 1, item.id, item.type, $6,
       item.data, item.search_text
FROM conversation,
     unnest($3::text[], $4::text[], $5::bytea[], $7::text[])
         WITH ORDINALITY AS item (id, type, data, search_text, ordinality)
"""

SQL_RETRIEVE_CONVERSATION = (
    "SELECT created_at, metadata FROM conversations WHERE id = $1 AND project_id = $2"
)

# An update is two statements in one transaction. The first takes the conversation's row
# lock. The second brings the index rows in line with the new metadata, and must start after
# that lock is held: under READ COMMITTED a statement reads from the snapshot taken when it
# began, so an index DELETE in the locking statement itself could not see the pairs that the
# update it waited for had inserted, and left them behind (4-5 stale pairs in 2 of 10 rounds
# of 60 concurrent updates). Pairs no longer present go, new ones come, unchanged ones stay
# (deleting and re-inserting one key in a single statement would collide on the primary key).
SQL_UPDATE_CONVERSATION = """
UPDATE conversations SET metadata = $3, updated_at = $4
WHERE id = $1 AND project_id = $2
RETURNING seq, created_at
"""

SQL_REINDEX_METADATA = """
WITH dropped AS (
    DELETE FROM conversation_metadata m
    WHERE m.conversation = $1 AND m.project_id = $2
      AND (m.key, m.value) NOT IN (SELECT * FROM unnest($3::bytea[], $4::bytea[]))
)
INSERT INTO conversation_metadata (project_id, key, value, conversation, created_at)
SELECT $2, pair.key, pair.value, $1, $5
FROM unnest($3::bytea[], $4::bytea[]) AS pair (key, value)
ON CONFLICT DO NOTHING
"""

# A deleted conversation leaves its place in the list (a tombstone), so a walk goes on past it.
SQL_DELETE_CONVERSATION = """
WITH deleted AS (
    DELETE FROM conversations WHERE id = $1 AND project_id = $2 RETURNING id, created_at, seq
)
INSERT INTO deleted_conversations (id, project_id, created_at, seq)
SELECT id, $2, created_at, seq FROM deleted
ON CONFLICT (id) DO UPDATE SET project_id = excluded.project_id,
    created_at = excluded.created_at, seq = excluded.seq
"""

# The conversation's key and the position of the item a page starts after (NULL for none):
# a live item's, else where a deleted one stood, so a walk goes on past a deleted cursor.
SQL_PAGE_ANCHOR = """
SELECT c.seq, coalesce(i.position, (
    SELECT d.position FROM deleted_items d WHERE d.conversation = c.seq AND d.id = $3
))
FROM conversations c
LEFT JOIN items i ON i.conversation = c.seq AND i.id = $3
WHERE c.id = $1 AND c.project_id = $2
"""

SQL_PAGE_ASC = """
SELECT i.id, i.data
FROM conversations c JOIN items i ON i.conversation = c.seq
WHERE c.seq = $1 AND c.project_id = $2 AND i.position > $3
ORDER BY i.position
LIMIT $4
"""

SQL_PAGE_DESC = """
SELECT i.id, i.data
FROM conversations c JOIN items i ON i.conversation = c.seq
WHERE c.seq = $1 AND c.project_id = $2 AND i.position < $3
ORDER BY i.position DESC
LIMIT $4
"""

SQL_RETRIEVE_ITEM = """
SELECT i.data
FROM conversations c JOIN items i ON i.conversation = c.seq AND i.id = $3
WHERE c.id = $1 AND c.project_id = $2
"""

SQL_DELETE_ITEM = """
WITH deleted AS (
    DELETE FROM items i
    USING conversations c
    WHERE c.id = $1 AND c.project_id = $2 AND i.conversation = c.seq AND i.id = $3
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

SQL_RETRIEVE_RESPONSE = """
SELECT created_at, data, input_items, previous_response_id
FROM responses WHERE id = $1 AND project_id = $2
"""

SQL_DELETE_RESPONSE = "DELETE FROM responses WHERE id = $1 AND project_id = $2"
