"""Crash safety soak: SIGKILL `parley serve` under write load, restart, check every ack.

64 concurrent clients create conversations and append items. At a random moment the whole
server (granian's main process and its workers) gets SIGKILL. Before the restart the SQLite
file must pass `PRAGMA integrity_check`; after it, every write answered 200 must be there,
intact and in order. A write that was in flight when the server died may or may not have
landed (the client never learned its fate); it may only appear whole, at the end.

    python bench/crash.py                       # 20 kills on a fresh SQLite file
    python bench/crash.py --kills 3 --json      # what tests/test_crash.py runs
    python bench/crash.py --database postgresql://user@127.0.0.1/parley_crash

Exit status 0 only when nothing acknowledged was lost and every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class Conversation:
    """What the clients know about one conversation: acknowledged items, in order."""

    id: str
    items: list[str] = field(default_factory=list)  # texts, each unique
    ids: dict[str, str] = field(default_factory=dict)  # text → item id, once known
    # Items of a write that got no answer: the server may have committed them, or not.
    pending: list[str] = field(default_factory=list)


@dataclass
class Tally:
    """The figures of a run."""

    kills: int = 0
    acked_writes: int = 0
    acked_items_checked: int = 0  # summed over every check (each round re-checks all)
    acked_items_final: int = 0  # distinct acknowledged items at the end
    conversations_checked: int = 0
    in_flight_landed: int = 0
    in_flight_lost: int = 0
    lost: int = 0
    corrupt: int = 0
    integrity: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`parley serve` in a session of its own, so one killpg reaches every process."""

    def __init__(self, database: str, key: str, log: Path) -> None:
        self.database = database
        self.key = key
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable, "-m", "parley", "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--database", self.database, "--api-key", self.key,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "PARLEY_API_KEY"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"parley serve exited early; see {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"parley serve did not come up; see {self.log}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        self.process.wait(30)
        # The workers are in the same group; wait until none is left holding the files.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


async def client_loop(
    http: httpx.AsyncClient, mine: list[Conversation], rng: random.Random, tally: Tally
) -> None:
    """One client: append to its conversations (sometimes start one) until the server dies."""
    while True:
        if not mine or rng.random() < 0.1:
            texts = [f"t-{uuid.uuid4().hex}" for _ in range(rng.randint(0, 3))]
            conv = Conversation(id="")
            try:
                answer = await http.post(
                    "/v1/conversations",
                    json={"items": [{"role": "user", "content": t} for t in texts]},
                )
            except httpx.HTTPError:
                return  # never acknowledged: nothing to check
            if answer.status_code != 200:
                tally.problems.append(f"create: {answer.status_code} {answer.text[:200]}")
                return
            conv.id = answer.json()["id"]
            conv.items = texts  # their ids are learnt at the first check
            mine.append(conv)
            tally.acked_writes += 1
            continue
        conv = rng.choice(mine)
        if conv.pending:
            continue
        texts = [f"t-{uuid.uuid4().hex}" for _ in range(rng.randint(1, 3))]
        conv.pending = texts
        try:
            answer = await http.post(
                f"/v1/conversations/{conv.id}/items",
                json={"items": [{"role": "user", "content": t} for t in texts]},
            )
        except httpx.HTTPError:
            return  # in flight when the server died: `pending` stays set
        if answer.status_code != 200:
            tally.problems.append(f"append: {answer.status_code} {answer.text[:200]}")
            return
        for item in answer.json()["data"]:
            conv.items.append(item["content"][0]["text"])
            conv.ids[item["content"][0]["text"]] = item["id"]
        conv.pending = []
        tally.acked_writes += 1


async def load(url: str, key: str, clients: list[list[Conversation]], seed: int) -> Tally:
    """Run every client until each has lost its connection."""
    tally = Tally()
    limits = httpx.Limits(max_connections=len(clients), max_keepalive_connections=len(clients))
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30, limits=limits
    ) as http:
        await asyncio.gather(
            *(
                client_loop(http, mine, random.Random(seed * 1000 + n), tally)
                for n, mine in enumerate(clients)
            )
        )
    return tally


