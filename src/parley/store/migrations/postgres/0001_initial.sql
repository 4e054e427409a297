-- 0001: the first PostgreSQL schema, the same model as SQLite's 0001. Projects own API keys
-- (SHA-256 hashes only) and conversations. Metadata and item JSON are bytea, not jsonb: the API
-- hands back exactly the bytes it stored, and jsonb would reorder keys. Items carry a
-- per-conversation position assigned under the conversation's row lock, so concurrent appends
-- from any number of processes never interleave, and pages are keyset walks over
-- (conversation, position).
CREATE TABLE projects (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    created_at bigint NOT NULL
);

CREATE TABLE api_keys (
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id),
    name text NOT NULL,
    hint text NOT NULL,
    key_hash bytea NOT NULL UNIQUE,
    created_at bigint NOT NULL,
    revoked_at bigint
);

CREATE TABLE conversations (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    project_id text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    metadata bytea NOT NULL,
    next_position bigint NOT NULL DEFAULT 0,
    item_count bigint NOT NULL DEFAULT 0
);

CREATE INDEX conversations_by_project ON conversations (project_id, seq);

-- The foreign key cascades a conversation's deletion to its items; its lookups ride on
-- items_by_position, whose leading column is the conversation.
CREATE TABLE items (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation bigint NOT NULL REFERENCES conversations (seq) ON DELETE CASCADE,
    position bigint NOT NULL,
    id text NOT NULL,
    type text NOT NULL,
    created_at bigint NOT NULL,
    data bytea NOT NULL
);

CREATE UNIQUE INDEX items_by_position ON items (conversation, position);
CREATE UNIQUE INDEX items_by_conversation_id ON items (conversation, id);
CREATE INDEX items_by_id ON items (id);

-- Metadata pairs, one row each, so conversations can be listed by metadata (a parley
-- extension) with an index walk in creation order instead of a scan of the project. Keys and
-- values are UTF-8 bytes: JSON allows "\u0000", which a PostgreSQL text value cannot hold.
CREATE TABLE conversation_metadata (
    project_id text NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    conversation bigint NOT NULL REFERENCES conversations (seq) ON DELETE CASCADE,
    PRIMARY KEY (project_id, key, value, conversation)
);

CREATE INDEX conversation_metadata_by_conversation ON conversation_metadata (conversation);
