"""GET /metrics (--metrics): Prometheus text parsed by prometheus-client's own parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import LiveServer, start_server, stop_server


@pytest.fixture
def metered(backend: str, database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    # One SQLite file serves one server: a second one gets a file of its own.
    database = str(tmp_path / "metered.db") if backend == "sqlite" else database_url
    live = start_server(database, tmp_path / "metered.log", args=["--metrics"])
    yield live
    stop_server(live)


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def test_metrics_count_requests_by_template_and_carry_no_ids(
    metered: LiveServer, backend: str
) -> None:
    project = "metrics-secret-project"
    key = metered.new_key(project)
    with httpx.Client(base_url=metered.url, headers={"Authorization": f"Bearer {key}"}) as http:
        conv = http.post("/v1/conversations", json={"metadata": {"who": "m"}}).json()["id"]
        for _ in range(3):
            assert http.get(f"/v1/conversations/{conv}").status_code == 200
        item = http.post(
            f"/v1/conversations/{conv}/items",
            json={"items": [{"role": "user", "content": "hi"}]},
        ).json()["data"][0]["id"]
        assert http.get(f"/v1/conversations/{conv}/items/{item}").status_code == 200
        assert http.get("/v1/conversations/conv_missing").status_code == 404
        assert http.get("/v1/nowhere/at-all").status_code == 404
        scraped = http.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    for secret in (conv, item, key, project, "conv_missing", "nowhere", "metrics-secret"):
        assert secret not in text
    samples = _samples(text)
    counts = {
        (labels["route"], labels["method"], labels["status"]): value
        for labels, value in samples["parley_http_requests_total"]
    }
    assert counts[("/v1/conversations/{conversation_id}", "GET", "200")] == 3
    assert counts[("/v1/conversations/{conversation_id}", "GET", "404")] == 1
    assert counts[("/v1/conversations", "POST", "200")] == 1
    assert counts[("/v1/conversations/{conversation_id}/items/{item_id}", "GET", "200")] == 1
    assert counts[("(unmatched)", "GET", "404")] == 1
    latency = {
        labels["route"]: value
        for labels, value in samples["parley_http_request_duration_seconds_count"]
        if labels["method"] == "GET"
    }
    assert latency["/v1/conversations/{conversation_id}"] == 4
    if backend == "sqlite":
        [(_, batches)] = samples["parley_sqlite_writer_batch_size_count"]
        assert batches >= 2  # the create and the append, at least
        assert samples["parley_sqlite_writer_commit_seconds_sum"][0][1] > 0
    else:
        [(_, most)] = samples["parley_postgres_pool_max"]
        assert most == 10
        assert samples["parley_postgres_pool_connections"][0][1] >= 1


def test_metrics_are_off_by_default(server: LiveServer) -> None:
    answer = httpx.get(f"{server.url}/metrics")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "unknown_url"
