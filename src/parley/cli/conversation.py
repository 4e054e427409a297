"""`parley conversation`: n8n's Create, Get, Update and Remove, once or once per input item."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

import click
from rich.console import Console

from parley import credentials
from parley.cli import tables
from parley.cli.search_table import search_table
from parley.expressions import resolve
from parley.node import Node
from parley.runs import DEFAULT_CONCURRENCY, InputError, RunStopped, read_items, run_items
from parley.sdk import NodeError, ValidationError

F = TypeVar("F", bound=Callable[..., Any])
Work = Callable[[Node, dict[str, Any]], dict[str, Any]]
# Past this many items a progress bar is worth its line on stderr.
PROGRESS_FROM = 5


def run_options(func: F) -> F:
    """The options every node command shares: credential, per-item input, output form."""
    table = click.option("--table", is_flag=True, help="A table for people instead of JSON Lines.")
    return _run_options(func, table)


def json_run_options(func: F) -> F:
    """The shared options for a command whose output is a table unless ``--json``."""
    as_json = click.option("--json", "as_json", is_flag=True, help="JSON Lines, not a table.")
    return _run_options(func, as_json)


def _run_options(func: F, output: Callable[[Any], Any]) -> F:
    options: list[Callable[[Any], Any]] = [
        click.option(
            "--credential",
            "-c",
            "credential",
            default=None,
            help="A stored credential (see `parley credentials`). Else $PARLEY_CREDENTIAL, "
            "else $OPENAI_API_KEY and $OPENAI_BASE_URL.",
        ),
        click.option(
            "--input",
            "-i",
            "input_file",
            default=None,
            help="Run once per item of this file (JSON Lines, JSON array or CSV; - for stdin). "
            "Parameters may use {{ $json.field }}.",
        ),
        click.option(
            "--input-format",
            type=click.Choice(["jsonl", "json", "csv"]),
            default=None,
            help="Format of --input (default: from the extension, else guessed).",
        ),
        click.option(
            "--continue-on-fail",
            is_flag=True,
            help='A failed item gives {"error": …} and the run goes on.',
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(1, 64),
            default=DEFAULT_CONCURRENCY,
            show_default=True,
            help="Items run at once (output stays in input order).",
        ),
        output,
        click.option(
            "--paired",
            is_flag=True,
            help='Wrap each output as n8n does: {"json": …, "pairedItem": {"item": i}}.',
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _emit_table(rows: list[dict[str, Any]]) -> None:
    if len(rows) == 1 and rows[0].get("object") == "list":
        rows = list(rows[0].get("data") or [])
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    cells = [
        [
            "" if v is None else v if isinstance(v, str) else json.dumps(v)
            for v in map(row.get, columns)
        ]
        for row in rows
    ]
    tables.show(columns, cells)


def execute(
    *,
    credential: str | None,
    input_file: str | None,
    input_format: str | None,
    continue_on_fail: bool,
    concurrency: int,
    table: bool,
    paired: bool,
    work: Work,
    render: Callable[[list[dict[str, Any]]], None] | None = None,
) -> None:
    """Resolve the credential, run ``work`` once (or per input item), print, set the exit code.

    With ``table``, the outputs are shown at the end by ``render`` (a generic table if none).
    """
    show = render or _emit_table
    try:
        cred = credentials.resolve(credential)
    except credentials.CredentialError as exc:
        raise click.UsageError(str(exc)) from None
    per_item = input_file is not None
    if input_file is not None:
        try:
            source = sys.stdin if input_file == "-" else input_file
            items = read_items(source, input_format)
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="--input") from None
    else:
        items = [{}]
    err = Console(stderr=True)
    show_progress = per_item and len(items) >= PROGRESS_FROM and err.is_terminal
    rows: list[dict[str, Any]] = []
    failed = done = 0
    interrupts = DeferredInterrupts()
    with Node(cred) as node, interrupts.installed():
        from rich.progress import Progress

        progress = Progress(console=err, transient=True, disable=not show_progress)
        task = progress.add_task("items", total=len(items))
        outcomes = run_items(
            items,
            lambda _i, item: work(node, item),
            concurrency=concurrency,
            continue_on_fail=continue_on_fail,
            on_done=lambda: progress.advance(task),
        )
        try:
            with progress:
                for outcome in outcomes:
                    row = outcome.item()
                    if outcome.error is not None:
                        failed += 1
                        click.echo(
                            f"parley: item {outcome.index}: {outcome.error.explain()}", err=True
                        )
                    out = {"json": row, "pairedItem": {"item": outcome.index}} if paired else row
                    # Printing a line and counting it is one step for Ctrl-C: the count it
                    # reports is exactly the lines output.
                    with interrupts.deferred():
                        if table:
                            rows.append(out)
                        else:
                            click.echo(json.dumps(out, ensure_ascii=False))
                        done += 1
        except RunStopped as stop:
            if table:
                show(rows)
            if not per_item and isinstance(stop.error, ValidationError):
                raise click.UsageError(stop.error.explain()) from None
            where = stop.explain() if per_item else stop.error.explain()
            click.echo(f"parley: {where}", err=True)
            if per_item:
                click.echo(f"parley: stopped; {done} of {stop.total} items done", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            outcomes.close()
            click.echo(f"\nparley: interrupted; {done} of {len(items)} items done", err=True)
            sys.exit(130)
    if table:
        show(rows)
    if failed:
        if per_item:
            click.echo(f"parley: {failed} of {len(items)} items failed", err=True)
        sys.exit(1)


class DeferredInterrupts:
    """SIGINT as KeyboardInterrupt, except inside ``deferred()``, where it waits for the end."""

    def __init__(self) -> None:
        self._critical = False
        self._pending = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self._critical:
            self._pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Route SIGINT through this object (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self._handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block that Ctrl-C does not split; a Ctrl-C during it is raised right after."""
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self._pending:
            self._pending = False
            raise KeyboardInterrupt


