"""Retention (a parley extension): per-project expiry and the background sweeper.

The sweeper deletes in small batches, each one short transaction of its own, and pauses
between them: the SQLite writer is never held for long, and requests keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator

from parley.store import Store

log = logging.getLogger("parley.retention")

DEFAULT_INTERVAL = 60.0
BATCH = 200
# Between two batches of one round: lets queued request writes take the writer first.
PAUSE = 0.02

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(text: str) -> int | None:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` as seconds; ``off`` (or ``none``) as None."""
    if text.strip().lower() in ("off", "none", "never", "0"):
        return None
    found = _DURATION.match(text.lower())
    if found is None:
        raise ValueError(f"{text!r} is not a duration: write e.g. 30d, 12h, 90m, 45s, 2w or off")
    seconds = int(found.group(1)) * _UNITS[found.group(2)]
    if seconds <= 0:
        raise ValueError("a retention must be longer than 0 seconds (or off)")
    return seconds


def describe(seconds: int | None) -> str:
    """A retention as people write it: ``30d``, ``12h``…, or ``off``."""
    if seconds is None:
        return "off"
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


async def sweep_once(store: Store, now: int | None = None) -> int:
    """Delete every conversation and stored response whose project's retention has expired;
    return how many went."""
    moment = int(time.time()) if now is None else now
    total = 0
    while True:
        removed = await store.sweep_expired(moment, BATCH)
        total += removed
        # A store answers up to BATCH of each kind: fewer in all means nothing is left.
        if removed < BATCH:
            return total
        await asyncio.sleep(PAUSE)


async def _run(store: Store, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            removed = await sweep_once(store)
        except Exception:
            # A database that is down now may be back next round; the server goes on.
            log.exception("retention sweep failed; retrying in %s s", interval)
            continue
        if removed:
            log.info("retention: removed %d expired conversations and responses", removed)


def _show_info() -> None:
    # What a sweep removed is worth a line in the server's log, which shows WARNING and up
    # unless told otherwise.
    log.setLevel(logging.INFO)
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(name)s: %(message)s"))
        log.addHandler(handler)


@contextlib.asynccontextmanager
async def sweeper(store: Store, interval: float) -> AsyncIterator[None]:
    """Run the sweeper every ``interval`` seconds while the block runs (0: never)."""
    if interval <= 0:
        yield
        return
    _show_info()
    task = asyncio.create_task(_run(store, interval), name="parley-retention")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
