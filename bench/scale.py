"""Scale: do retrieve and list stay fast on 1,000,000 conversations and 10,000,000 items?

    python bench/scale.py              1M conversations, 10M items (seeding takes minutes, ~5 GB)
    python bench/scale.py --quick      100k conversations, 1M items
    python bench/scale.py --reseed     build the big store again instead of reusing it

The big store is written straight into SQLite with parley's own migrations (not through HTTP),
its items shaped by parley's own item code. Items are written round-robin over conversations,
as many live conversations would write them: with the insertion-order layout of schema 7 a
conversation's items end up scattered over the table; since migration 0008 the table is keyed
by (conversation, position), so they sit together whatever the write order. The layout is
whatever the migrations of the parley that seeds it make. One conversation holds 100,000
items, for the first-page / last-page comparison. The store is kept between runs (it is slow
to build): keep it out of the git tree, e.g. ``--store-dir /work/scale-data``.

Warm figures: wrk at 64 connections over a rotation of conversations, medians of rounds (the
file in the OS page cache after the warm-up). Cold, wrk from a cold start: the same wrk run
right after the eviction below, without warm-up. Cold, first reads: the server stopped, the
store's file dropped from the OS page cache (``posix_fadvise(POSIX_FADV_DONTNEED)`` after an
fsync, checked with ``fincore`` when it is installed: it affects only this file, so other
processes on a shared machine keep their cache), the server started afresh (so SQLite's own
page cache is empty too), then one request at a time, each to a conversation not read
before in that probe: every request pays for the pages it needs that are not in memory yet,
as the first read of an idle conversation does on a big store. The probe runs the same way
on the small store. Cold, idle conversation on a running server: the same, but first 2,000
unclocked requests to other conversations, so the pages every request shares (b-tree roots
and interior pages, a few hundred on the big store, the whole file on the small one) are in
memory as on a server that has run a while, and only the probed conversations' own pages are
cold. Each probe also counts the pages the server read from the disk per request
(``read_bytes`` of /proc/PID/io), which machine load does not move.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
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
# Issue 12: the first read of a conversation on the big store, cold, within 1.5x the small's.
COLD_LIST_TARGET = 1.5
COLD_REQUESTS = 400
# Unclocked requests to other conversations before the "idle conversation" probe: enough to
# bring a 1M-row b-tree's interior pages (a few hundred) into memory; on the small store, the
# ids it has besides the probed ones (all of its pages, as a running server holds them).
WARM_UP = 2000
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
    # Since migration 0008 an item's row key is (conversation, position); before, the
    # insertion counter (NULL here), which is what made a conversation's rows scattered.
    clustered = not _has_index(conn, "items_by_position")

    item_key = None
    if clustered:
        # Imported here: the "before" figures run this script on a parley without it.
        from parley.store.sqlite_ops import item_key

    def key(seq: int, position: int) -> int | None:
        return None if item_key is None else item_key(seq, position)

    def rows() -> Iterator[tuple[int | None, int, int, str, str, int, bytes]]:
        # Round-robin: item r of every conversation, then item r + 1, … (as live writes).
        for position in range(rounds):
            for seq in range(1, conversations):
                if position < counts[seq - 1]:
                    item_id = make.next("msg_")
                    head, tail = templates[position % len(templates)]
                    data = head + item_id.encode() + tail
                    yield (key(seq, position), seq, position, item_id, "message", now, data)
        for position in range(BIG_CONVERSATION_ITEMS):
            item_id = make.next("msg_")
            big_ids.append(item_id)
            head, tail = templates[position % len(templates)]
            data = head + item_id.encode() + tail
            yield (
                key(conversations, position),
                conversations,
                position,
                item_id,
                "message",
                now,
                data,
            )

    conn.executemany(
        "INSERT INTO items (seq, conversation, position, id, type, created_at, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        "layout": "clustered" if clustered else "insertion order",
    }
    Path(str(path) + ".json").write_text(json.dumps(info))
    return info


def _has_index(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,))
    return found.fetchone() is not None


def layout(path: Path) -> str:
    """Which items layout the file has: "clustered" (0008 on) or "insertion order"."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "insertion order" if _has_index(conn, "items_by_position") else "clustered"
    finally:
        conn.close()