async def verify(url: str, key: str, clients: list[list[Conversation]], tally: Tally) -> None:
    """Every acknowledged item present, intact, in order; in-flight ones whole or absent."""
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as http:
        semaphore = asyncio.Semaphore(16)

        async def check(conv: Conversation) -> None:
            async with semaphore:
                stored: list[tuple[str, str]] = []
                after: str | None = None
                while True:
                    params = {"order": "asc", "limit": "100", **({"after": after} if after else {})}
                    page = await http.get(f"/v1/conversations/{conv.id}/items", params=params)
                    if page.status_code != 200:
                        tally.lost += len(conv.items) + 1
                        tally.problems.append(f"{conv.id}: {page.status_code} {page.text[:200]}")
                        return
                    body = page.json()
                    stored += [(i["id"], i["content"][0]["text"]) for i in body["data"]]
                    if not body["has_more"]:
                        break
                    after = body["last_id"]
            tally.conversations_checked += 1
            tally.acked_items_checked += len(conv.items)
            head, tail = stored[: len(conv.items)], stored[len(conv.items) :]
            texts = [text for _, text in head]
            if texts != conv.items:
                present = {text for _, text in stored}
                missing = [text for text in conv.items if text not in present]
                tally.lost += len(missing)
                tally.corrupt += 0 if missing else 1
                tally.problems.append(f"{conv.id}: acknowledged items lost or out of order")
                return
            for item_id, text in head:
                if conv.ids.setdefault(text, item_id) != item_id:
                    tally.corrupt += 1
                    tally.problems.append(f"{conv.id}: item {conv.ids[text]} changed id")
            if conv.pending:
                tail_texts = [text for _, text in tail]
                if tail_texts == conv.pending:
                    tally.in_flight_landed += 1
                    conv.items.extend(tail_texts)
                    conv.ids.update((text, item_id) for item_id, text in tail)
                elif not tail:
                    tally.in_flight_lost += 1
                else:
                    tally.corrupt += 1
                    tally.problems.append(f"{conv.id}: a partial or foreign write: {tail_texts}")
                conv.pending = []
            elif tail:
                tally.corrupt += 1
                tally.problems.append(f"{conv.id}: {len(tail)} items nobody wrote")

        await asyncio.gather(*(check(conv) for mine in clients for conv in mine))


def integrity(database: str) -> str:
    """`PRAGMA integrity_check` on the SQLite file as the crash left it."""
    conn = sqlite3.connect(database)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        return "; ".join(str(row[0]) for row in rows)
    finally:
        conn.close()


def run(
    database: str,
    *,
    kills: int,
    clients: int,
    min_run: float,
    max_run: float,
    seed: int,
    log: Path,
) -> Tally:
    """The whole soak: `kills` rounds of load → SIGKILL → checks → restart."""
    rng = random.Random(seed)
    key = f"sk-crash-{uuid.uuid4().hex}"
    server = Server(database, key, log)
    postgres = database.startswith(("postgres://", "postgresql://"))
    owned: list[list[Conversation]] = [[] for _ in range(clients)]
    total = Tally()
    server.start()
    for round_ in range(kills):

        async def round_trip(delay: float, round_seed: int) -> Tally:
            task = asyncio.create_task(load(server.url, key, owned, round_seed))
            await asyncio.sleep(delay)
            server.kill()
            return await task

        delay = rng.uniform(min_run, max_run)
        tally = asyncio.run(round_trip(delay, seed + round_))
        total.kills += 1
        total.acked_writes += tally.acked_writes
        total.problems += tally.problems
        if not postgres:
            verdict = integrity(database)
            total.integrity.append(verdict)
            if verdict != "ok":
                total.problems.append(f"round {round_}: integrity_check: {verdict}")
        server.start()
        asyncio.run(verify(server.url, key, owned, total))
        print(
            f"round {round_ + 1}/{kills}: killed after {delay:.2f}s, {tally.acked_writes} "
            f"acked writes; lost so far {total.lost}",
            file=sys.stderr,
        )
    server.kill(signal.SIGTERM)
    total.acked_items_final = sum(len(conv.items) for mine in owned for conv in mine)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", help="SQLite file or postgresql:// URL (default: temp)")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--min-run", type=float, default=0.5, help="seconds of load, at least")
    parser.add_argument("--max-run", type=float, default=3.0, help="seconds of load, at most")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-crash-") as folder:
        database = args.database or str(Path(folder) / "crash.db")
        began = time.monotonic()
        tally = run(
            database,
            kills=args.kills,
            clients=args.clients,
            min_run=args.min_run,
            max_run=args.max_run,
            seed=args.seed,
            log=Path(folder) / "server.log",
        )
        figures = {
            "seed": args.seed,
            "database": "postgresql" if args.database and "://" in args.database else "sqlite",
            "seconds": round(time.monotonic() - began, 1),
            **{k: v for k, v in tally.__dict__.items() if k != "integrity"},
            "integrity_ok": sum(1 for verdict in tally.integrity if verdict == "ok"),
            "problems": tally.problems[:20],
        }
    print(json.dumps(figures) if args.json else json.dumps(figures, indent=2))
    ok = not tally.problems and tally.lost == 0 and tally.corrupt == 0
    return 0 if ok and tally.acked_writes > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
