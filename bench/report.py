"""Medians of repeated runs, each route's ratio to the bare floor, the targets of issue 12, the
JSON and the PNG chart."""

from __future__ import annotations

import os
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The floor: bench/bare.py's bare ASGI app under the same granian settings, measured in the
# same run (round by round) as parley; every route is judged as a ratio to it, which holds on
# any machine where absolute req/s would not.
FLOOR = "floor"
# Issue 12's targets per backend, judged at 64 connections: (min ratio to the floor, max p99
# ms or None).
TARGETS: dict[str, dict[str, tuple[float, float | None]]] = {
    "sqlite": {
        "retrieve": (0.65, 6.0),
        "list_items": (0.30, None),
        "create": (0.16, 30.0),
        "add_items": (0.16, 30.0),
        "update": (0.16, 30.0),
    },
    "postgresql": {
        "retrieve": (0.20, None),
        "create": (0.08, None),
    },
}
JUDGED_AT = 64


@dataclass
class Sample:
    """One measured run of one route at one connection count."""

    route: str
    connections: int
    repeat: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    server_cpu_s: float
    loadgen_cpu_s: float
    other_cpu_s: float
    db_cpu_s: float = 0.0
    wall_s: float = 0.0  # the load generator's whole run, start-up included

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else 0.0


@dataclass
class Row:
    """The median over repeats of one (route, connections) pair."""

    route: str
    connections: int
    runs: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    server_cores: float
    ceiling_rps: float
    db_cores: float
    other_cores: float
    errors: int
    # Median over rounds of req/s ÷ the floor's req/s in the same round (None: no floor run).
    floor_ratio: float | None = None


def ceiling(sample: Sample) -> float:
    """Requests/s this machine's cores would carry if the server and the load generator had
    them to themselves: cores ÷ (server + load generator CPU per request). A projection that
    holds up on a shared machine, where req/s does not (it ignores latency-bound limits)."""
    cpu = sample.server_cpu_s + sample.db_cpu_s + sample.loadgen_cpu_s
    return (os.cpu_count() or 1) * sample.requests / cpu if cpu else 0.0


def summarise(samples: list[Sample]) -> list[Row]:
    """One row per (route, connections), medians of every figure, in the order first run.

    A route's ratio is taken round by round (its req/s over the floor's at the same connection
    count in the same round), then the median of those: a machine that slows down between
    rounds moves both figures of a pair.
    """
    groups: dict[tuple[str, int], list[Sample]] = {}
    floors: dict[tuple[int, int], float] = {}
    for sample in samples:
        groups.setdefault((sample.route, sample.connections), []).append(sample)
        if sample.route == FLOOR:
            floors[(sample.repeat, sample.connections)] = sample.rps
    rows = []
    for (route, connections), runs in groups.items():

        def med(values: list[float]) -> float:
            return statistics.median(values)

        ratios = [
            s.rps / floors[(s.repeat, s.connections)]
            for s in runs
            if floors.get((s.repeat, s.connections))
        ]
        rows.append(
            Row(
                route=route,
                connections=connections,
                runs=len(runs),
                rps=med([s.rps for s in runs]),
                p50_ms=med([s.p50_ms for s in runs]),
                p99_ms=med([s.p99_ms for s in runs]),
                cpu_us_per_request=med([s.cpu_us_per_request for s in runs]),
                server_cores=med([s.server_cpu_s / s.seconds for s in runs]),
                ceiling_rps=med([ceiling(s) for s in runs]),
                db_cores=med([s.db_cpu_s / s.seconds for s in runs]),
                other_cores=med([s.other_cpu_s / (s.wall_s or s.seconds) for s in runs]),
                errors=sum(sum(s.errors.values()) for s in runs),
                floor_ratio=med(ratios) if ratios else None,
            )
        )
    return rows


