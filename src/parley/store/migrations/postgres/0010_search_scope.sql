-- 0010: full-text search scoped to the project inside the index. Until now a search matched
-- every project's items through the GIN index and kept the caller's by a join afterwards, so
-- one tenant's common word made every other tenant's search of it slow. Each item with text
-- now also carries its project (search_scope, written by the statement that stores the item),
-- and its tsvector one extra lexeme for it: a space and the project id, which no parsed word
-- can be. A search ANDs that lexeme into the query, and GIN intersects the two posting lists
-- inside the index, skipping through the larger one, so the cost follows the caller's own
-- items. (The number 0009 is another migration's.)
ALTER TABLE items ADD COLUMN search_scope text;

UPDATE items i SET search_scope = c.project_id
FROM conversations c
WHERE c.seq = i.conversation AND i.search_text IS NOT NULL;

DROP INDEX items_search;

ALTER TABLE items DROP COLUMN search;

ALTER TABLE items ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', coalesce(search_text, ''))
    || CASE WHEN search_scope IS NULL THEN ''::tsvector
            ELSE array_to_tsvector(ARRAY[' ' || search_scope]) END
) STORED;

CREATE INDEX items_search ON items USING gin (search);
