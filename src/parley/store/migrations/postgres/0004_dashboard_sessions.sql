-- 0004: dashboard sessions, so the browser holds a random session token instead of an API key.
-- Only the token's SHA-256 is stored (256 random bits: one hash pass is enough). A session is
-- live while it has not expired and its key is not revoked: lookups join api_keys, so revoking
-- a key ends its sessions at once (revoke also deletes them). last_used_at feeds the keys page;
-- it is written at most once a minute per key, off the request's critical path.
CREATE TABLE dashboard_sessions (
    token_hash bytea PRIMARY KEY,
    key_id text NOT NULL REFERENCES api_keys (id),
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
);

CREATE INDEX dashboard_sessions_by_key ON dashboard_sessions (key_id);

ALTER TABLE api_keys ADD COLUMN last_used_at bigint;
