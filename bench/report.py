"""Medians of repeated runs, the table, the targets of issue 5, the JSON and the PNG chart."""

from __future__ import annotations

import os
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Issue 5's targets for this machine kind (2 cores, load generator on the same machine),
# judged at 64 connections: (min requests/s, max p99 ms).
TARGETS: dict[str, tuple[float, float]] = {
    "retrieve": (25_000, 6.0),
    "list_items": (8_000, 15.0),
    "create": (6_000, 30.0),
    "add_items": (6_000, 30.0),
    "update": (6_000, 30.0),
}
RETRIEVE_VS_HEALTHZ = 0.7
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


def ceiling(sample: Sample) -> float:
    """Requests/s this machine's cores would carry if the server and the load generator had
    them to themselves: cores ÷ (server + load generator CPU per request). A projection that
    holds up on a shared machine, where req/s does not (it ignores latency-bound limits)."""
    cpu = sample.server_cpu_s + sample.db_cpu_s + sample.loadgen_cpu_s
    return (os.cpu_count() or 1) * sample.requests / cpu if cpu else 0.0


def summarise(samples: list[Sample]) -> list[Row]:
    """One row per (route, connections), medians of every figure, in the order first run."""
    groups: dict[tuple[str, int], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.route, sample.connections), []).append(sample)
    rows = []
    for (route, connections), runs in groups.items():

        def med(values: list[float]) -> float:
            return statistics.median(values)

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
            )
        )
    return rows


def check_targets(rows: list[Row]) -> list[dict[str, Any]]:
    """Each target of issue 5 with the measured value and whether it is met."""
    by_key = {(r.route, r.connections): r for r in rows}
    verdicts: list[dict[str, Any]] = []
    for route, (min_rps, max_p99) in TARGETS.items():
        row = by_key.get((route, JUDGED_AT))
        if row is None:
            continue
        verdicts.append(
            {
                "target": f"{route} req/s >= {min_rps:,.0f} @{JUDGED_AT}",
                "measured": round(row.rps),
                "met": row.rps >= min_rps,
            }
        )
        verdicts.append(
            {
                "target": f"{route} p99 <= {max_p99} ms @{JUDGED_AT}",
                "measured": round(row.p99_ms, 2),
                "met": row.p99_ms <= max_p99,
            }
        )
    retrieve, floor = by_key.get(("retrieve", JUDGED_AT)), by_key.get(("healthz", JUDGED_AT))
    if retrieve is not None and floor is not None and floor.rps:
        ratio = retrieve.rps / floor.rps
        verdicts.append(
            {
                "target": f"retrieve >= {RETRIEVE_VS_HEALTHZ} x healthz @{JUDGED_AT}",
                "measured": round(ratio, 3),
                "met": ratio >= RETRIEVE_VS_HEALTHZ,
            }
        )
    return verdicts


def table(rows: list[Row]) -> str:
    """The result table as fixed-width text."""
    head = (
        f"{'route':<12} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU µs/req':>10} {'srv cores':>9} {'ceiling/s':>9} {'pg cores':>8} {'other':>6} "
        f"{'errors':>6} "
        f"{'runs':>4}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.route:<12} {r.connections:>5} {r.rps:>9,.0f} {r.p50_ms:>8.2f} "
            f"{r.p99_ms:>8.2f} {r.cpu_us_per_request:>10.1f} {r.server_cores:>9.2f} "
            f"{r.ceiling_rps:>9,.0f} {r.db_cores:>8.2f} {r.other_cores:>6.2f} {r.errors:>6} "
            f"{r.runs:>4}"
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


def chart(rows: list[Row], path: Path, title: str) -> Path | None:
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
    for i, route in enumerate(routes):
        if route in TARGETS:
            min_rps, max_p99 = TARGETS[route]
            top.hlines(min_rps, i - 0.45, i + 0.45, colors="black", linestyles="dashed")
            bottom.hlines(max_p99, i - 0.45, i + 0.45, colors="black", linestyles="dashed")
    top.set_ylabel("requests/s (median)")
    bottom.set_ylabel("p99 latency, ms (median)")
    bottom.set_xticks(range(len(routes)), routes)
    top.legend()
    top.set_title(title + "\n(dashed: issue 5 targets)", fontsize=10)
    for axis in (top, bottom):
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
