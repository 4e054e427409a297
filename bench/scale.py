"""Scale: do retrieve and list stay fast on 1,000,000 conversations and 10,000,000 items?

    python bench/scale.py              1M conversations, 10M items (seeding takes minutes, ~5 GB)
    python bench/scale.py --quick      100k conversations, 1M items
    python bench/scale.py --reseed     build the big store again instead of reusing it

The big store is written straight into SQLite with parley's own migrations (not through HTTP),
its items shaped by parley's own item code. Items are written round-robin over conversations,
as many live conversations would write them, so one conversation's items are scattered over
the table rather than packed together. One conversation holds 100,000 items, for the
first-page / last-page comparison. The store is kept between runs (it is slow to build).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import loadgen
import seed
import server as parley_server

from parley import auth
from parley.items import parse_items
from parley.store.sqlite import migrate

HERE = Path(__file__).resolve().parent
RATIO_TARGET = 1.25
BIG_CONVERSATION_ITEMS = 100_000
LONG_ITEMS = 23
PROJECT_ID = "proj_bench"


class Ids:
    """Time-ordered ids of parley's shape (prefix + 12 hex ms + 8 hex counter + 28 hex)."""

    def __init__(self) -> None:
        self.ms = time.time_ns() // 1_000_000 - 86_400_000
        self.seq = 0

    def next(self, prefix: str) -> str:
        self.seq += 1
        if self.seq & 0xFFF == 0:
            self.ms += 1
        return f"{prefix}{self.ms:012x}{self.seq & 0xFFFFFFFF:08x}{os.urandom(14).hex()}"


def _templates() -> list[tuple[bytes, bytes]]:
    """Stored item bodies made by parley's own item code, split around the id."""
    parsed = parse_items(
        [*seed.CREATE_BODY["items"], *seed.ADD_ITEMS_BODY["items"]]  # 5 n8n-like messages
    )
    out = []
    for item in parsed:
        assert not isinstance(item, type(None))
        data: bytes = item.data  # type: ignore[union-attr]
        item_id: str = item.id
        head, _, tail = data.partition(item_id.encode())
        out.append((head, tail))
    return out


def _item_counts(conversations: int, items: int) -> list[int]:
    """Items per conversation: every tenth holds 23 (a full list page and more), the others
    share the rest evenly, the last holds 100,000; the sum is ``items``."""
    ordinary = conversations - 1
    long = {c for c in range(0, ordinary, 10)}
    rest = items - BIG_CONVERSATION_ITEMS - LONG_ITEMS * len(long)
    short = ordinary - len(long)
    base, extra = divmod(rest, short)
    counts, seen = [], 0
    for c in range(ordinary):
        if c in long:
            counts.append(LONG_ITEMS)
        else:
            counts.append(base + (1 if seen < extra else 0))
            seen += 1
    counts.append(BIG_CONVERSATION_ITEMS)
    assert sum(counts) == items and min(counts) >= 1
    return counts


def index_metadata(conn: sqlite3.Connection) -> None:
    """Fill parley's metadata index (one row per pair) as the server's writes would."""
    conn.execute(
        "INSERT OR IGNORE INTO conversation_metadata (project_id, key, value, conversation) "
        "SELECT c.project_id, j.key, j.value, c.seq FROM conversations c, json_each(c.metadata) j"
    )