def metadata_template(values: tuple[str, ...]) -> str | dict[str, str] | None:
    """``--metadata`` as given: one JSON object (or expression), or repeated key=value pairs."""
    if not values:
        return None
    if len(values) == 1 and values[0].lstrip().startswith(("{", "=", "[")):
        return values[0]
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key or key.lstrip().startswith("{"):
            raise click.BadParameter(
                f"{value!r}: give one JSON object, or key=value pairs", param_hint="--metadata"
            )
        pairs[key] = text
    return pairs


def message_templates(values: tuple[str, ...]) -> list[tuple[str, str]]:
    """``--message role:text`` options as (role, text) templates."""
    found = []
    for value in values:
        role, sep, text = value.partition(":")
        if not sep:
            raise click.BadParameter(
                f'{value!r}: write ROLE:TEXT, e.g. user:"Hello"', param_hint="--message"
            )
        found.append((role.strip(), text))
    return found


metadata_option = click.option(
    "--metadata",
    "-m",
    multiple=True,
    help='JSON object (\'{"topic":"demo"}\') or key=value, repeated.',
)


@click.group()
def conversation() -> None:
    """n8n's Conversation operations: create, get, update, remove (and parley's list, fork, search).

    \b
    Example:
      parley conversation create --message user:"Hello" --metadata topic=demo
      parley conversation get '{{ $json.id }}' --input conversations.jsonl
    """


@conversation.command("create")
@click.option("--message", "messages", multiple=True, help="ROLE:TEXT, role user|system|assistant.")
@metadata_option
@run_options
def create(messages: tuple[str, ...], metadata: tuple[str, ...], **run: Any) -> None:
    """Create a conversation from messages (n8n: Create a Conversation).

    \b
    Example:
      parley conversation create --message system:"You are terse." \\
        --message user:"Hello" --metadata '{"topic":"demo"}'
    """
    pairs, meta = message_templates(messages), metadata_template(metadata)

    def work(node: Node, item: dict[str, Any]) -> dict[str, Any]:
        options = {"metadata": resolve(meta, item)} if meta is not None else {}
        return node.create(resolve(pairs, item), options)

    execute(work=work, **run)


@conversation.command("get")
@click.argument("conversation_id")
@run_options
def get(conversation_id: str, **run: Any) -> None:
    """Get a conversation (n8n: Get Conversation).

    \b
    Example:
      parley conversation get conv_123
      parley conversation get '{{ $json.id }}' --input ids.jsonl --continue-on-fail
    """
    execute(work=lambda node, item: node.get(resolve(conversation_id, item)), **run)


@conversation.command("update")
@click.argument("conversation_id")
@metadata_option
@run_options
def update(conversation_id: str, metadata: tuple[str, ...], **run: Any) -> None:
    """Replace a conversation's metadata (n8n: Update a Conversation); '{}' clears it.

    \b
    Example:
      parley conversation update conv_123 --metadata topic=billing --metadata stage=2
    """
    meta = metadata_template(metadata)
    if meta is None:
        raise click.UsageError("Metadata is required (give --metadata '{}' to clear it)")
    execute(
        work=lambda node, item: node.update(resolve(conversation_id, item), resolve(meta, item)),
        **run,
    )


