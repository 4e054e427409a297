"""Per-key rate limits: a small protocol, an in-process limiter, a PostgreSQL-shared one.

Both use GCRA (the generic cell rate algorithm): per key, one number, the "theoretical
arrival time" (TAT) of the next request at the steady rate. A request is allowed when, after
it, the TAT runs at most ``burst`` emission intervals ahead of now. That is a token bucket of
``burst`` tokens refilled at ``rate`` per second, stored as one float instead of two.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from parley.errors import RateLimited

# Past this many tracked keys, entries whose bucket is full again are dropped: they carry no
# information, and the map must not grow with every key ever seen.
_PRUNE_AT = 10_000


class RateLimiter(Protocol):
    """Decides whether the key with this hash may make a request now."""

    async def acquire(self, key_hash: bytes) -> float:
        """0.0 when the request may go ahead; else the seconds until one would be allowed."""

    async def close(self) -> None:
        """Release whatever the limiter holds."""


class LocalRateLimiter:
    """GCRA in this process's memory: exact for one process (the SQLite deployment)."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._interval = 1.0 / rate
        self._clock = clock
        self._tat: dict[bytes, float] = {}

    async def acquire(self, key_hash: bytes) -> float:
        now = self._clock()
        tat = max(self._tat.get(key_hash, now), now) + self._interval
        excess = tat - now - self.burst * self._interval
        if excess > 1e-9:
            return excess
        self._tat[key_hash] = tat
        if len(self._tat) > _PRUNE_AT:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        return 0.0

    async def close(self) -> None:
        self._tat.clear()


class FailureLimiter:
    """Failed authentications per client address, GCRA in this process's memory.

    A guess is refused while its address is over budget, before its key is looked at. Each
    server process keeps its own budgets: with N workers an address gets N times as many.
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._interval = 1.0 / rate
        self._depth = burst * self._interval
        self._clock = clock
        self._tat: dict[str, float] = {}

    def blocked(self, address: str) -> float:
        """0.0 when a request from ``address`` may try a key now, else seconds to wait."""
        tat = self._tat.get(address)
        if tat is None:
            return 0.0
        excess = tat + self._interval - self._clock() - self._depth
        return excess if excess > 1e-9 else 0.0

    def failed(self, address: str) -> None:
        """Count one failed authentication against ``address``."""
        now = self._clock()
        self._tat[address] = max(self._tat.get(address, now), now) + self._interval
        if len(self._tat) > _PRUNE_AT:
            self._tat = {k: v for k, v in self._tat.items() if v > now}


# One statement, one row lock: ON CONFLICT serialises concurrent requests of one key across
# every server process. `allowed` records the decision so RETURNING can report it.
_PG_ACQUIRE = """
WITH req AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now,
                    $2::float8 AS step, $3::float8 AS depth)
INSERT INTO parley_rate_limits AS r (key_hash, tat, allowed)
SELECT $1, req.now + req.step, true FROM req
ON CONFLICT (key_hash) DO UPDATE SET
    allowed = greatest(r.tat, excluded.tat - $2::float8) + $2::float8
        <= excluded.tat - $2::float8 + $3::float8 + 1e-9,
    tat = CASE
        WHEN greatest(r.tat, excluded.tat - $2::float8) + $2::float8
            <= excluded.tat - $2::float8 + $3::float8 + 1e-9
        THEN greatest(r.tat, excluded.tat - $2::float8) + $2::float8
        ELSE r.tat
    END
RETURNING allowed, tat + $2::float8 - $3::float8 - extract(epoch FROM clock_timestamp())::float8
    AS wait
"""


class PostgresRateLimiter:
    """GCRA in a PostgreSQL table, so the limit holds across every server process."""

    def __init__(self, pool: Callable[[], Any], rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._pool = pool
        self._interval = 1.0 / rate
        self.burst = burst

    async def acquire(self, key_hash: bytes) -> float:
        row = await self._pool().fetchrow(
            _PG_ACQUIRE, key_hash, self._interval, self.burst * self._interval
        )
        if row["allowed"]:
            return 0.0
        return max(float(row["wait"]), 0.001)

    async def close(self) -> None:
        return None


def default_burst(rate: float) -> int:
    """The burst used when none is configured: one second's worth, at least one request."""
    return max(1, math.ceil(rate))


def rate_limited(wait: float, *, failed_auth: bool = False) -> RateLimited:
    """The 429 answer, with the delay in both headers the `openai` SDK reads."""
    seconds = f"{wait:.3f}".rstrip("0").rstrip(".")
    what = (
        "Too many failed authentication attempts from your address"
        if failed_auth
        else "Rate limit reached for requests on this API key"
    )
    return RateLimited(
        f"{what}. Please try again in {seconds}s.",
        code="rate_limit_exceeded",
        headers={
            # The SDK prefers the millisecond header; Retry-After is whole seconds (RFC 9110).
            "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
            "retry-after": str(max(1, math.ceil(wait))),
        },
    )
