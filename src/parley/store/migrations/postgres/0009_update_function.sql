-- 0009: an update (new metadata, and the metadata index brought in line) in one round trip.
-- It was two statements in a client-side transaction (BEGIN, UPDATE, reindex, COMMIT: four
-- round trips), because the reindex must read after the row lock is held: under READ
-- COMMITTED a statement reads from the snapshot taken when it began, so an index DELETE in the
-- locking statement itself could not see the pairs that the update it waited for had inserted,
-- and left them behind. In a VOLATILE PL/pgSQL function each statement takes a fresh
-- snapshot, so the DELETE below, which starts once the UPDATE holds the lock, sees every pair
-- committed before it. Pairs no longer present go, new ones come, unchanged ones stay (no
-- delete and re-insert of the same row, no write at all when the metadata did not change).
--
-- api_key: NULL, or the SHA-256 of the caller's key; then the update only happens while that
-- key is active in the project (the request's key check, folded into the same round trip).
CREATE FUNCTION parley_update_conversation(
    conversation_id text,
    project text,
    new_metadata bytea,
    now bigint,
    keys bytea[],
    vals bytea[],
    api_key bytea
) RETURNS TABLE (seq bigint, created_at bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    found_seq bigint;
    found_created bigint;
BEGIN
    UPDATE conversations c SET metadata = new_metadata, updated_at = now
    WHERE c.id = conversation_id AND c.project_id = project
      AND (api_key IS NULL OR EXISTS (
          SELECT 1 FROM api_keys k
          WHERE k.key_hash = api_key AND k.revoked_at IS NULL AND k.project_id = project))
    RETURNING c.seq, c.created_at INTO found_seq, found_created;
    IF found_seq IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM conversation_metadata m
    WHERE m.conversation = found_seq
      AND (m.key, m.value) NOT IN (SELECT * FROM unnest(keys, vals));
    INSERT INTO conversation_metadata AS m (project_id, key, value, conversation, created_at)
    SELECT project, pair.key, pair.value, found_seq, found_created
    FROM unnest(keys, vals) AS pair (key, value)
    ON CONFLICT DO NOTHING;
    seq := found_seq;
    created_at := found_created;
    RETURN NEXT;
END
$$;
