-- 0008: where deleted items and conversations stood, so a page walk whose cursor (`after`)
-- was deleted meanwhile continues from that place instead of answering 404. One small row per
-- deletion (no data): an item's position in its conversation (cascading away with the
-- conversation), a conversation's (created_at, seq) list position in its project.
CREATE TABLE deleted_items (
    conversation bigint NOT NULL REFERENCES conversations (seq) ON DELETE CASCADE,
    id text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (conversation, id)
);

CREATE TABLE deleted_conversations (
    id text PRIMARY KEY,
    project_id text NOT NULL,
    created_at bigint NOT NULL,
    seq bigint NOT NULL
);
