-- 0011: a conversation's items and metadata rows go with it through a trigger on the
-- conversation's deletion instead of a foreign key. The foreign key cost every inserted item
-- and metadata row a lookup of its conversation (a trigger per row, run through SPI): a
-- quarter of a create's statement CPU in PostgreSQL (bench/README.md, "PostgreSQL: one round
-- trip ..."). parley never inserts such a row without the conversation's: a create inserts it
-- in the same statement, an append or update first takes the conversation's row lock (so a
-- deletion either waits for it or leaves nothing to lock), and an import writes
-- conversations first. The deletion side keeps ON DELETE CASCADE's guarantee: the trigger runs
-- after the DELETE statement, and each statement in it takes a fresh snapshot, so it also sees
-- the items of an append that committed while the DELETE waited for the row lock.
ALTER TABLE items DROP CONSTRAINT IF EXISTS items_conversation_fkey;

ALTER TABLE conversation_metadata
    DROP CONSTRAINT IF EXISTS conversation_metadata_conversation_fkey;

CREATE FUNCTION parley_forget_conversations() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- = ANY (ARRAY(...)): an index walk per deleted conversation, whatever the planner
    -- guesses of the transition table's size.
    DELETE FROM items i WHERE i.conversation = ANY (ARRAY(SELECT seq FROM gone));
    DELETE FROM conversation_metadata m WHERE m.conversation = ANY (ARRAY(SELECT seq FROM gone));
    RETURN NULL;
END
$$;

CREATE TRIGGER conversations_forget AFTER DELETE ON conversations
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION parley_forget_conversations();
