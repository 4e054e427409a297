"""Extensions at scale: does a filtered conversation page cost the same on 1M conversations as
on 10k, and what is full-text search's p50 on 1M items? (SQLite, in process.)

    python bench/extensions.py                  10k and 1M conversations, one item each
    python bench/extensions.py --big 200000     a smaller "big" store

Each store is written straight into SQLite with parley's migrations (not through HTTP); the
item text comes from a fixed vocabulary with a Zipf-like spread, so some words are rare and some
are in a third of all items. Timings call the store's own methods (list_conversations,
search_conversations) on the event loop, as a request handler does: HTTP costs the same on
both stores and is measured by `make bench`. Results: a table on stdout and
bench/results/extensions.json.
"""

from __future__ import annotations

import argparse
import asyncio
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
from parley.store.sqlite import SQLiteStore, migrate

HERE = Path(__file__).resolve().parent
PROJECTS = 10
TOPICS = 10
YEAR = 365 * 86400
START = 1_700_000_000
WORDS = [f"w{n:04d}" for n in range(5000)]
# Word n is drawn with weight 1/(n+1): w0000 is in about a third of the items, w4999 in few.
WEIGHTS = [1 / (n + 1) for n in range(len(WORDS))]


def build(path: str, conversations: int, seed: int = 7) -> None:
    """A store of ``conversations`` conversations (one message item each)."""
    migrate(path)
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    for p in range(PROJECTS):
        conn.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (?, ?, 0)", (f"proj_{p}", f"p{p}")
        )
    chunk = 20_000
    for first in range(0, conversations, chunk):
        rows, pairs, items, texts = [], [], [], []
        for n in range(first, min(first + chunk, conversations)):
            seq = n + 1
            project = f"proj_{n % PROJECTS}"
            created = START + n * YEAR // conversations
            topic = f"t{rng.randrange(TOPICS)}"
            metadata = json.dumps({"topic": topic}, separators=(",", ":")).encode()
            rows.append((seq, f"conv_{seq:012d}", project, created, created, metadata, 1, 1))
            pairs.append((project, "topic", topic, seq, created))
            words = " ".join(rng.choices(WORDS, WEIGHTS, k=12))
            data = json.dumps(
                {
                    "type": "message",
                    "id": f"msg_{seq:012d}",
                    "status": "completed",
                    "role": "user",
                    "content": [{"type": "input_text", "text": words}],
                },
                separators=(",", ":"),
            ).encode()
            items.append((seq, seq, 0, f"msg_{seq:012d}", "message", created, data))
            texts.append((seq, item_text(data)))
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
        conn.executemany("INSERT INTO items_fts (rowid, body) VALUES (?, ?)", texts)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


async def measure(paths: dict[str, str], runs: int, seed: int = 11) -> dict[str, dict[str, float]]:
    """Median milliseconds of each kind of query on each store.

    The stores take turns call by call (same query on each), so drift in a shared machine's
    load falls on both alike.
    """
    stores = {name: SQLiteStore(path, migrate=False) for name, path in paths.items()}
    for store in stores.values():
        await store.open()
    rng = random.Random(seed)
    span = YEAR // 20  # a window of about 18 days, anywhere in the year

    def window() -> TimeFilter:
        low = START + rng.randrange(YEAR - span)
        return TimeFilter(created_after=low, created_before=low + span)

    async def listing(store: SQLiteStore, args: dict[str, Any]) -> None:
        await store.list_conversations(after=None, limit=20, **args)

    async def searching(store: SQLiteStore, args: dict[str, Any]) -> None:
        await store.search_conversations(metadata=[], page=None, limit=20, **args)

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
        "page_metadata_and_window": (
            listing,
            lambda: {
                "project": project(),
                "metadata": [("topic", f"t{rng.randrange(TOPICS)}")],
                "order": "desc",
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
    return {
        name: {kind: round(statistics.median(values), 4) for kind, values in found.items()}
        for name, found in timings.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--keep", type=Path, default=None, help="Build the stores here.")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="parley-ext-"))
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"small": args.small, "big": args.big}
    paths = {}
    for name, size in (("small", args.small), ("big", args.big)):
        path = str(folder / f"{name}-{size}.db")
        if not Path(path).exists():
            began = time.perf_counter()
            build(path, size)
            results[f"{name}_build_s"] = round(time.perf_counter() - began, 1)
        paths[name] = path
    for name, figures in asyncio.run(measure(paths, args.runs)).items():
        results[name + "_ms"] = figures
    print(f"{'query':28} {args.small:>10,} {args.big:>12,}  ratio  (median ms)")
    for query, small_ms in results["small_ms"].items():
        big_ms = results["big_ms"][query]
        print(f"{query:28} {small_ms:10.3f} {big_ms:12.3f}  {big_ms / small_ms:5.2f}")
    out = HERE / "results" / "extensions.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
