-- 0004: stored responses (POST /v1/responses with store: true). A response row keeps the
-- Response object as answered, its input items (for GET .../input_items and for the context of
-- a later previous_response_id), and the response it continued, so a chain can be walked back.
-- Rows are scoped by project like conversations; the turn's conversation items are written in
-- the same transaction as the row.
CREATE TABLE responses (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    previous_response_id TEXT,
    data BLOB NOT NULL,
    input_items BLOB NOT NULL
);
