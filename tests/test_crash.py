"""A brief run of bench/crash.py: SIGKILL under 64 writing clients, nothing acknowledged lost."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_SKIP, POSTGRES_URL

CRASH = Path(__file__).resolve().parent.parent / "bench" / "crash.py"


@contextlib.contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield str(folder / "crash.db")
        return
    from tests.pg import fresh_database

    with fresh_database() as url:
        yield url


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(POSTGRES_URL is None, reason=POSTGRES_SKIP),
            ],
        ),
    ],
)
def test_sigkill_loses_no_acknowledged_write(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url:
        run = subprocess.run(
            [
                sys.executable,
                str(CRASH),
                "--kills",
                "3",
                "--clients",
                "64",
                "--min-run",
                "0.5",
                "--max-run",
                "1.5",
                "--seed",
                "20250101",
                "--json",
                "--database",
                url,
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=280,
        )
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0, (figures, run.stderr[-2000:])
    assert figures["kills"] == 3
    assert figures["integrity_ok"] == (3 if backend == "sqlite" else 0)
    assert figures["lost"] == 0 and figures["corrupt"] == 0
    assert figures["acked_writes"] > 0 and figures["acked_items_final"] > 0
    assert figures["problems"] == []