@conversation.command("remove")
@click.argument("conversation_id")
@run_options
def remove(conversation_id: str, **run: Any) -> None:
    """Delete a conversation (n8n: Remove Conversation).

    \b
    Example:
      parley conversation remove conv_123
    """
    execute(work=lambda node, item: node.remove(resolve(conversation_id, item)), **run)


@conversation.command("list")
@metadata_option
@click.option("--limit", type=click.IntRange(1, 100), default=None, help="Page size.")
@click.option("--order", type=click.Choice(["asc", "desc"]), default=None)
@click.option("--after", default=None, help="A conversation id: the page after it.")
@click.option("--all", "all_pages", is_flag=True, help="Follow every page; one list object.")
@click.option("--created-after", type=int, default=None, help="Unix seconds (exclusive).")
@click.option("--created-before", type=int, default=None, help="Unix seconds (exclusive).")
@click.option("--updated-after", type=int, default=None, help="Unix seconds (exclusive).")
@run_options
def list_conversations(
    metadata: tuple[str, ...],
    limit: int | None,
    order: str | None,
    after: str | None,
    all_pages: bool,
    created_after: int | None,
    created_before: int | None,
    updated_after: int | None,
    **run: Any,
) -> None:
    """Conversations filtered by exact metadata values (parley's server only; OpenAI has none).

    \b
    Example:
      parley conversation list --metadata customer=c-42 --limit 50
      parley conversation list --metadata topic=demo --all --table
    """
    meta = metadata_template(metadata)
    if isinstance(meta, str):
        raise click.BadParameter("give key=value pairs to filter by", param_hint="--metadata")

    def work(node: Node, item: dict[str, Any]) -> dict[str, Any]:
        return node.list_conversations(
            metadata=resolve(meta, item),
            limit=limit,
            order=order,
            after=after,
            all_pages=all_pages,
            created_after=created_after,
            created_before=created_before,
            updated_after=updated_after,
        )

    execute(work=work, **run)


@conversation.command("fork")
@click.argument("conversation_id")
@click.option("--after-item", default=None, help="Copy the items up to and including this one.")
@metadata_option
@run_options
def fork(
    conversation_id: str, after_item: str | None, metadata: tuple[str, ...], **run: Any
) -> None:
    """Fork a conversation: a new one with copies of its items (parley's server only).

    \b
    Example:
      parley conversation fork conv_123 --after-item msg_456 --metadata branch=retry
    """
    meta = metadata_template(metadata)

    def work(node: Node, item: dict[str, Any]) -> dict[str, Any]:
        return node.fork(
            resolve(conversation_id, item),
            after_item=resolve(after_item, item) if after_item else None,
            metadata=resolve(meta, item) if meta is not None else None,
        )

    execute(work=work, **run)


@conversation.command("search")
@click.argument("query")
@metadata_option
@click.option("--created-after", type=int, default=None, help="Unix seconds (exclusive).")
@click.option("--created-before", type=int, default=None, help="Unix seconds (exclusive).")
@click.option("--updated-after", type=int, default=None, help="Unix seconds (exclusive).")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Hits shown."
)
@click.option("--page", default=None, help="The next_page of an earlier search: go on from there.")
@json_run_options
def search(
    query: str,
    metadata: tuple[str, ...],
    created_after: int | None,
    created_before: int | None,
    updated_after: int | None,
    limit: int,
    page: str | None,
    as_json: bool,
    **run: Any,
) -> None:
    """Find conversations by what was said in them, best first (parley's server only).

    Prints a table of hits with the matching items' snippets; --json prints the list object.

    \b
    Example:
      parley conversation search "refund policy" --metadata customer=c-42 --limit 5
      parley conversation search '{{ $json.question }}' --input questions.jsonl --json
    """
    meta = metadata_template(metadata)
    if isinstance(meta, str):
        raise click.BadParameter("give key=value pairs to filter by", param_hint="--metadata")

    def work(node: Node, item: dict[str, Any]) -> dict[str, Any]:
        return node.search(
            resolve(query, item),
            metadata=resolve(meta, item),
            created_after=created_after,
            created_before=created_before,
            updated_after=updated_after,
            limit=limit,
            page=page,
        )

    execute(work=work, table=not as_json, render=search_table, **run)


__all__ = ["NodeError", "conversation", "execute", "run_options"]
