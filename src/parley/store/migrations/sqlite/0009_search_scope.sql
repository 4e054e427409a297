-- 0009: full-text search scoped to the project inside the index. Until now a search matched
-- every project's items and kept the caller's by a join afterwards, so one tenant's common word
-- made every other tenant's search of it slow. Each index row now also holds its project as a
-- single token (the hex of the project id) in a `scope` column, and a search is the FTS5 query
-- `scope : "<hex>" AND body : (<query>)`: FTS5 intersects the two doclists inside the index,
-- skipping through the larger one, so the cost follows the caller's own items. The rows are
-- copied as they are (same rowids, same text); the number 0008 is another migration's.
CREATE VIRTUAL TABLE items_fts_scoped USING fts5(
    scope, body, tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO items_fts_scoped (rowid, scope, body)
SELECT f.rowid, lower(hex(c.project_id)), f.body
FROM items_fts f
JOIN items i ON i.seq = f.rowid
JOIN conversations c ON c.seq = i.conversation;

DROP TABLE items_fts;

ALTER TABLE items_fts_scoped RENAME TO items_fts;
