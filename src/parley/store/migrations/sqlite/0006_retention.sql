-- 0006: per-project retention (a parley extension). NULL keeps everything forever (the
-- default); otherwise the background sweeper deletes conversations not updated within this
-- many seconds, walking conversations_by_project_updated (0002), and stored responses older
-- than that.
ALTER TABLE projects ADD COLUMN retention_seconds INTEGER;

-- Stored responses expire by age: the sweeper walks each project's oldest ones.
CREATE INDEX responses_by_project_created ON responses (project_id, created_at);
