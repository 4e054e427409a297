"""GET /metrics (--metrics): Prometheus text parsed by prometheus-client's own parser."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from parley.testing import free_port
from tests.conftest import LiveServer, start_server, stop_server
from tests.upstream import FakeUpstream, Reply


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


@pytest.fixture
def metered_responses(
    backend: str, database_url: str, tmp_path: Path, upstream: FakeUpstream
) -> Iterator[LiveServer]:
    """A --metrics server with the fake model server behind it (chat and its Responses API),
    a dead upstream and one with a one-second timeout."""
    database = str(tmp_path / "metered.db") if backend == "sqlite" else database_url
    config = tmp_path / "parley.toml"
    config.write_text(
        f'[[upstreams]]\nname = "dead"\nurl = "http://127.0.0.1:{free_port()}/v1"\n'
        'models = ["dead-*"]\n\n'
        f'[[upstreams]]\nname = "slow"\nurl = "{upstream.url}"\nmodels = ["slow-*"]\n'
        "timeout = 1\n\n"
        f'[[upstreams]]\nname = "resp"\nurl = "{upstream.url}"\nmodels = ["resp-*"]\n'
        'api = "responses"\n\n'
        f'[[upstreams]]\nname = "local"\nurl = "{upstream.url}"\n'
        'api_key = "sk-upstream-secret"\n'
    )
    live = start_server(
        database, tmp_path / "metered.log", args=["--metrics", "--config", str(config)]
    )
    yield live
    stop_server(live)


def test_metrics_time_upstream_calls_and_count_their_errors_by_kind(
    metered_responses: LiveServer, upstream: FakeUpstream
) -> None:
    tag = uuid.uuid4().hex[:8]
    model, other = f"secret-model-{tag}", f"resp-secret-{tag}"
    upstream.script(
        model,
        Reply(text="one two three"),
        Reply(text="streamed words here", chunk_delay=0.05),
        Reply(status=500),
        Reply(status=400, error={"error": {"message": f"leaky-{tag}", "code": f"code-{tag}"}}),
        Reply(text="never finished at all", break_after=2),
    )
    upstream.script(f"slow-{tag}", Reply(text="late", delay=2.5))
    key = metered_responses.new_key(f"metrics-project-{tag}")
    with metered_responses.client(key) as sdk:
        conv = sdk.conversations.create(metadata={"who": tag}).id
        made = sdk.responses.create(model=model, input=f"say-{tag}", conversation=conv)
        assert made.output_text == "one two three"
        with sdk.responses.stream(model=model, input="stream please") as events:
            assert events.get_final_response().output_text == "streamed words here"
        for status, name in (
            (502, model),
            (400, model),
            (502, f"dead-{tag}"),
            (504, f"slow-{tag}"),
        ):
            with pytest.raises(openai.APIStatusError) as failed:
                sdk.responses.create(model=name, input="fail", conversation=conv)
            assert failed.value.status_code == status
        broken = sdk.responses.create(model=model, input="break", stream=True)
        kinds = [event.type for event in broken]
        assert kinds[-1] == "response.failed"
        assert sdk.responses.create(model=other, input="via responses").output_text
    text = httpx.get(f"{metered_responses.url}/metrics").text
    for secret in (tag, key, conv, made.id, "sk-upstream-secret", "metrics-project"):
        assert secret not in text
    samples = _samples(text)
    calls = {
        (labels["upstream"], labels["api"], labels["outcome"]): value
        for labels, value in samples["parley_upstream_call_duration_seconds_count"]
    }
    assert calls[("local", "chat", "ok")] == 2
    assert calls[("local", "chat", "error")] == 3  # the 500, the 400, the broken stream
    assert calls[("dead", "chat", "error")] == 1
    assert calls[("slow", "chat", "error")] == 1
    assert calls[("resp", "responses", "ok")] == 1
    durations = {
        (labels["upstream"], labels["outcome"]): value
        for labels, value in samples["parley_upstream_call_duration_seconds_sum"]
    }
    # The slow upstream's call lasted its one-second timeout; the streamed answer its chunks.
    assert 0.9 < durations[("slow", "error")] < 2.4
    assert durations[("local", "ok")] > 0.05
    errors = {
        (labels["upstream"], labels["kind"]): value
        for labels, value in samples["parley_upstream_errors_total"]
    }
    assert errors == {
        ("local", "status_5xx"): 1,
        ("local", "status_4xx"): 1,
        ("local", "malformed"): 1,
        ("dead", "unreachable"): 1,
        ("slow", "timeout"): 1,
    }
    first = {
        labels["upstream"]: value
        for labels, value in samples["parley_upstream_first_chunk_seconds_count"]
    }
    # Streamed calls only: the good stream and the broken one, which sent a chunk first.
    assert first == {"local": 2}
    [(_, first_sum)] = samples["parley_upstream_first_chunk_seconds_sum"]
    assert first_sum > 0
