"""Per-item runs, as n8n runs a node once per input item: concurrent, output in input order."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from parley.sdk import NodeError

DEFAULT_CONCURRENCY = 8
FORMATS = ("jsonl", "json", "csv")


class InputError(Exception):
    """The input items cannot be read; the message names the line or element."""


def _objects(values: Sequence[Any], where: str) -> list[dict[str, Any]]:
    for n, value in enumerate(values):
        if not isinstance(value, dict):
            raise InputError(f"{where} {n + 1} is not a JSON object: {json.dumps(value)[:60]}")
    return list(values)


def parse_rows(text: str, fmt: str | None = None) -> list[dict[str, Any]]:
    """Items from JSON Lines, a JSON array or CSV (with a header row); ``fmt`` or guessed."""
    stripped = text.lstrip()
    if fmt is None:
        fmt = "json" if stripped.startswith("[") else "jsonl" if stripped.startswith("{") else "csv"
    if fmt == "json":
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise InputError(f"not a JSON array: {exc}") from None
        if not isinstance(values, list):
            raise InputError("a JSON input must be an array of objects")
        return _objects(values, "element")
    if fmt == "jsonl":
        rows: list[Any] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise InputError(f"line {number}: not JSON: {exc}") from None
            if not isinstance(rows[-1], dict):
                raise InputError(f"line {number} is not a JSON object")
        return rows
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise InputError("the CSV input has no header row")
        return [dict(row) for row in reader]
    raise InputError(f"unknown input format {fmt!r}; use one of {', '.join(FORMATS)}")


def read_items(source: str | Path | TextIO, fmt: str | None = None) -> list[dict[str, Any]]:
    """Items from a file (format from its extension, else guessed) or an open text stream."""
    if isinstance(source, str | Path):
        path = Path(source)
        if fmt is None:
            fmt = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}.get(
                path.suffix.lower()
            )
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from None
    else:
        text = source.read()
    return parse_rows(text, fmt)


@dataclass
class Outcome:
    """What one input item gave: its index, the API's JSON, or the error."""

    index: int
    output: dict[str, Any] | None = None
    error: NodeError | None = None

    def item(self) -> dict[str, Any]:
        """The output item: the API's JSON, or the continue-on-fail error item."""
        if self.error is not None:
            return self.error.to_item()
        return self.output or {}


class RunStopped(Exception):
    """Stop mode: item ``index`` failed, so the run ended there."""

    def __init__(self, index: int, error: NodeError, total: int, sent_after: int) -> None:
        self.index, self.error, self.total, self.sent_after = index, error, total, sent_after
        super().__init__(self.explain())

    def explain(self) -> str:
        """Which item, the HTTP status and the server's message (what to fix)."""
        text = f"item {self.index} failed: {self.error.explain()}"
        if self.sent_after:
            # Concurrency means later items may have been sent before this failure was seen.
            text += f" ({self.sent_after} later item(s) had already been sent)"
        return text


def _attempt(
    work: Callable[[int, dict[str, Any]], dict[str, Any]], index: int, item: dict[str, Any]
) -> Outcome:
    try:
        return Outcome(index, output=work(index, item))
    except NodeError as exc:
        return Outcome(index, error=exc)
    except Exception as exc:  # noqa: BLE001 - one item's fault must not end a continue-on-fail run
        return Outcome(index, error=NodeError(f"{type(exc).__name__}: {exc}"))


def run_items(
    items: Sequence[Mapping[str, Any]],
    work: Callable[[int, dict[str, Any]], dict[str, Any]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    continue_on_fail: bool = False,
    on_done: Callable[[], None] | None = None,
) -> Generator[Outcome, None, None]:
    """Run ``work(index, item)`` for every item, at most ``concurrency`` at once.

    Outcomes come in input order. With ``continue_on_fail`` a failed item is an outcome with
    an error; without it, :class:`RunStopped` is raised at the first failing item. Closing
    the iterator (or Ctrl-C) cancels what has not started and waits for what has.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    total = len(items)
    # Results wait for their turn in this window, which bounds memory. In stop mode it is
    # kept to `concurrency`, so few items past a failure are ever sent (n8n sends none).
    window = concurrency * 4 if continue_on_fail else concurrency
    pending: dict[int, Future[Outcome]] = {}
    submitted = 0
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="parley-run")
    try:
        for index in range(total):
            while submitted < total and submitted < index + window:
                future = pool.submit(_attempt, work, submitted, dict(items[submitted]))
                if on_done is not None:
                    future.add_done_callback(lambda _f: on_done())
                pending[submitted] = future
                submitted += 1
            outcome = pending.pop(index).result()
            if outcome.error is not None and not continue_on_fail:
                for future in pending.values():
                    future.cancel()
                sent_after = sum(1 for f in pending.values() if not f.cancelled())
                raise RunStopped(index, outcome.error, total, sent_after)
            yield outcome
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
