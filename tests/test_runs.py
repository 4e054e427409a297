"""Per-item runs: input formats, input order under concurrency, continue-on-fail, stop mode."""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parley.credentials import Credential
from parley.expressions import resolve
from parley.node import Node
from parley.runs import InputError, RunStopped, read_items, run_items
from parley.runs import parse_rows as parse_items
from parley.sdk import NodeError
from tests.conftest import LiveServer


def test_input_formats(tmp_path: Path) -> None:
    expected = [{"id": "a", "n": "1"}, {"id": "b", "n": "2"}]
    (tmp_path / "in.jsonl").write_text('{"id": "a", "n": "1"}\n\n{"id": "b", "n": "2"}\n')
    (tmp_path / "in.json").write_text('[{"id": "a", "n": "1"}, {"id": "b", "n": "2"}]')
    (tmp_path / "in.csv").write_text("id,n\na,1\nb,2\n")
    for name in ("in.jsonl", "in.json", "in.csv"):
        assert read_items(tmp_path / name) == expected
    assert read_items(io.StringIO("id,n\na,1\nb,2\n")) == expected
    assert parse_items('  [{"x": [1]}]') == [{"x": [1]}]


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ('{"a": 1}\n{"a": \n', None, "line 2: not JSON"),
        ('{"a": 1}\n[1]\n', "jsonl", "line 2 is not a JSON object"),
        ('[{"a": 1}, 7]', None, "element 2 is not a JSON object: 7"),
        ('{"a": 1}', "json", "a JSON input must be an array of objects"),
        ("", "csv", "the CSV input has no header row"),
    ],
)
def test_bad_input_names_the_place(text: str, fmt: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_items(text, fmt)


def test_missing_file() -> None:
    with pytest.raises(InputError, match="cannot read /nonexistent/x.jsonl"):
        read_items("/nonexistent/x.jsonl")


def test_output_keeps_input_order_while_running_concurrently() -> None:
    lock = threading.Lock()
    running = peak = 0
    delays = [random.Random(7).uniform(0, 0.02) for _ in range(60)]
    finished: list[int] = []

    def work(index: int, item: dict[str, Any]) -> dict[str, Any]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(delays[index] if index % 3 else 0.03)  # early items finish late
        with lock:
            running -= 1
            finished.append(index)
        return {"seen": item["k"]}

    items = [{"k": n} for n in range(60)]
    outcomes = list(run_items(items, work, concurrency=6))
    assert [o.index for o in outcomes] == list(range(60))
    assert [o.item() for o in outcomes] == [{"seen": n} for n in range(60)]
    assert 1 < peak <= 6
    assert finished != sorted(finished)  # they really finished out of order


def test_stop_mode_cancels_what_has_not_started() -> None:
    started: list[int] = []

    def work(index: int, item: dict[str, Any]) -> dict[str, Any]:
        started.append(index)
        if index == 3:
            raise NodeError("bad", description="item three is bad", http_code=400)
        time.sleep(0.01)
        return {}

    outputs = run_items([{}] * 200, work, concurrency=2)
    seen = []
    with pytest.raises(RunStopped) as info:
        for outcome in outputs:
            seen.append(outcome.index)
    assert seen == [0, 1, 2]
    assert info.value.index == 3 and info.value.total == 200
    assert info.value.explain().startswith("item 3 failed: HTTP 400: item three is bad")
    assert max(started) < 3 + 2  # stop mode runs at most `concurrency` items ahead


@pytest.fixture
def node(server: LiveServer, api_key: str) -> Iterator[Node]:
    with Node(Credential("test", api_key, server.base_url), max_retries=0) as live:
        yield live


def fifty_items(node: Node) -> list[dict[str, Any]]:
    """50 input items: 49 name a real conversation, item 17 an unknown one."""
    items = []
    for n in range(50):
        conv = node.create([("user", f"n={n}")])["id"] if n != 17 else "conv_missing17"
        items.append({"conv": {"id": conv}, "topic": f"t{n}", "n": n})
    return items


def update_work(node: Node) -> Any:
    def work(index: int, item: dict[str, Any]) -> dict[str, Any]:
        return node.update(
            resolve('{{ $json["conv"]["id"] }}', item),
            resolve({"topic": "{{ $json.topic }}", "n": "#{{ $json.n }}"}, item),
        )

    return work


def test_fifty_items_continue_on_fail(node: Node) -> None:
    items = fifty_items(node)
    outcomes = list(run_items(items, update_work(node), concurrency=8, continue_on_fail=True))
    assert [o.index for o in outcomes] == list(range(50))
    for n, outcome in enumerate(outcomes):
        if n == 17:
            assert outcome.item() == {
                "error": "The resource you are requesting could not be found",
                "description": "Conversation with id 'conv_missing17' not found.",
                "httpCode": 404,
            }
        else:
            assert outcome.item()["id"] == items[n]["conv"]["id"]
            assert outcome.item()["metadata"] == {"topic": f"t{n}", "n": f"#{n}"}


def test_fifty_items_stop_mode(node: Node) -> None:
    items = fifty_items(node)
    done = []
    with pytest.raises(RunStopped) as info:
        for outcome in run_items(items, update_work(node), concurrency=8):
            done.append(outcome.index)
    assert done == list(range(17))
    assert info.value.index == 17
    message = info.value.explain()
    assert message.startswith(
        "item 17 failed: HTTP 404: Conversation with id 'conv_missing17' not found."
    )
    # Stop mode sends at most `concurrency` items ahead: items from 17 + 8 on were never sent.
    for n in range(25, 50):
        assert node.get(items[n]["conv"]["id"])["metadata"] == {}
    assert info.value.sent_after <= 7
