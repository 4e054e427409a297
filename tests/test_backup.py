"""`parley backup` under write load, and `parley restore`: checked copies, refused bad input."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from parley.backup import BackupError, backup, check
from parley.cli import main
from tests.conftest import mint_key, start_server, stop_server

WRITERS = 4
BIG = "x" * 100_000


def run_cli(*args: str) -> Result:
    """Run the `parley` command in this process (its start-up costs seconds on a busy box)."""
    return CliRunner().invoke(main, list(args))


class Writers:
    """Threads that append numbered items to conversations of their own, recording acks."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {key}"}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        # conversation id → texts in append order, and when each was acknowledged
        self.acked: dict[str, list[tuple[str, float]]] = {}
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(WRITERS)]

    def run(self, writer: int) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30) as client:
            conv = client.post("/conversations", json={}).json()["id"]
            with self.lock:
                self.acked[conv] = []
            n = 0
            while not self.stop.is_set():
                text = f"w{writer}-{n}"
                answer = client.post(
                    f"/conversations/{conv}/items",
                    json={"items": [{"role": "user", "content": text}]},
                )
                if answer.status_code != 200:
                    self.errors.append(answer.text)
                    return
                with self.lock:
                    self.acked[conv].append((text, time.monotonic()))
                n += 1

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.errors:
            with self.lock:
                if len(self.acked) == WRITERS and all(self.acked.values()):
                    return self
            time.sleep(0.05)
        self.__exit__()
        raise AssertionError(f"the writers did not get going: {self.errors[:3]}")

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def items_in(path: Path, conv: str) -> list[str]:
    """The texts of a conversation's items in the SQLite file at ``path``, by position."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT i.position, json_extract(i.data, '$.content[0].text') FROM items i "
            "JOIN conversations c ON c.seq = i.conversation WHERE c.id = ? ORDER BY i.position",
            (conv,),
        ).fetchall()
        count = conn.execute(
            "SELECT item_count FROM conversations WHERE id = ?", (conv,)
        ).fetchone()
    assert [position for position, _ in rows] == list(range(len(rows)))
    assert count is not None and count[0] == len(rows)
    return [text for _, text in rows]


def test_backup_under_write_load_then_restore(tmp_path: Path) -> None:
    database = tmp_path / "live.db"
    live = start_server(str(database), tmp_path / "server.log")
    try:
        headers = {"Authorization": f"Bearer {live.api_key}"}
        # ~30 MB of existing data, so that copying takes long enough for writes to land
        # while it runs.
        filler = [{"role": "user", "content": BIG} for _ in range(20)]
        for _ in range(15):
            answer = httpx.post(
                f"{live.base_url}/conversations", json={"items": filler}, headers=headers
            )
            assert answer.status_code == 200, answer.text
        windows: list[tuple[float, float, Path]] = []
        with Writers(live.base_url, live.api_key) as writers:
            for n in range(3):
                copy = tmp_path / f"copy-{n}.db"
                # In this process, so that the window is the copy itself, not the start-up
                # of a `parley` process (the CLI is driven in the tests below).
                began = time.monotonic()
                backup(str(database), str(copy))
                windows.append((began, time.monotonic(), copy))
                time.sleep(0.2)
        assert not writers.errors, writers.errors[:3]
        during = 0
        for began, ended, copy in windows:
            summary = check(str(copy))
            assert summary.conversations >= 15 + WRITERS
            assert summary.items >= 300
            assert not Path(f"{copy}-wal").exists()  # one self-contained file
            for conv, acked in writers.acked.items():
                stored = items_in(copy, conv)
                texts = [text for text, _ in acked]
                # Everything acknowledged before the backup began is in it, in order ...
                before = [text for text, at in acked if at < began]
                assert stored[: len(before)] == before
                # ... and the copy is one instant: a prefix of the conversation's history.
                assert stored == texts[: len(stored)]
                during += sum(1 for _, at in acked if began <= at <= ended)
        assert during > 0, "no write was acknowledged while a backup ran"
    finally:
        stop_server(live)

    # Restore the last copy into a fresh database and serve it.
    _, _, copy = windows[-1]
    restored = tmp_path / "restored.db"
    result = run_cli("restore", "--database", str(restored), str(copy))
    assert result.exit_code == 0, result.output
    served = start_server(str(restored), tmp_path / "restored.log", api_key=live.api_key)
    try:
        with served.client() as client:
            for conv in writers.acked:
                page = client.conversations.items.list(conv, order="asc", limit=100)
                texts = [item.content[0].text for item in page.data]  # type: ignore[union-attr]
                assert texts == items_in(copy, conv)[:100]
    finally:
        stop_server(served)


@pytest.fixture(scope="module")
def sound_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of a small live database."""
    tmp_path = tmp_path_factory.mktemp("small")
    database = tmp_path / "small.db"
    live = start_server(str(database), tmp_path / "small.log")
    try:
        httpx.post(
            f"{live.base_url}/conversations",
            json={"items": [{"role": "user", "content": "kept"}]},
            headers={"Authorization": f"Bearer {live.api_key}"},
        ).raise_for_status()
        copy = tmp_path / "small-backup.db"
        assert run_cli("backup", "-d", str(database), str(copy)).exit_code == 0
    finally:
        stop_server(live)
    return copy


