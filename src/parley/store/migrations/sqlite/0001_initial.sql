-- 0001: the first schema. Projects own API keys (stored as SHA-256 hashes only) and
-- conversations; items hang off a conversation's integer key and carry a per-conversation
-- position assigned inside the write transaction, so concurrent appends never interleave and
-- pagination is a keyset walk over (conversation, position).
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    hint TEXT NOT NULL,
    key_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE conversations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    metadata BLOB NOT NULL,
    next_position INTEGER NOT NULL DEFAULT 0,
    item_count INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX conversations_by_project ON conversations (project_id, seq);

CREATE TABLE items (
    seq INTEGER PRIMARY KEY,
    conversation INTEGER NOT NULL,
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data BLOB NOT NULL
);

CREATE UNIQUE INDEX items_by_position ON items (conversation, position);
CREATE UNIQUE INDEX items_by_conversation_id ON items (conversation, id);
CREATE INDEX items_by_id ON items (id);

-- Metadata pairs, one row each, so conversations can be listed by metadata (a parley
-- extension) with an index walk in creation order instead of a scan of the project.
CREATE TABLE conversation_metadata (
    project_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    conversation INTEGER NOT NULL,
    PRIMARY KEY (project_id, key, value, conversation)
) WITHOUT ROWID;

CREATE INDEX conversation_metadata_by_conversation ON conversation_metadata (conversation);
