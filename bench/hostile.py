"""Re-measure issue 15's figures: what one hostile or unlucky client can do to `parley serve`.

Each scenario starts its own server on a fresh database (a SQLite file, or a fresh PostgreSQL
database with --database postgresql://…/postgres), acts as the issue describes, and prints
one JSON line of what it saw.

    python bench/hostile.py                       # every scenario on SQLite
    python bench/hostile.py filter idle --database postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import free_port, group_pids, sample  # noqa: E402

KEY = "sk-hostile-bench-key"


class Server:
    """A `parley serve` process of the bench's own."""

    def __init__(self, database: str, args: list[str], log: Path) -> None:
        self.port = free_port()
        self.database = database
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "PARLEY_API_KEY"}
        command = [sys.executable, "-m", "parley", "serve", "--port", str(self.port)]
        command += ["--database", database, "--api-key", KEY, *args]
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(log.read_text())

    def rss_mib(self) -> float:
        return sample(group_pids(self.process.pid))[0] / 1024

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@contextmanager
def served(base: str, args: list[str] | None = None) -> Iterator[Server]:
    """A server on a fresh database derived from ``base`` (a folder's file or a PG URL)."""
    with tempfile.TemporaryDirectory() as folder:
        if base.startswith("postgres"):
            import asyncpg

            name = f"parley_bench_{uuid.uuid4().hex[:12]}"

            async def admin(sql: str) -> None:
                conn = await asyncpg.connect(base)
                try:
                    await conn.execute(sql)
                finally:
                    await conn.close()

            asyncio.run(admin(f'CREATE DATABASE "{name}"'))
            parts = urlsplit(base)
            database = urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
        else:
            database = str(Path(folder) / "parley.db")
        server = Server(database, args or [], Path(folder) / "server.log")
        try:
            yield server
        finally:
            server.stop()
            if base.startswith("postgres"):
                asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _client(server: Server, timeout: float = 120) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=timeout
    )


def _timed(call: Callable[[], httpx.Response]) -> tuple[int, float]:
    began = time.monotonic()
    try:
        status = call().status_code
    except httpx.HTTPError:
        status = 0
    return status, round(time.monotonic() - began, 3)


def filter_stall(base: str) -> dict[str, object]:
    """Item 1: a URL repeating one metadata pair on 10,000 conversations, /healthz beside it."""
    with served(base) as server, _client(server) as http:
        # Every conversation holds 16 pairs, so a filter's checks all pass until its last.
        sixteen = {f"k{i}": "v" for i in range(16)}
        for _ in range(10_000):
            http.post("/v1/conversations", json={"metadata": sixteen})
        result: dict[str, object] = {"scenario": "filter", "database": base.split(":")[0]}
        for repeats in (256, 900, 1000):
            query = "&".join(["metadata%5Bnone%5D=y"] * repeats)
            box: dict[str, tuple[int, float]] = {}

            def slow_list(q: str = query, out: dict[str, tuple[int, float]] = box) -> None:
                out["slow"] = _timed(lambda: http.get(f"/v1/conversations?{q}"))

            slow = threading.Thread(target=slow_list)
            slow.start()
            time.sleep(0.05)
            health = _timed(lambda: httpx.get(f"{server.url}/healthz", timeout=120))
            slow.join()
            result[f"repeat_{repeats}"] = {"status_s": box["slow"], "healthz_s": health}
        # The worst a filter may now be: 15 pairs every conversation matches, then one none does.
        worst = [(f"metadata[k{i}]", "v") for i in range(15)] + [("metadata[k15]", "no")]
        result["worst_16_pairs"] = _timed(lambda: http.get("/v1/conversations", params=worst))
        minted = subprocess.run(
            [sys.executable, "-m", "parley", "keys", "create", "--project", "bystander"]
            + ["--database", server.database],
            capture_output=True,
            text=True,
            check=True,
        )
        bystander = minted.stdout.strip().split()[-1]
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {bystander}"}, timeout=120
        ) as other:
            other.post("/v1/conversations", json={})
            hostile = [
                threading.Thread(target=lambda: http.get("/v1/conversations", params=worst))
                for _ in range(10)
            ]
            for thread in hostile:
                thread.start()
            time.sleep(0.05)
            result["bystander_list_beside_10_worst"] = _timed(
                lambda: other.get("/v1/conversations")
            )
            for thread in hostile:
                thread.join()
        return result


def login_body(base: str) -> dict[str, object]:
    """Item 2: a 300 MB sign-in body; a body trickled at a byte a second."""
    with served(base) as server:
        before = server.rss_mib()

        def chunks() -> Iterator[bytes]:
            yield b"key="
            for _ in range(300):
                yield b"x" * (1024 * 1024)

        status = _timed(
            lambda: httpx.post(f"{server.url}/dashboard/login", content=chunks(), timeout=120)
        )
        after = server.rss_mib()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(
                b"POST /dashboard/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
            )
            began, held = time.monotonic(), 0.0
            sock.settimeout(1)
            while time.monotonic() - began < 45:
                try:
                    sock.sendall(b"k")
                    if sock.recv(1):
                        break
                except TimeoutError:
                    continue
                except OSError:
                    break
            held = time.monotonic() - began
        return {
            "scenario": "login",
            "300MB_status_s": status,
            "rss_before_mib": round(before),
            "rss_after_mib": round(after),
            "trickle_answered_after_s": round(held, 1),
        }


