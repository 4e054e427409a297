-- 0006: full-text search over what was said (a parley extension). Each item keeps its
-- searchable text (parley.search.item_text: message text parts, function call arguments and
-- outputs; NULL when none) written by the same statement that stores the item, and a generated
-- tsvector of it under a GIN index, so a hit is never stale. The 'simple' configuration folds
-- case without stemming, like SQLite's unicode61. Items stored before this version get their
-- text right after this file runs, in the same migration transaction
-- (parley.store.postgres.migrate_connection).
ALTER TABLE items ADD COLUMN search_text text;

ALTER TABLE items ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', coalesce(search_text, ''))) STORED;

CREATE INDEX items_search ON items USING gin (search);
