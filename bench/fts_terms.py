"""Why one tenant's SQLite search still grows with the other tenants' data, and what per-tenant
terms would change (a prototype, not parley's index).

    python bench/fts_terms.py --stores DIR     DIR holds bench/extensions.py's SQLite stores
                                               (small-N.db and big-M.db, from --keep DIR)

For the fixed tenant's common (w0001) and middling (w0150) words on each store, it times:
  - parley's index (migration 0009: a scope column, `scope : "<hex>" AND body : (word)`):
    the MATCH alone, and the MATCH with bm25 (what the ranking query runs);
  - a prototype index of the same rows where every token is prefixed by a short scope
    (8 hex digits of the project id's SHA-256 and an "x"), so each tenant has its own terms
    and doclists: the same MATCH, bm25, and snippet.
bm25 needs each phrase's number of matching rows in the whole table (FTS5 counts them with
xQueryPhrase over the phrase's entire doclist, once per statement), so with a scope column it
reads every tenant's matches of the word; with per-tenant terms, only the tenant's own. The
prototype tables are written next to the stores (proto-*.db) and reused.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sqlite3
import statistics
import time
from pathlib import Path

from parley.store.sqlite_extensions import scoped

TOKEN = re.compile(r"\w+")


def scope(project: str) -> str:
    return hashlib.sha256(project.encode()).hexdigest()[:8] + "x"


def prefixed(prefix: str, body: str) -> str:
    """``body`` with every token prefixed (\\w+ is close enough to unicode61 for this text)."""
    return TOKEN.sub(lambda found: prefix + found.group(0), body)


def prototype(store: Path) -> sqlite3.Connection:
    path = store.with_name(f"proto-{store.name}")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 't'").fetchone() is None:
        conn.execute(
            "CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')"
        )
        conn.execute("ATTACH ? AS s", (str(store),))
        rows = conn.execute(
            "SELECT f.rowid, c.project_id, f.body FROM s.items_fts f "
            "JOIN s.items i ON i.seq = f.rowid JOIN s.conversations c ON c.seq = i.conversation"
        ).fetchall()
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO t (rowid, body) VALUES (?, ?)",
            ((key, prefixed(scope(project), body)) for key, project, body in rows),
        )
        conn.execute("COMMIT")
        conn.execute("DETACH s")
    return conn


def median_ms(conn: sqlite3.Connection, sql: str, args: tuple[str, ...], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        conn.execute(sql, args).fetchall()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    stores = sorted(args.stores.glob("small-*.db")) + sorted(args.stores.glob("big-*.db"))
    for store in stores:
        ours = sqlite3.connect(store)
        proto = prototype(store)
        for conn in (ours, proto):
            conn.execute("PRAGMA cache_size = -1000000")
        for word in ("w0001", "w0150"):
            match = scoped("proj_fixed", word)
            term = f'"{scope("proj_fixed")}{word}"'
            (count,) = ours.execute(
                "SELECT count(*) FROM items_fts WHERE items_fts MATCH ?", (match,)
            ).fetchone()
            figures = {
                "scope column: match": median_ms(
                    ours, "SELECT rowid FROM items_fts WHERE items_fts MATCH ?", (match,), args.runs
                ),
                "scope column: match + bm25": median_ms(
                    ours,
                    "SELECT rowid, bm25(items_fts, 0.0, 1.0) FROM items_fts "
                    "WHERE items_fts MATCH ?",
                    (match,),
                    args.runs,
                ),
                "per-tenant terms: match": median_ms(
                    proto, "SELECT rowid FROM t WHERE t MATCH ?", (term,), args.runs
                ),
                "per-tenant terms: match + bm25": median_ms(
                    proto, "SELECT rowid, bm25(t) FROM t WHERE t MATCH ?", (term,), args.runs
                ),
            }
            print(f"{store.name} {word} ({count} of the tenant's items match)")
            for name, ms in figures.items():
                print(f"  {name:34} {ms:8.2f} ms")
        sizes = [
            conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE ?", (pattern,)).fetchone()[
                0
            ]
            for conn, pattern in ((ours, "items_fts%"), (proto, "t%"))
        ]
        print(f"  FTS bytes: scope column {sizes[0]:,}, per-tenant terms {sizes[1]:,}")


if __name__ == "__main__":
    main()
