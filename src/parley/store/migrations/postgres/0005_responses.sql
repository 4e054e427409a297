-- 0005: stored responses (POST /v1/responses with store: true), the same model as SQLite's
-- 0004. A row keeps the Response object as answered (bytea: the exact bytes come back), its
-- input items, and the response it continued, so a previous_response_id chain can be walked.
-- The turn's conversation items are written in the same transaction as the row.
CREATE TABLE responses (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    project_id text NOT NULL,
    created_at bigint NOT NULL,
    previous_response_id text,
    data bytea NOT NULL,
    input_items bytea NOT NULL
);
