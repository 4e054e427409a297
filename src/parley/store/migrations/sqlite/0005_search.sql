-- 0005: full-text search over what was said (a parley extension). One FTS5 row per item that
-- has searchable text (parley.search.item_text: message text parts, function call arguments
-- and outputs), keyed by the item's seq. The store writes and deletes these rows in the same
-- transaction as the items themselves, so a hit is never stale. Items stored before this
-- version are indexed right after this file runs, in the same migration transaction
-- (parley.store.sqlite.migrate). unicode61 folds case and diacritics; no stemming.
CREATE VIRTUAL TABLE items_fts USING fts5(body, tokenize = 'unicode61 remove_diacritics 2');
