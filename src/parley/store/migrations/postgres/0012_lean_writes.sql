-- 0012: fewer index entries and less executor start-up per write. Instruction counts of one
-- create statement (3 items, 2 metadata pairs), PostgreSQL 15 in single-user mode under
-- callgrind (bench/README.md, "PostgreSQL: one round trip ..."): 1,301k -> 1,164k (-10.5 %).
--
-- 1. The search vector is written by the statements that store items instead of being a
--    generated column: PostgreSQL rebuilds a generated column's expression from its catalog
--    text (stringToNode, expression_planner) in every execution that inserts into the table,
--    where an expression in the statement is planned once with it (-64k per create). Every
--    writer computes it with parley_search_vector() below, which the planner inlines; stored
--    values stay as they are (DROP EXPRESSION keeps the column's data, no rewrite).
-- 2. conversation_metadata keeps one unique index instead of two: the primary key
--    (project, key, value, conversation) and conversation_metadata_by_time (project, key,
--    value, created_at, conversation) held the same rows, since a row's created_at is its
--    conversation's (written so by every path, never changed). The by_time index becomes the
--    unique one (it serves the metadata-filtered lists), the primary key goes (-47k).
-- 3. items' primary key is (conversation, position), the unique index every page walk uses,
--    instead of seq, whose index no statement searches (seq still orders find_item's
--    matches, among the rows items_by_id finds): one index entry fewer per item (-24k).
CREATE FUNCTION parley_search_vector(search_text text, search_scope text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('simple', coalesce(search_text, ''))
        || CASE WHEN search_scope IS NULL THEN ''::tsvector
                ELSE array_to_tsvector(ARRAY[' ' || search_scope]) END
$$;

ALTER TABLE items ALTER COLUMN search DROP EXPRESSION;

CREATE UNIQUE INDEX conversation_metadata_by_time_unique
    ON conversation_metadata (project_id, key, value, created_at, conversation);

DROP INDEX conversation_metadata_by_time;

ALTER INDEX conversation_metadata_by_time_unique RENAME TO conversation_metadata_by_time;

ALTER TABLE conversation_metadata DROP CONSTRAINT conversation_metadata_pkey;

ALTER TABLE items DROP CONSTRAINT items_pkey;

ALTER TABLE items ADD CONSTRAINT items_by_position PRIMARY KEY USING INDEX items_by_position;
