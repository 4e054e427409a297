"""Extensions at scale: does a filtered conversation page cost the same on 1M conversations as
on 100k, what is full-text search's p50 on 1M items, and does one tenant's search cost stay put
while another tenant's matches grow? (SQLite or PostgreSQL, in process.)

    python bench/extensions.py                  SQLite, 10k and 1M conversations
    python bench/extensions.py --big 200000     a smaller "big" store
    python bench/extensions.py --postgres postgresql://postgres@127.0.0.1:5432/postgres \
        --small 100000 --big 1000000 --keep-pg  PostgreSQL (databases kept for the next run)
    python bench/extensions.py ... --build-only build the stores now, measure later

Each store is written straight into the database with parley's migrations (not through HTTP);
the item text comes from a fixed vocabulary with a Zipf-like spread, so some words are rare and
some are in a third of all items. Ten projects share the store's conversations; an eleventh,
the fixed tenant, holds the same 2,000 conversations in every store, so its searches show
whether the other tenants' matches cost it anything. Timings call the store's own methods
(list_conversations, search_conversations) on the event loop, as a request handler does: HTTP
costs the same on both stores and is measured by `make bench`. Results: a table on stdout and
bench/results/extensions[-postgres].json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from parley.models import TimeFilter
from parley.search import item_text
from parley.store import Store, open_store
from parley.store.sqlite_ops import item_key
from parley.store.sqlite_schema import migrate

HERE = Path(__file__).resolve().parent
PROJECTS = 10
# The fixed tenant: the same conversations in every store, whatever its size.
FIXED = "proj_fixed"
FIXED_SIZE = 2_000
TOPICS = 10
YEAR = 365 * 86400
START = 1_700_000_000
# The same 2,000 conversations in every store were updated in the day after the year: what
# an `updated_after` sync sees ("changed since yesterday") whatever the history's size.
RECENT = 2_000
WORDS = [f"w{n:04d}" for n in range(5000)]
# Word n is drawn with weight 1/(n+1): w0000 is in about a third of the items, w4999 in few.
WEIGHTS = [1 / (n + 1) for n in range(len(WORDS))]
# Summed once: choices() with plain weights sums all 5,000 per call (same draws either way).
CUM_WEIGHTS = list(itertools.accumulate(WEIGHTS))


def build(path: str, conversations: int, seed: int = 7) -> None:
    """A store of ``conversations`` conversations (one message item each)."""
    migrate(path)
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    for project in [*(f"proj_{p}" for p in range(PROJECTS)), FIXED]:
        conn.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (?, ?, 0)", (project, project)
        )
    chunk = 20_000
    for first in range(0, conversations, chunk):
        rows, pairs, items, texts = [], [], [], []
        for n, seq, project, created, metadata, topic, data in rows_of(
            rng, conversations, first, min(first + chunk, conversations)
        ):
            updated = updated_at(n, conversations, created)
            rows.append((seq, f"conv_{seq:012d}", project, created, updated, metadata, 1, 1))
            pairs.append((project, "topic", topic, seq, created))
            key = item_key(seq, 0)  # the items row key: (conversation, position)
            items.append((key, seq, 0, f"msg_{seq:012d}", "message", created, data))
            texts.append((key, project.encode().hex(), item_text(data)))
        conn.executemany(
            "INSERT INTO conversations (seq, id, project_id, created_at, updated_at, metadata, "
            "next_position, item_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO conversation_metadata (project_id, key, value, conversation, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            pairs,
        )
        conn.executemany(
            "INSERT INTO items (seq, conversation, position, id, type, created_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            items,
        )
        conn.executemany("INSERT INTO items_fts (rowid, scope, body) VALUES (?, ?, ?)", texts)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


UNSCOPED_SQLITE = (
    "WITH hits AS MATERIALIZED (SELECT i.conversation AS conversation, bm25(items_fts) AS rank "
    "FROM items_fts JOIN items i ON i.seq = items_fts.rowid WHERE items_fts MATCH ?) "
    "SELECT c.seq, min(h.rank) AS best FROM hits h JOIN conversations c "
    "ON c.seq = h.conversation WHERE c.project_id = ? GROUP BY c.seq ORDER BY best, c.seq "
    "LIMIT 21"
)
UNSCOPED_POSTGRES = (
    "WITH q AS (SELECT websearch_to_tsquery('simple', $1) AS query), "
    "hits AS (SELECT i.conversation, -ts_rank(i.search, q.query)::float8 AS rank "
    "FROM items i, q WHERE i.search @@ q.query) "
    "SELECT c.seq, min(h.rank) AS best FROM hits h JOIN conversations c "
    "ON c.seq = h.conversation WHERE c.project_id = $2 GROUP BY c.seq ORDER BY best, c.seq "
    "LIMIT 21"
)


def updated_at(n: int, conversations: int, created: int) -> int:
    """When conversation ``n`` was last updated: at creation, but for ``RECENT`` of them
    (spread over the year, none the fixed tenant's) in the day after the year."""
    every = max(conversations // RECENT, 1)
    # One in every `every`, the k-th at offset every/2 + k % 10: each project gets its share.
    k = n // every
    if k < RECENT and n % every == (every // 2 + k % PROJECTS) % every:
        return START + YEAR + n % 86_400
    return created


def rows_of(
    rng: random.Random, conversations: int, start: int, stop: int
) -> list[tuple[int, int, str, int, bytes, str, bytes]]:
    """Conversations ``start`` to ``stop`` of a store of ``conversations`` (plus the fixed
    tenant's 2,000, spread among them): (n, seq, project, created_at, metadata, topic, item)."""
    found = []
    every = max(conversations // FIXED_SIZE, 1)
    for n in range(start, stop):
        project = FIXED if n % every == 0 and n // every < FIXED_SIZE else f"proj_{n % PROJECTS}"
        created = START + n * YEAR // conversations
        topic = f"t{rng.randrange(TOPICS)}"
        metadata = json.dumps({"topic": topic}, separators=(",", ":")).encode()
        words = " ".join(rng.choices(WORDS, cum_weights=CUM_WEIGHTS, k=12))
        data = json.dumps(
            {
                "type": "message",
                "id": f"msg_{n + 1:012d}",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_text", "text": words}],
            },
            separators=(",", ":"),
        ).encode()
        found.append((n, n + 1, project, created, metadata, topic, data))
    return found


async def build_postgres(url: str, conversations: int, seed: int = 7) -> None:
    """The same store in PostgreSQL at ``url`` (an empty database), loaded with COPY."""
    import asyncpg

    store = open_store(url)
    await store.open()  # migrates
    await store.close()
    rng = random.Random(seed)
    conn = await asyncpg.connect(url)
    try:
        # Loaded first, indexed after: one GIN build instead of a million inserts into it.
        await conn.execute("DROP INDEX items_search")
        await conn.copy_records_to_table(
            "projects",
            records=[(p, p, 0) for p in [*(f"proj_{n}" for n in range(PROJECTS)), FIXED]],
            columns=["id", "name", "created_at"],
        )
        chunk = 50_000
        for first in range(0, conversations, chunk):
            batch = rows_of(rng, conversations, first, min(first + chunk, conversations))
            await conn.copy_records_to_table(
                "conversations",
                records=[
                    (
                        f"conv_{seq:012d}",
                        project,
                        created,
                        updated_at(n, conversations, created),
                        metadata,
                        1,
                        1,
                    )
                    for n, seq, project, created, metadata, _, _ in batch
                ],
                columns=[
                    "id",
                    "project_id",
                    "created_at",
                    "updated_at",
                    "metadata",
                    "next_position",
                    "item_count",
                ],
            )
            # A fresh identity hands out 1, 2, ... in COPY order: seq is the row's number.
            top = await conn.fetchval("SELECT max(seq) FROM conversations")
            assert top == first + len(batch), "conversations were not numbered in order"
            await conn.copy_records_to_table(
                "conversation_metadata",
                records=[
                    (project, b"topic", topic.encode(), seq, created)
                    for _, seq, project, created, _, topic, _ in batch
                ],
                columns=["project_id", "key", "value", "conversation", "created_at"],
            )
            await conn.copy_records_to_table(
                "items",
                records=[
                    (seq, 0, f"msg_{seq:012d}", "message", created, data, item_text(data), project)
                    for _, seq, project, created, _, _, data in batch
                ],
                columns=[
                    "conversation",
                    "position",
                    "id",
                    "type",
                    "created_at",
                    "data",
                    "search_text",
                    "search_scope",
                ],
            )
        # COPY does not compute the search vector (migration 0012): one pass before indexing.
        await conn.execute(
            "UPDATE items SET search = parley_search_vector(search_text, search_scope) "
            "WHERE search_text IS NOT NULL"
        )
        await conn.execute("CREATE INDEX items_search ON items USING gin (search)")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def measure(paths: dict[str, str], runs: int, seed: int = 11) -> dict[str, dict[str, float]]:
    """Median milliseconds of each kind of query on each store.

    The stores take turns call by call (same query on each), so drift in a shared machine's
    load falls on both alike.
    """
    stores = {name: open_store(path, migrate=False) for name, path in paths.items()}
    for store in stores.values():
        await store.open()
    rng = random.Random(seed)
    span = YEAR // 20  # a window of about 18 days, anywhere in the year

    def window() -> TimeFilter:
        low = START + rng.randrange(YEAR - span)
        return TimeFilter(created_after=low, created_before=low + span)

    async def listing(store: Store, args: dict[str, Any]) -> None:
        await store.list_conversations(after=None, limit=20, **args)

    async def searching(store: Store, args: dict[str, Any]) -> None:
        await store.search_conversations(metadata=[], page=None, limit=20, **args)

    # The ranking query as it was before the scope moved into the index (every project's
    # matches, then a join to the caller's): what the fixed tenant paid before, for reference.
    raw: dict[int, Any] = {}
    for name, store in stores.items():
        if paths[name].startswith("postgres"):
            import asyncpg

            raw[id(store)] = await asyncpg.connect(paths[name])
        else:
            raw[id(store)] = sqlite3.connect(paths[name], check_same_thread=False)

    async def unscoped(store: Store, args: dict[str, Any]) -> None:
        conn = raw[id(store)]
        if isinstance(conn, sqlite3.Connection):
            conn.execute(UNSCOPED_SQLITE, (f"body : {args['query']}", args["project"])).fetchall()
        else:
            await conn.fetch(UNSCOPED_POSTGRES, args["query"], args["project"])

    def project() -> str:
        return f"proj_{rng.randrange(PROJECTS)}"

    kinds: dict[str, tuple[Any, Any, int]] = {
        "page_unfiltered": (
            listing,
            lambda: {"project": project(), "metadata": [], "order": "desc"},
            runs,
        ),
        "page_created_window": (
            listing,
            lambda: {
                "project": project(),
                "metadata": [],
                "order": rng.choice(["asc", "desc"]),
                "times": window(),
            },
            runs,
        ),
        "page_created_after": (
            listing,
            lambda: {
                "project": project(),
                "metadata": [],
                "order": "desc",
                "times": TimeFilter(created_after=START + rng.randrange(YEAR - span)),
            },
            runs,
        ),
        "page_created_before": (
            listing,
            lambda: {
                "project": project(),
                "metadata": [],
                "order": "asc",
                "times": TimeFilter(created_before=START + span + rng.randrange(YEAR - span)),
            },
            runs,
        ),
        # The 200 conversations of a project updated in the last day, among its 10k or 100k.
        "page_updated_after_desc": (
            listing,
            lambda: {
                "project": project(),
                "metadata": [],
                "order": "desc",
                "times": TimeFilter(updated_after=START + YEAR - 1),
            },
            runs,
        ),
        "page_updated_after_asc": (
            listing,
            lambda: {
                "project": project(),
                "metadata": [],
                "order": "asc",
                "times": TimeFilter(updated_after=START + YEAR - 1),
            },
            runs,
        ),
        "page_updated_after_and_metadata": (
            listing,
            lambda: {
                "project": project(),
                "metadata": [("topic", f"t{rng.randrange(TOPICS)}")],
                "order": rng.choice(["asc", "desc"]),
                "times": TimeFilter(updated_after=START + YEAR - 1),
            },
            runs,
        ),
        "page_metadata_and_window": (
            listing,
            lambda: {
                "project": project(),
                "metadata": [("topic", f"t{rng.randrange(TOPICS)}")],
                "order": rng.choice(["asc", "desc"]),
                "times": window(),
            },
            runs,
        ),
        # Rare (w4000-w4999), middling (w0100-w0199) and common (w0000-w0004) words.
        "search_rare_word": (
            searching,
            lambda: {
                "project": project(),
                "query": f"w{rng.randrange(4000, 5000):04d}",
                "times": TimeFilter(),
            },
            runs,
        ),
        "search_middling_word": (
            searching,
            lambda: {
                "project": project(),
                "query": f"w{rng.randrange(100, 200):04d}",
                "times": TimeFilter(),
            },
            max(runs // 4, 5),
        ),
        "search_common_word": (
            searching,
            lambda: {
                "project": project(),
                "query": f"w{rng.randrange(0, 5):04d}",
                "times": TimeFilter(),
            },
            5,
        ),
        # The fixed tenant's 2,000 conversations are the same in both stores; the other
        # tenants' matches of the same words grow with the store.
        "fixed_tenant_search_common": (
            searching,
            lambda: {
                "project": FIXED,
                "query": f"w{rng.randrange(0, 5):04d}",
                "times": TimeFilter(),
            },
            max(runs // 4, 5),
        ),
        "fixed_tenant_search_middling": (
            searching,
            lambda: {
                "project": FIXED,
                "query": f"w{rng.randrange(100, 200):04d}",
                "times": TimeFilter(),
            },
            runs,
        ),
        "fixed_tenant_common_unscoped_sql": (
            unscoped,
            lambda: {"project": FIXED, "query": f"w{rng.randrange(0, 5):04d}"},
            5,
        ),
        "fixed_tenant_middling_unscoped_sql": (
            unscoped,
            lambda: {"project": FIXED, "query": f"w{rng.randrange(100, 200):04d}"},
            max(runs // 4, 5),
        ),
    }
    timings: dict[str, dict[str, list[float]]] = {n: {k: [] for k in kinds} for n in stores}
    try:
        for kind, (call, make, count) in kinds.items():
            for _ in range(count):
                args = make()
                for name, store in stores.items():
                    began = time.perf_counter()
                    await call(store, args)
                    timings[name][kind].append((time.perf_counter() - began) * 1000)
    finally:
        for store in stores.values():
            await store.close()
        for conn in raw.values():
            if isinstance(conn, sqlite3.Connection):
                conn.close()
            else:
                await conn.close()
    return {
        name: {kind: round(statistics.median(values), 4) for kind, values in found.items()}
        for name, found in timings.items()
    }


def _database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _pg_ready(admin: str, url: str, name: str, size: int) -> bool:
    """Whether database ``name`` holds a finished store of ``size`` (else it is made empty)."""
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    finally:
        await conn.close()
    if exists:
        store = await asyncpg.connect(url)
        try:
            built = await store.fetchval("SELECT to_regclass('bench_built') IS NOT NULL")
        finally:
            await store.close()
        if built:
            return True
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return False


async def _pg_built(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE bench_built (at bigint)")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--keep", type=Path, default=None, help="Build SQLite stores here.")
    parser.add_argument(
        "--postgres",
        default=None,
        metavar="URL",
        help="Benchmark PostgreSQL: stores in databases parley_bench_ext_SIZE next to URL's "
        "(kept, and reused by the next run).",
    )
    parser.add_argument(
        "--pg-prefix",
        default="parley_bench_ext",
        help="PostgreSQL database names: PREFIX_SIZE (your own, on a shared server).",
    )
    parser.add_argument("--build-only", action="store_true", help="Build the stores; no timing.")
    args = parser.parse_args()
    results: dict[str, Any] = {"small": args.small, "big": args.big}
    paths = {}
    for name, size in (("small", args.small), ("big", args.big)):
        began = time.perf_counter()
        if args.postgres:
            database = f"{args.pg_prefix}_{size}"
            url = _database(args.postgres, database)
            if not asyncio.run(_pg_ready(args.postgres, url, database, size)):
                asyncio.run(build_postgres(url, size))
                asyncio.run(_pg_built(url))
                results[f"{name}_build_s"] = round(time.perf_counter() - began, 1)
            paths[name] = url
            continue
        folder = args.keep or Path(tempfile.mkdtemp(prefix="parley-ext-"))
        folder.mkdir(parents=True, exist_ok=True)
        path = str(folder / f"{name}-{size}.db")
        if not Path(path).exists():
            build(path, size)
            results[f"{name}_build_s"] = round(time.perf_counter() - began, 1)
        paths[name] = path
    if args.build_only:
        print(json.dumps(results))
        return
    for name, figures in asyncio.run(measure(paths, args.runs)).items():
        results[name + "_ms"] = figures
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{backend}: {'query':28} {args.small:>10,} {args.big:>12,}  ratio  (median ms)")
    for query, small_ms in results["small_ms"].items():
        big_ms = results["big_ms"][query]
        print(f"{query:40} {small_ms:10.3f} {big_ms:12.3f}  {big_ms / small_ms:5.2f}")
    out = HERE / "results" / ("extensions-postgres.json" if args.postgres else "extensions.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