def check_targets(rows: list[Row], backend: str) -> list[dict[str, Any]]:
    """Each of issue 12's targets for ``backend`` with the measured value and whether it is met.

    Without a floor run there is nothing to judge the ratios by: no verdicts then.
    """
    by_key = {(r.route, r.connections): r for r in rows}
    verdicts: list[dict[str, Any]] = []
    for route, (min_ratio, max_p99) in TARGETS.get(backend, {}).items():
        row = by_key.get((route, JUDGED_AT))
        if row is None or row.floor_ratio is None:
            continue
        verdicts.append(
            {
                "target": f"{route} >= {min_ratio:.2f} x floor @{JUDGED_AT}",
                "measured": round(row.floor_ratio, 3),
                "met": row.floor_ratio >= min_ratio,
            }
        )
        if max_p99 is not None:
            verdicts.append(
                {
                    "target": f"{route} p99 <= {max_p99} ms @{JUDGED_AT}",
                    "measured": round(row.p99_ms, 2),
                    "met": row.p99_ms <= max_p99,
                }
            )
    return verdicts


def table(rows: list[Row]) -> str:
    """The result table as fixed-width text."""
    head = (
        f"{'route':<12} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU µs/req':>10} {'srv cores':>9} {'ceiling/s':>9} {'pg cores':>8} {'other':>6} "
        f"{'errors':>6} {'runs':>4} {'x floor':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.route:<12} {r.connections:>5} {r.rps:>9,.0f} {r.p50_ms:>8.2f} "
            f"{r.p99_ms:>8.2f} {r.cpu_us_per_request:>10.1f} {r.server_cores:>9.2f} "
            f"{r.ceiling_rps:>9,.0f} {r.db_cores:>8.2f} {r.other_cores:>6.2f} {r.errors:>6} "
            f"{r.runs:>4} {'' if r.floor_ratio is None else f'{r.floor_ratio:.3f}':>7}"
        )
    return "\n".join(lines)


def verdict_text(verdicts: list[dict[str, Any]]) -> str:
    """The targets, one a line, marked met or MISSED."""
    return "\n".join(
        f"  [{'met' if v['met'] else 'MISSED'}] {v['target']}: {v['measured']}" for v in verdicts
    )


def as_json(rows: list[Row], samples: list[Sample]) -> dict[str, Any]:
    """Rows and every raw sample, for the results file."""
    return {
        "rows": [asdict(r) for r in rows],
        "samples": [{**asdict(s), "cpu_us_per_request": s.cpu_us_per_request} for s in samples],
    }


def chart(rows: list[Row], path: Path, title: str, backend: str) -> Path | None:
    """A PNG with requests/s and p99 per route (one bar per connection count); None without
    matplotlib (install the `bench` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    routes = list(dict.fromkeys(r.route for r in rows))
    conns = sorted({r.connections for r in rows})
    by_key = {(r.route, r.connections): r for r in rows}
    width = 0.8 / max(1, len(conns))
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for n, c in enumerate(conns):
        xs = [i + (n - (len(conns) - 1) / 2) * width for i in range(len(routes))]
        rps = [by_key[(r, c)].rps if (r, c) in by_key else 0 for r in routes]
        p99 = [by_key[(r, c)].p99_ms if (r, c) in by_key else 0 for r in routes]
        top.bar(xs, rps, width, label=f"{c} connections")
        bottom.bar(xs, p99, width, label=f"{c} connections")
    floor = by_key.get((FLOOR, JUDGED_AT))
    for i, route in enumerate(routes):
        min_ratio, max_p99 = TARGETS.get(backend, {}).get(route, (0.0, None))
        if floor is not None and min_ratio:
            wanted = min_ratio * floor.rps
            top.hlines(wanted, i - 0.45, i + 0.45, colors="black", linestyles="dashed")
        if max_p99 is not None:
            bottom.hlines(max_p99, i - 0.45, i + 0.45, colors="black", linestyles="dashed")
    top.set_ylabel("requests/s (median)")
    bottom.set_ylabel("p99 latency, ms (median)")
    bottom.set_xticks(range(len(routes)), routes)
    top.legend()
    top.set_title(title + "\n(dashed: issue 12 targets, × the floor)", fontsize=10)
    for axis in (top, bottom):
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