def test_restore_refuses_what_it_cannot_trust(tmp_path: Path, sound_backup: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    damaged = tmp_path / "damaged.db"
    data = bytearray(sound_backup.read_bytes())
    # Page 2 holds a table's root (the first table a migration creates); a page in the middle
    # may be a free one (left by a migration's DROP INDEX), whose damage no check can see.
    page = 4096
    data[page : 2 * page] = b"\x00" * page
    damaged.write_bytes(bytes(data))
    target = tmp_path / "target.db"
    for bad, why in (
        (garbage, "not a readable SQLite database"),
        (foreign, "not a parley database"),
        (damaged, ""),
        (tmp_path / "missing.db", "no such file"),
    ):
        result = run_cli("restore", "-d", str(target), str(bad))
        assert result.exit_code != 0
        assert why in result.output
        assert isinstance(result.exception, SystemExit)  # a clean refusal, not a crash
        assert not target.exists()
    with pytest.raises(BackupError):
        check(str(damaged))

    assert run_cli("restore", "-d", str(target), str(sound_backup)).exit_code == 0
    again = run_cli("restore", "-d", str(target), str(sound_backup))
    assert again.exit_code != 0 and "--force" in again.output
    assert run_cli("restore", "--force", "-d", str(target), str(sound_backup)).exit_code == 0
    assert check(str(target)).items == 1


def test_backup_refuses_to_overwrite_and_postgres(tmp_path: Path, sound_backup: Path) -> None:
    exists = run_cli("backup", "-d", str(sound_backup), str(sound_backup))
    assert exists.exit_code != 0 and "--force" in exists.output
    pg = run_cli("backup", "-d", "postgresql://nobody@127.0.0.1/x", str(tmp_path / "x.db"))
    assert pg.exit_code != 0 and "pg_dump" in pg.output
    missing = run_cli("backup", "-d", str(tmp_path / "nope.db"), str(tmp_path / "x.db"))
    assert missing.exit_code != 0 and "no such database" in missing.output


def test_restore_will_not_silently_revive_a_revoked_key(tmp_path: Path) -> None:
    database = tmp_path / "live.db"
    old_key = mint_key(str(database), "acme")
    snapshot = tmp_path / "before.db"
    assert run_cli("backup", "-d", str(database), str(snapshot)).exit_code == 0
    [old_id] = _key_ids(database)
    assert run_cli("keys", "revoke", old_id, "-d", str(database)).exit_code == 0
    new_key = mint_key(str(database), "acme")

    refused = run_cli("restore", "--force", "-d", str(database), str(snapshot))
    assert refused.exit_code == 1
    assert f"{old_id} (acme)" in refused.output and "--keep-keys" in refused.output
    assert _works(database, old_key) is False  # nothing was restored

    kept = run_cli("restore", "--force", "--keep-keys", "-d", str(database), str(snapshot))
    assert kept.exit_code == 0, kept.output
    assert "kept this database's API keys (3 keys)" in kept.output  # with _works' own key
    assert (_works(database, old_key), _works(database, new_key)) == (False, True)

    taken = run_cli("restore", "--force", "--backup-keys", "-d", str(database), str(snapshot))
    assert taken.exit_code == 0, taken.output
    assert f"key {old_id} (acme) was revoked and works again" in taken.output
    assert "was newer than the backup and is gone" in taken.output
    assert (_works(database, old_key), _works(database, new_key)) == (True, False)


def _key_ids(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM api_keys ORDER BY created_at")]


def _works(database: Path, key: str) -> bool:
    """Whether a live server on ``database`` accepts ``key``."""
    fixed = f"sk-fixed-{uuid.uuid4().hex}"
    server = start_server(str(database), database.with_suffix(".log"), api_key=fixed)
    try:
        answer = httpx.get(
            f"{server.base_url}/conversations", headers={"Authorization": f"Bearer {key}"}
        )
    finally:
        stop_server(server)
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200