def references(base: str) -> dict[str, object]:
    """Item 3: twenty references to one 4 MB item; the dashboard page of that conversation."""
    with (
        served(base, ["--max-body-bytes", str(5 * 1024 * 1024)]) as server,
        _client(server) as http,
    ):
        conv = http.post("/v1/conversations", json={}).json()["id"]
        big = {"type": "message", "role": "user", "content": "z" * (4 * 1024 * 1024)}
        item = http.post(f"/v1/conversations/{conv}/items", json={"items": [big]}).json()
        refs = {"items": [{"type": "item_reference", "id": item["data"][0]["id"]}] * 20}
        body = json.dumps(refs).encode()
        answer = http.post(f"/v1/conversations/{conv}/items", content=body)
        web = httpx.Client(base_url=server.url, timeout=120)
        web.post("/dashboard/login", data={"key": KEY})
        peak_before = server.rss_mib()
        page = web.get(f"/dashboard/c/{conv}")
        return {
            "scenario": "references",
            "request_bytes": len(body),
            "status": answer.status_code,
            "answer_bytes": len(answer.content),
            "dashboard_html_bytes": len(page.content),
            "rss_mib_before_after_page": [round(peak_before), round(server.rss_mib())],
        }


def idle(base: str) -> dict[str, object]:
    """Item 4: 50 sockets that send nothing, after 60 s; 10,000 idle and a client beside them."""
    with served(base) as server:
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
        time.sleep(60)
        still = 0
        for sock in socks:
            sock.settimeout(0.05)
            try:
                still += sock.recv(1) != b""
            except TimeoutError:
                still += 1
            except OSError:
                pass
            sock.close()
        many = []
        for _ in range(10_000):
            many.append(socket.create_connection(("127.0.0.1", server.port), timeout=30))
        beside = [_timed(lambda: httpx.get(f"{server.url}/healthz", timeout=60)) for _ in range(5)]
        for sock in many:
            sock.close()
        return {"scenario": "idle", "open_after_60s_of_50": still, "healthz_beside_10000": beside}


def updates(base: str) -> dict[str, object]:
    """Item 5: 4 workers, 60 concurrent updates of one conversation, 10 rounds."""
    with served(base, ["--workers", "4"] if base.startswith("postgres") else []) as server:

        async def run() -> list[int]:
            stale_per_round = []
            async with httpx.AsyncClient(
                base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
            ) as http:
                conv = (await http.post("/v1/conversations", json={})).json()["id"]
                for round_ in range(10):
                    bodies = [{f"r{round_}": str(i), "b": str(i)} for i in range(60)]
                    await asyncio.gather(
                        *(
                            http.post(f"/v1/conversations/{conv}", json={"metadata": b})
                            for b in bodies
                        )
                    )
                    stored = (await http.get(f"/v1/conversations/{conv}")).json()["metadata"]
                    stale = 0
                    for pair in {p for b in bodies for p in b.items()}:
                        listed = await http.get(
                            "/v1/conversations", params={f"metadata[{pair[0]}]": pair[1]}
                        )
                        found = conv in [c["id"] for c in listed.json()["data"]]
                        stale += found and stored.get(pair[0]) != pair[1]
                    stale_per_round.append(stale)
            return stale_per_round

        return {"scenario": "updates", "stale_pairs_per_round": asyncio.run(run())}


def rate(base: str) -> dict[str, object]:
    """Item 6: --rate-limit 1: ten API calls, ten dashboard pages, ten wrong keys."""
    with served(base, ["--rate-limit", "1"]) as server, _client(server) as http:
        api = [http.get("/v1/conversations").status_code for _ in range(10)]
        time.sleep(1.5)
        web = httpx.Client(base_url=server.url, timeout=30)
        web.post("/dashboard/login", data={"key": KEY})
        time.sleep(1.5)
        pages = [web.get("/dashboard").status_code for _ in range(10)]
        time.sleep(1.5)
        wrong = [
            httpx.get(
                f"{server.url}/v1/conversations", headers={"Authorization": "Bearer sk-nope"}
            ).status_code
            for _ in range(10)
        ]
        return {"scenario": "rate", "api": api, "dashboard": pages, "wrong_keys": wrong}


SCENARIOS: dict[str, Callable[[str], dict[str, object]]] = {
    "filter": filter_stall,
    "login": login_body,
    "references": references,
    "idle": idle,
    "updates": updates,
    "rate": rate,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--database", default="sqlite", help="'sqlite' or a postgresql:// URL")
    options = parser.parse_args()
    unknown = set(options.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    for name in options.scenarios or list(SCENARIOS):
        print(json.dumps(SCENARIOS[name](options.database)), flush=True)


if __name__ == "__main__":
    main()
