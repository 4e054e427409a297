-- 0007: where deleted items and conversations stood, so a page walk whose cursor (`after`)
-- was deleted meanwhile continues from that place instead of answering 404. One small row per
-- deletion (no data): an item's position in its conversation (gone with the conversation), a
-- conversation's (created_at, seq) list position in its project.
CREATE TABLE deleted_items (
    conversation INTEGER NOT NULL,
    id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (conversation, id)
) WITHOUT ROWID;

CREATE TABLE deleted_conversations (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
