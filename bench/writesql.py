"""The SQLite writer's own cost per write: parley's write ops in batches, as the writer runs them.

    python bench/writesql.py [--routes create,add_items,update] [--batch 64] [--batches 40]
    python bench/writesql.py --isolated          # every write in a savepoint of its own
    python bench/writesql.py --routes update_new # updates that change a pair every time
    python bench/writesql.py --routes turn --batch 1 --isolated  # a sequential conversation turn

A fresh file (parley's migrations, ``synchronous = FULL``) is seeded with 1,000 conversations
shaped like `make bench`'s (3 messages, 2 metadata pairs); then each route's writes go through
the writer's own batch code (``Writer._commit``: BEGIN IMMEDIATE, the ops, the deferred search
rows, COMMIT with its fsync) in batches of ``--batch``, appends and updates to conversations
drawn at random (`turn`: a response's turn as /v1/responses commits it, its input and output
message appended and the stored response inserted, sqlite_ops.commit_turn). It prints the
process CPU per write (statements, COMMIT and the fsync's system time: no event loop, no
HTTP), the same figure for every batch size, so a change to the writer's SQL can be judged
without a server or a load generator on the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import seed

from parley import ids
from parley.items import check_items_array, parse_items
from parley.models import NewItem, ResponseRecord
from parley.store import sqlite_ops as ops
from parley.store.sqlite_schema import connect, migrate
from parley.store.sqlite_writer import Writer

Op = Callable[[sqlite3.Connection], Any]


def items(body: dict[str, Any]) -> list[NewItem]:
    parsed = parse_items(check_items_array(body["items"]))
    return [item for item in parsed if isinstance(item, NewItem)]


# A stored response's columns as /v1/responses writes them for one short answer.
RESPONSE = msgspec.json.encode(
    {
        "id": "resp_0",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "bench",
        "output": [
            {
                "type": "message",
                "id": "msg_0",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": seed.ADD_ITEMS_BODY["items"][1]["content"],
                        "annotations": [],
                        "logprobs": [],
                    }
                ],
            }
        ],
        "conversation": {"id": "conv_0"},
        "usage": {"input_tokens": 12, "output_tokens": 14, "total_tokens": 26},
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "metadata": {},
        "text": {"format": {"type": "text"}},
    }
)
INPUT_ITEMS = msgspec.json.encode([seed.ADD_ITEMS_BODY["items"][0]])


def make_op(route: str, project: str, conversations: list[str], rng: random.Random) -> Op:
    metadata = msgspec.json.encode(seed.CREATE_BODY["metadata"])
    now = int(time.time())
    if route == "create":
        new = items(seed.CREATE_BODY)
        cid = ids.conversation_id()
        return lambda conn: ops.insert_conversation(conn, project, cid, now, metadata, new)
    target = rng.choice(conversations)
    if route == "add_items":
        added = items(seed.ADD_ITEMS_BODY)
        return lambda conn: ops.append_items(conn, project, target, added, now)
    if route == "update":
        changed = msgspec.json.encode(seed.UPDATE_BODY["metadata"])
        return lambda conn: ops.update_conversation(conn, project, target, changed, now)
    if route == "turn":
        turn = items(seed.ADD_ITEMS_BODY)
        response = ResponseRecord(ids.new_id("resp_"), now, RESPONSE, INPUT_ITEMS)
        return lambda conn: ops.commit_turn(conn, project, target, turn, now, response)
    if route == "update_new":  # one of the two pairs changes every time
        fresh = msgspec.json.encode({"workflow": "support-bot", "session": ids.new_id("n8n-")})
        return lambda conn: ops.update_conversation(conn, project, target, fresh, now)
    raise ValueError(route)


async def measure(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="parley-writesql-"))
    path = str(folder / "parley.db")
    migrate(path)
    conn = connect(path)
    conn.execute("PRAGMA synchronous = FULL")
    writer = Writer(path, "FULL", connect)  # its batch code only: the thread is not started
    loop = asyncio.get_running_loop()
    rng = random.Random(1)
    conn.execute("BEGIN IMMEDIATE")
    project = ops.ensure_project(conn, "default")
    conversations = []
    for _ in range(1000):
        cid = ids.conversation_id()
        conversations.append(cid)
        metadata = msgspec.json.encode(seed.CREATE_BODY["metadata"])
        ops.insert_conversation(conn, project, cid, 1, metadata, items(seed.CREATE_BODY))
    conn.execute("COMMIT")
    for route in args.routes.split(","):
        per_batch = []
        for _ in range(args.batches):
            batch = [
                (
                    make_op(route, project, conversations, rng),
                    loop.create_future(),
                    loop,
                    args.isolated,
                    True,  # key-neutral, as the server's conversation writes are
                )
                for _ in range(args.batch)
            ]
            began = time.process_time()
            writer._commit(conn, batch)  # noqa: SLF001 - the batch code is what is measured
            per_batch.append((time.process_time() - began) / args.batch)
            await asyncio.sleep(0)  # deliver the results
            failed = [f.exception() for _, f, _, _, _ in batch if f.exception() is not None]
            if failed:
                raise RuntimeError(f"{route}: {failed[0]!r}")
        print(
            f"{route:<10} {statistics.median(per_batch) * 1e6:6.1f} µs CPU per write "
            f"(median of {args.batches} batches of {args.batch}"
            f"{', each write in a savepoint' if args.isolated else ''})",
            flush=True,
        )
    conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the SQLite writer's CPU per write")
    parser.add_argument("--routes", default="create,add_items,update")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--isolated", action="store_true", help="a savepoint per write")
    asyncio.run(measure(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
