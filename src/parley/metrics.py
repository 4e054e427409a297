"""Prometheus metrics (``--metrics``): requests, latency, the SQLite writer, the PG pool, and
the model upstreams behind /v1/responses.

Labels are route templates, methods, status codes and the operator's upstream names and APIs
only: never an id, a key, a query, a model name or a project name, so a scrape reveals nothing
of what is stored or asked. prometheus-client loads only when
metrics are on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from parley.routing import Route

# Request latency buckets (seconds): parley answers keyed reads in well under a millisecond.
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_COMMIT = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
# Model calls take from milliseconds (a cached local model) to minutes (a long answer).
_UPSTREAM = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)


class Metrics:
    """One registry per server process and the instruments parley records into it."""

    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Histogram
        except ModuleNotFoundError:
            raise RuntimeError(
                "--metrics needs prometheus-client: pip install 'parley[metrics]'"
            ) from None
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "parley_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "parley_http_request_duration_seconds",
            "Time from request to the end of the answer, by route template and method.",
            ["route", "method"],
            buckets=_LATENCY,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "parley_sqlite_writer_batch_size",
            "Writes committed together by the SQLite writer thread (group commit).",
            buckets=_BATCH,
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "parley_sqlite_writer_commit_seconds",
            "Time the SQLite writer spent on one batch, BEGIN to COMMIT.",
            buckets=_COMMIT,
            registry=self.registry,
        )
        self.upstream_seconds = Histogram(
            "parley_upstream_call_duration_seconds",
            "Model upstream calls, start to the end of the answer, by upstream, API and "
            "outcome (ok, error, cancelled: the client went away).",
            ["upstream", "api", "outcome"],
            buckets=_UPSTREAM,
            registry=self.registry,
        )
        self.upstream_first_chunk = Histogram(
            "parley_upstream_first_chunk_seconds",
            "Streamed model upstream calls: time from the call to its first chunk.",
            ["upstream", "api"],
            buckets=_UPSTREAM,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "parley_upstream_errors",
            "Failed model upstream calls by kind: unreachable, timeout, status_4xx, "
            "status_5xx, malformed (an answer parley cannot read).",
            ["upstream", "api", "kind"],
            registry=self.registry,
        )

    def observe(self, scope: MutableMapping[str, Any], status: int, started: float) -> None:
        """Count one finished request described by its ASGI ``scope``."""
        # The declared template the route table put in the scope; unknown URLs have none.
        template = getattr(scope.get("route"), "path", None)
        route = template if isinstance(template, str) else "(unmatched)"
        method = str(scope.get("method", ""))
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(time.perf_counter() - started)

    def observe_batch(self, size: int, seconds: float) -> None:
        """Record one commit of the SQLite writer (called on the writer thread)."""
        self.batch_size.observe(size)
        self.commit_seconds.observe(seconds)

    def observe_upstream_call(self, upstream: str, api: str, outcome: str, seconds: float) -> None:
        """Record one finished model upstream call."""
        self.upstream_seconds.labels(upstream, api, outcome).observe(seconds)

    def observe_first_chunk(self, upstream: str, api: str, seconds: float) -> None:
        """Record a streamed call's time to its first chunk."""
        self.upstream_first_chunk.labels(upstream, api).observe(seconds)

    def count_upstream_error(self, upstream: str, api: str, kind: str) -> None:
        """Count one failed model upstream call."""
        self.upstream_errors.labels(upstream, api, kind).inc()

    def watch_pool(self, stats: Any) -> None:
        """Report a PostgreSQL pool's use; ``stats()`` answers (open, idle, max)."""
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.registry import Collector

        class PoolCollector(Collector):
            def collect(self) -> Iterator[GaugeMetricFamily]:
                opened, idle, most = stats()
                for name, text, value in (
                    ("parley_postgres_pool_connections", "Connections open.", opened),
                    ("parley_postgres_pool_idle", "Open connections not in use.", idle),
                    ("parley_postgres_pool_in_use", "Connections running a query.", opened - idle),
                    ("parley_postgres_pool_max", "The pool's size limit.", most),
                ):
                    yield GaugeMetricFamily(name, text, value=value)

        self.registry.register(PoolCollector())

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def watch_store(metrics: Metrics, store: object) -> None:
    """Hook the store's own figures in: the SQLite writer's commits, or the PostgreSQL pool."""
    hook = getattr(store, "observe_commits", None)
    if callable(hook):
        hook(metrics.observe_batch)
    stats = getattr(store, "pool_stats", None)
    if callable(stats):
        metrics.watch_pool(stats)


async def metrics_endpoint(request: Request) -> Response:
    """GET /metrics: every metric in Prometheus' text format (routed only with --metrics)."""
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)


# Added to the route table by create_app(metrics=True) only; outside /openapi.json (text, not
# JSON, and no key needed).
METRICS_ROUTE = Route("GET", "/metrics", metrics_endpoint, "metrics")
