-- 0003: conversation lists filtered by time (created_after, created_before, updated_after) and
-- retention sweeps, as index walks. Lists now run in (created_at, seq) order: the same as seq
-- order for conversations created here, and the true creation order for imported ones, whose
-- created_at comes from elsewhere. Metadata rows carry their conversation's created_at so a
-- metadata filter walks its index in that same order, bounded by the time filters. The
-- updated_at index serves updated_after and the retention sweeper's "not updated since".
ALTER TABLE conversation_metadata ADD COLUMN created_at bigint NOT NULL DEFAULT 0;

UPDATE conversation_metadata m SET created_at = c.created_at
FROM conversations c WHERE c.seq = m.conversation;

CREATE INDEX conversation_metadata_by_time
    ON conversation_metadata (project_id, key, value, created_at, conversation);

CREATE INDEX conversations_by_project_time ON conversations (project_id, created_at, seq);

CREATE INDEX conversations_by_project_updated ON conversations (project_id, updated_at);

DROP INDEX conversations_by_project;