def evict(path: Path) -> int | None:
    """Drop the SQLite file (and its WAL) from the OS page cache; return the bytes of it still
    resident afterwards as ``fincore`` counts them (None without fincore)."""
    for name in (str(path), str(path) + "-wal"):
        if not Path(name).exists():
            continue
        fd = os.open(name, os.O_RDONLY)
        try:
            os.fsync(fd)  # DONTNEED drops clean pages only
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return resident(path)


def resident(path: Path) -> int | None:
    """Bytes of ``path`` in the OS page cache (``fincore``), or None when it is missing."""
    if shutil.which("fincore") is None:
        return None
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return int(out.stdout.split()[0]) if out.returncode == 0 and out.stdout.strip() else None


def warm(path: Path) -> float:
    """Read the whole file once, so the warm runs find it in the OS page cache; seconds."""
    started = time.monotonic()
    with open(path, "rb", buffering=0) as file:
        while file.read(8 << 20):
            pass
    return time.monotonic() - started


def page_read_ms(path: Path, reads: int = 200) -> float:
    """Median milliseconds of one 4 KiB read at a random offset of the evicted file: what a
    page missing from memory costs on this disk."""
    evict(path)
    size = path.stat().st_size
    rng = random.Random(3)
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        times = []
        for _ in range(reads):
            offset = rng.randrange(size // 4096) * 4096
            started = time.perf_counter()
            os.pread(fd, 4096, offset)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
    evict(path)
    return statistics.median(times) * 1000


def disk_read_bytes(pids: list[int]) -> int:
    """Bytes the processes have had read from the disk (``read_bytes`` of /proc/PID/io: page
    cache misses, read-ahead included; a hit costs nothing here)."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/io").read_text()
        except OSError:
            continue
        fields = dict(line.split(": ") for line in text.splitlines())
        total += int(fields["read_bytes"])
    return total


def cold_probe(
    database: Path,
    log: Path,
    api_key: str,
    routes: dict[str, tuple[str, list[str]]],
    *,
    requests: int = COLD_REQUESTS,
    warm_up: int = 0,
) -> dict[str, dict[str, float]]:
    """Per route: evict the file, start a fresh server, then one request at a time, each to
    an id the probe has not read yet; milliseconds (median, p90, mean) as a client sees them,
    and the 4 KiB pages the server read from the disk per request (load-independent).

    ``warm_up``: first that many requests (unclocked) to other ids of the route, so the pages
    every request shares (b-tree roots and interior pages) are in memory as on a server that
    has run a while, and only the probed conversations' own pages are cold: the first read
    of an idle conversation on a running server. Without it, the probe also pays for loading
    those shared pages, which a small store's few hundred pages do at once.
    """
    found: dict[str, dict[str, float]] = {}
    for name, (template, all_ids) in routes.items():
        ids = all_ids[:requests]
        others = all_ids[len(ids) :][:warm_up]
        left = evict(database)
        srv = parley_server.start(str(database), log, api_key=api_key)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            headers = {"Authorization": f"Bearer {api_key}"}
            conn.request("GET", "/healthz")  # the connection is up before the clock runs
            conn.getresponse().read()
            for conversation_id in others:
                conn.request("GET", template.format(id=conversation_id), headers=headers)
                conn.getresponse().read()
            read_before = disk_read_bytes(srv.pids())
            times = []
            for conversation_id in ids:
                started = time.perf_counter()
                conn.request("GET", template.format(id=conversation_id), headers=headers)
                answer = conn.getresponse()
                answer.read()
                times.append(time.perf_counter() - started)
                if answer.status != 200:
                    raise RuntimeError(f"{name}: {answer.status} for {conversation_id}")
            read = disk_read_bytes(srv.pids()) - read_before
            conn.close()
        finally:
            srv.stop()
        times.sort()
        found[name] = {
            "requests": len(times),
            "p50_ms": statistics.median(times) * 1000,
            "p90_ms": times[int(len(times) * 0.9)] * 1000,
            "mean_ms": statistics.fmean(times) * 1000,
            "disk_pages_per_request": read / 4096 / len(times),
            "resident_bytes_after_evict": -1 if left is None else left,
        }
        print(
            f"  cold {name:<17} p50 {found[name]['p50_ms']:6.3f} ms  "
            f"p90 {found[name]['p90_ms']:6.3f} ms  mean {found[name]['mean_ms']:6.3f} ms  "
            f"{found[name]['disk_pages_per_request']:5.2f} pages read from disk per request  "
            f"({len(times)} requests after {len(others)} to others; "
            f"{left if left is not None else '?'} bytes resident after the eviction)",
            flush=True,
        )
    return found


def cold_load(
    database: Path, log: Path, api_key: str, targets: list[loadgen.Target], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """Per target: evict the file, start a fresh server and drive it with wrk at once (no
    warm-up), so the run starts from a cold cache and warms as it goes."""
    found: dict[str, dict[str, float]] = {}
    for target in targets:
        left = evict(database)
        srv = parley_server.start(str(database), log, api_key=api_key)
        try:
            options = {"api_key": api_key, "connections": args.connections}
            result = loadgen.run("wrk", srv.url, target, seconds=args.duration, **options)  # type: ignore[arg-type]
        finally:
            srv.stop()
        found[target.name] = {
            "rps": result.rps,
            "p50_ms": result.p50_ms,
            "p99_ms": result.p99_ms,
            "errors": result.error_count,
            "resident_bytes_after_evict": -1 if left is None else left,
        }
        print(
            f"  cold wrk {target.name:<13} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:6.2f} ms"
            f"  p99 {result.p99_ms:6.2f} ms",
            flush=True,
        )
    return found


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
    parser.add_argument("--no-warm", action="store_true", help="only the cold probes")
    parser.add_argument(
        "--no-storage", action="store_true", help="skip bytes per item (reads the whole file)"
    )
    parser.add_argument(
        "--cold-requests", type=int, default=COLD_REQUESTS, help="requests per cold probe"
    )
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
        "store": {k: v for k, v in info.items() if not k.endswith("sample")},
        "layout": layout(big),
    }
    print(f"scale: items layout of the big store: {results['layout']}")
    conv = "/v1/conversations/{id}"
    shuffle = random.Random(7)
    try:
        # The small store: the same routes on 1,000 conversations seeded through HTTP.
        small_db = work / "small.db"
        small_key = f"sk-bench-{uuid.uuid4().hex}"
        small = parley_server.start(str(small_db), work / "small.log", api_key=small_key)
        try:
            seeded = seed.seed(small.url, small_key, work / "seed", conversations=1000, listed=1000)
            print("scale: small store (1,000 conversations)")
            if not args.no_warm:
                results["small"] = drive(
                    small,
                    [
                        loadgen.Target("retrieve", "GET", conv, seeded.conversations),
                        loadgen.Target(
                            "list_items", "GET", conv + "/items", seeded.list_conversations
                        ),
                    ],
                    args,
                )
        finally:
            small.stop()
        small_ids = seeded.conversations.read_text().split()
        small_listed = seeded.list_conversations.read_text().split()
        shuffle.shuffle(small_ids)
        shuffle.shuffle(small_listed)
        small_targets = [
            loadgen.Target("retrieve", "GET", conv, seeded.conversations),
            loadgen.Target("list_items", "GET", conv + "/items", seeded.list_conversations),
        ]
        results["small_cold_wrk"] = cold_load(
            small_db, work / "small-cold.log", small_key, small_targets, args
        )
        small_routes = {
            "retrieve": (conv, small_ids),
            "list_items": (conv + "/items", small_listed),
        }
        results["small_cold"] = cold_probe(
            small_db, work / "small-cold.log", small_key, small_routes, requests=args.cold_requests
        )
        results["small_idle"] = cold_probe(
            small_db,
            work / "small-cold.log",
            small_key,
            small_routes,
            requests=args.cold_requests,
            warm_up=WARM_UP,
        )
        print(f"scale: big store ({conversations:,} conversations, {items:,} items)")
        results["page_read_ms"] = page_read_ms(big)
        print(f"  one 4 KiB read of the evicted big file: {results['page_read_ms']:.3f} ms (p50)")
        sampled = list(info["sample"])
        long_sampled = list(info["long_sample"])
        sample = work / "sample.txt"
        sample.write_text("\n".join(sampled) + "\n")
        long_sample = work / "long_sample.txt"
        long_sample.write_text("\n".join(long_sampled) + "\n")
        results["big_cold_wrk"] = cold_load(
            big,
            work / "big-cold.log",
            str(info["api_key"]),
            [
                loadgen.Target("retrieve", "GET", conv, sample),
                loadgen.Target("list_items", "GET", conv + "/items", long_sample),
            ],
            args,
        )
        big_routes = {
            "retrieve": (conv, sampled),
            "list_items": (conv + "/items", long_sampled),
        }
        big_key = str(info["api_key"])
        results["big_cold"] = cold_probe(
            big, work / "big-cold.log", big_key, big_routes, requests=args.cold_requests
        )
        results["big_idle"] = cold_probe(
            big,
            work / "big-cold.log",
            big_key,
            big_routes,
            requests=args.cold_requests,
            warm_up=WARM_UP,
        )
        if not args.no_warm:
            results["warm_read_seconds"] = warm(big)
            print(
                f"  read the whole file into the page cache in {results['warm_read_seconds']:.0f} s"
            )
            large = parley_server.start(str(big), work / "big.log", api_key=str(info["api_key"]))
            try:
                first = f"/v1/conversations/{info['big_conversation']}/items"
                results["big"] = drive(
                    large,
                    [
                        loadgen.Target("retrieve", "GET", conv, sample),
                        loadgen.Target("list_items", "GET", conv + "/items", long_sample),
                        loadgen.Target("list_100k_first_page", "GET", first),
                        loadgen.Target(
                            "list_100k_last_page",
                            "GET",
                            f"{first}?after={info['last_page_after']}",
                        ),
                    ],
                    args,
                )
            finally:
                large.stop()
        if not args.no_storage:
            results["storage"] = storage(big, items)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    checks: list[tuple[str, float, float]] = []
    cold_small, cold_big = results["small_cold"], results["big_cold"]
    assert isinstance(cold_small, dict) and isinstance(cold_big, dict)
    wrk_small, wrk_big = results["small_cold_wrk"], results["big_cold_wrk"]
    assert isinstance(wrk_small, dict) and isinstance(wrk_big, dict)
    idle_small, idle_big = results["small_idle"], results["big_idle"]
    assert isinstance(idle_small, dict) and isinstance(idle_big, dict)
    for name, target in (("list_items", COLD_LIST_TARGET), ("retrieve", RATIO_TARGET)):
        for figure in ("p50_ms", "mean_ms"):
            ratio = cold_big[name][figure] / cold_small[name][figure]
            checks.append((f"cold, first reads: {name} {figure} big/small", ratio, target))
        for figure in ("p50_ms", "mean_ms"):
            ratio = idle_big[name][figure] / idle_small[name][figure]
            checks.append(
                (
                    f"cold, idle conversation on a running server: {name} {figure} big/small",
                    ratio,
                    target,
                )
            )
        for figure in ("p50_ms", "p99_ms"):
            ratio = wrk_big[name][figure] / wrk_small[name][figure]
            checks.append(
                (f"cold, wrk from a cold start: {name} {figure} big/small", ratio, target)
            )
    if not args.no_warm:
        small_r, big_r = results["small"], results["big"]
        assert isinstance(small_r, dict) and isinstance(big_r, dict)
        for name in ("retrieve", "list_items"):
            for figure in ("p50_ms", "p99_ms", "cpu_us_per_request"):
                ratio = big_r[name][figure] / small_r[name][figure]
                checks.append((f"warm {name} {figure} big/small", ratio, RATIO_TARGET))
        for figure in ("p50_ms", "p99_ms", "cpu_us_per_request"):
            ratio = big_r["list_100k_last_page"][figure] / big_r["list_100k_first_page"][figure]
            checks.append(
                (f"warm 100k-item conversation last/first page {figure}", ratio, RATIO_TARGET)
            )
    results["checks"] = [
        {"check": name, "ratio": round(ratio, 3), "target": target, "met": ratio <= target}
        for name, ratio, target in checks
    ]
    print(f"\nscale: ratios, medians ({results['layout']} layout):")
    for name, ratio, target in checks:
        print(f"  [{'met' if ratio <= target else 'MISSED'}] {name}: {ratio:.2f} (<= {target})")
    store = results.get("storage")
    if isinstance(store, dict):
        print(
            f"scale: {store['file_bytes'] / 1e9:.2f} GB on disk = "
            f"{store['file_bytes_per_item']:.0f} bytes per item "
            f"({store['items_table_and_indexes_bytes_per_item']:.0f} in the items table and its "
            "indexes)"
        )
    path = args.out / f"scale-{conversations}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    shutil.copyfile(path, args.out / "scale-latest.json")
    print(f"scale: wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