def build(path: Path, conversations: int, items: int, api_key: str) -> dict[str, object]:
    """Write the big store at ``path``; return the ids the benchmark rotates over."""
    started = time.monotonic()
    if path.exists():
        path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    migrate(str(path))
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -4000000")
    conn.execute("PRAGMA temp_store = MEMORY")
    now = int(time.time())
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", (PROJECT_ID, "bench", now)
    )
    conn.execute(
        "INSERT INTO api_keys (id, project_id, name, hint, key_hash, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ("key_bench", PROJECT_ID, "bench", auth.key_hint(api_key), auth.hash_key(api_key), now),
    )
    make = Ids()
    metadata = json.dumps(seed.METADATA, separators=(",", ":")).encode()
    counts = _item_counts(conversations, items)
    rounds = max(counts[:-1])
    conv_ids = [make.next("conv_") for _ in range(conversations)]
    conn.executemany(
        "INSERT INTO conversations (seq, id, project_id, created_at, updated_at, metadata, "
        "next_position, item_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (seq + 1, conv_ids[seq], PROJECT_ID, now, now, metadata, counts[seq], counts[seq])
            for seq in range(conversations)
        ),
    )
    index_metadata(conn)
    templates = _templates()
    big_ids: list[str] = []

    def rows() -> Iterator[tuple[int, int, str, str, int, bytes]]:
        # Round-robin: item r of every conversation, then item r + 1, … (scattered rows).
        for position in range(rounds):
            for seq in range(conversations - 1):
                if position < counts[seq]:
                    item_id = make.next("msg_")
                    head, tail = templates[position % len(templates)]
                    data = head + item_id.encode() + tail
                    yield (seq + 1, position, item_id, "message", now, data)
        for position in range(BIG_CONVERSATION_ITEMS):
            item_id = make.next("msg_")
            big_ids.append(item_id)
            head, tail = templates[position % len(templates)]
            yield (conversations, position, item_id, "message", now, head + item_id.encode() + tail)

    conn.executemany(
        "INSERT INTO items (conversation, position, id, type, created_at, data) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        rows(),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("ANALYZE")
    conn.close()
    sample = random.Random(5)
    info: dict[str, object] = {
        "conversations": conversations,
        "items": items,
        "api_key": api_key,
        "big_conversation": conv_ids[-1],
        # After the 20th-oldest item, in the default (desc) order, comes the last page.
        "last_page_after": big_ids[20],
        "sample": sample.sample(conv_ids[:-1], min(10_000, conversations - 1)),
        "long_sample": sample.sample(
            [conv_ids[c] for c in range(0, conversations - 1, 10)], min(10_000, conversations // 10)
        ),
        "seconds": time.monotonic() - started,
        "metadata_indexed": True,
    }
    Path(str(path) + ".json").write_text(json.dumps(info))
    return info


def storage(path: Path, items: int) -> dict[str, object]:
    """Bytes on disk per stored item: the whole file, and the items table with its indexes."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        # Pages counted one by one: dbstat's aggregate pgsize is a 32-bit int and wraps.
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        sizes = {
            name: pages * page_size
            for name, pages in conn.execute("SELECT name, count(*) FROM dbstat GROUP BY name")
        }
    finally:
        conn.close()
    item_bytes = sum(v for k, v in sizes.items() if k == "items" or k.startswith("items_"))
    file_bytes = path.stat().st_size
    return {
        "file_bytes": file_bytes,
        "file_bytes_per_item": file_bytes / items,
        "items_table_and_indexes_bytes_per_item": item_bytes / items,
        "by_object": sizes,
    }


def drive(
    srv: parley_server.Server, targets: list[loadgen.Target], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """Medians over ``args.repeats`` runs of each target at ``args.connections``."""
    found: dict[str, list[loadgen.LoadResult]] = {t.name: [] for t in targets}
    cpu: dict[str, list[float]] = {t.name: [] for t in targets}
    for _ in range(args.repeats):
        for target in targets:
            options = {"api_key": srv.api_key, "connections": args.connections}
            loadgen.run("wrk", srv.url, target, seconds=args.warmup, **options)  # type: ignore[arg-type]
            pids = srv.pids()
            before = parley_server.cpu_seconds(pids)
            result = loadgen.run("wrk", srv.url, target, seconds=args.duration, **options)  # type: ignore[arg-type]
            per_request = (parley_server.cpu_seconds(pids) - before) / max(1, result.requests)
            found[target.name].append(result)
            cpu[target.name].append(per_request * 1e6)
            print(
                f"  {target.name:<22} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                f"p99 {result.p99_ms:6.2f} ms  {per_request * 1e6:6.1f} µs/req"
                + (f"  errors {result.errors}" if result.errors else ""),
                flush=True,
            )
    return {
        name: {
            "rps": statistics.median(r.rps for r in runs),
            "p50_ms": statistics.median(r.p50_ms for r in runs),
            "p99_ms": statistics.median(r.p99_ms for r in runs),
            # CPU per request holds up on a shared machine, where latency does not.
            "cpu_us_per_request": statistics.median(cpu[name]),
            "errors": sum(r.error_count for r in runs),
        }
        for name, runs in found.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="retrieve and list on a million conversations")
    parser.add_argument("--quick", action="store_true", help="100k conversations, 1M items")
    parser.add_argument("--conversations", type=int)
    parser.add_argument("--items", type=int)
    parser.add_argument("--store-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--seed-only", action="store_true", help="build the store, measure nothing")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.repeats = 3.0, 1.0, 1
    conversations = args.conversations or (100_000 if args.quick else 1_000_000)
    items = args.items or (1_000_000 if args.quick else 10_000_000)
    big = args.store_dir / f"parley-bench-scale-{conversations}-{items}.db"
    meta = Path(str(big) + ".json")
    if args.reseed or not big.exists() or not meta.exists():
        print(f"scale: seeding {conversations:,} conversations, {items:,} items into {big} …")
        info = build(big, conversations, items, f"sk-bench-{uuid.uuid4().hex}")
        print(f"scale: seeded in {info['seconds']:.0f} s")
    else:
        info = json.loads(meta.read_text())
        print(f"scale: reusing {big} (seeded earlier; --reseed to rebuild)")
        if not info.get("metadata_indexed"):  # stores seeded before the metadata index
            conn = sqlite3.connect(str(big), isolation_level=None)
            conn.execute("BEGIN")
            index_metadata(conn)
            conn.execute("COMMIT")
            conn.close()
            info["metadata_indexed"] = True
            meta.write_text(json.dumps(info))
    if args.seed_only:
        return 0
    work = Path(tempfile.mkdtemp(prefix="parley-bench-scale-"))
    results: dict[str, object] = {
        "store": {k: v for k, v in info.items() if not k.endswith("sample")}
    }
    try:
        # The small store: the same routes on 1,000 conversations seeded through HTTP.
        small = parley_server.start(
            str(work / "small.db"), work / "small.log", api_key=f"sk-bench-{uuid.uuid4().hex}"
        )
        try:
            seeded = seed.seed(
                small.url, small.api_key, work / "seed", conversations=1000, listed=1000
            )
            conv = "/v1/conversations/{id}"
            print("scale: small store (1,000 conversations)")
            results["small"] = drive(
                small,
                [
                    loadgen.Target("retrieve", "GET", conv, seeded.conversations),
                    loadgen.Target("list_items", "GET", conv + "/items", seeded.list_conversations),
                ],
                args,
            )
        finally:
            small.stop()
        sample = work / "sample.txt"
        sample.write_text("\n".join(info["sample"]) + "\n")
        long_sample = work / "long_sample.txt"
        long_sample.write_text("\n".join(info["long_sample"]) + "\n")
        large = parley_server.start(str(big), work / "big.log", api_key=str(info["api_key"]))
        try:
            first = f"/v1/conversations/{info['big_conversation']}/items"
            print(f"scale: big store ({conversations:,} conversations, {items:,} items)")
            results["big"] = drive(
                large,
                [
                    loadgen.Target("retrieve", "GET", conv, sample),
                    loadgen.Target("list_items", "GET", conv + "/items", long_sample),
                    loadgen.Target("list_100k_first_page", "GET", first),
                    loadgen.Target(
                        "list_100k_last_page", "GET", f"{first}?after={info['last_page_after']}"
                    ),
                ],
                args,
            )
        finally:
            large.stop()
        results["storage"] = storage(big, items)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    small_r, big_r = results["small"], results["big"]
    assert isinstance(small_r, dict) and isinstance(big_r, dict)
    checks = []
    for name in ("retrieve", "list_items"):
        for figure in ("p50_ms", "p99_ms", "cpu_us_per_request"):
            ratio = big_r[name][figure] / small_r[name][figure]
            checks.append((f"{name} {figure} big/small", ratio))
    for figure in ("p50_ms", "p99_ms", "cpu_us_per_request"):
        ratio = big_r["list_100k_last_page"][figure] / big_r["list_100k_first_page"][figure]
        checks.append((f"100k-item conversation last/first page {figure}", ratio))
    results["checks"] = [
        {"check": name, "ratio": round(ratio, 3), "met": ratio <= RATIO_TARGET}
        for name, ratio in checks
    ]
    print(f"\nscale: ratios (target <= {RATIO_TARGET}), {args.connections} connections, medians:")
    for name, ratio in checks:
        print(f"  [{'met' if ratio <= RATIO_TARGET else 'MISSED'}] {name}: {ratio:.2f}")
    store = results["storage"]
    assert isinstance(store, dict)
    print(
        f"scale: {store['file_bytes'] / 1e9:.2f} GB on disk = {store['file_bytes_per_item']:.0f} "
        f"bytes per item ({store['items_table_and_indexes_bytes_per_item']:.0f} in the items "
        "table and its indexes)"
    )
    path = args.out / f"scale-{conversations}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    shutil.copyfile(path, args.out / "scale-latest.json")
    print(f"scale: wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
