-- 0008: items clustered by (conversation, position). An item's row key is now
-- conversation * 2^32 + position instead of an insertion counter, so the table's own b-tree
-- keeps a conversation's items side by side in order: a page of 20 items is a few adjacent
-- table pages (one range walk of the table) instead of an index walk plus 20 row lookups
-- scattered over the file by the other conversations written in between. The
-- (conversation, position) index becomes the table itself and is dropped. The search index is
-- keyed by the same row key, so its rows are carried over with their new keys in this same
-- transaction; both tables are rebuilt in key order (dense pages) and renamed into place.
CREATE TABLE items_clustered (
    seq INTEGER PRIMARY KEY,
    conversation INTEGER NOT NULL,
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data BLOB NOT NULL,
    CHECK (conversation BETWEEN 0 AND 2147483647),
    CHECK (position BETWEEN 0 AND 4294967295),
    CHECK (seq = conversation * 4294967296 + position)
);

INSERT INTO items_clustered (seq, conversation, position, id, type, created_at, data)
SELECT conversation * 4294967296 + position, conversation, position, id, type, created_at, data
FROM items ORDER BY conversation, position;

CREATE VIRTUAL TABLE items_fts_clustered
    USING fts5(body, tokenize = 'unicode61 remove_diacritics 2');

INSERT INTO items_fts_clustered (rowid, body)
SELECT i.conversation * 4294967296 + i.position, f.body
FROM items_fts f JOIN items i ON i.seq = f.rowid
ORDER BY i.conversation, i.position;

DROP TABLE items_fts;

DROP TABLE items;

ALTER TABLE items_clustered RENAME TO items;

ALTER TABLE items_fts_clustered RENAME TO items_fts;

CREATE UNIQUE INDEX items_by_conversation_id ON items (conversation, id);

CREATE INDEX items_by_id ON items (id);
