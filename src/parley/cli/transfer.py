"""`parley export` and `parley import`: a project's conversations as JSON Lines."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import BinaryIO

import click
import msgspec
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from parley import auth, transfer
from parley.cli.options import announce, database_option, exists, plural, require_existing
from parley.store import open_store


def _pairs(values: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint="--metadata")
        pairs.append((key, text))
    return pairs


@click.command("export")
@database_option
@click.option("--project", "-p", default=auth.DEFAULT_PROJECT, show_default=True)
@click.option("--metadata", "-m", multiple=True, help="Only conversations with KEY=VALUE.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here instead of standard output.",
)
def export(database: str, project: str, metadata: tuple[str, ...], output: Path | None) -> None:
    """Write PROJECT's conversations, with all their items, as JSON Lines.

    \b
    Example:
      parley export --project acme --metadata customer=c-42 -o acme.jsonl
    """
    filters = _pairs(metadata)
    require_existing(database)
    announce(database)

    async def run() -> int:
        store = open_store(database)
        await store.open()
        count = 0
        sink = output.open("wb") if output else sys.stdout.buffer
        try:
            project_id = await store.ensure_project(project)
            sink.write(transfer.header(project) + b"\n")
            async for conversation in transfer.conversations(store, project_id, filters):
                sink.write(msgspec.json.encode(conversation) + b"\n")
                count += 1
        finally:
            if output:
                sink.close()
            else:
                sink.flush()
            await store.close()
        return count

    count = asyncio.run(run())
    click.echo(f"exported {plural(count, 'conversation')} of project '{project}'", err=True)


@click.command("import")
@database_option
@click.option("--project", "-p", default=auth.DEFAULT_PROJECT, show_default=True)
@click.option(
    "--new-ids",
    "id_map_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Give conversations whose id another project of this database holds a new id, "
    "writing old -> new pairs to this JSON Lines file (read back when run again).",
)
@click.argument("file", type=click.File("rb"))
def import_(database: str, project: str, id_map_path: Path | None, file: BinaryIO) -> None:
    """Import an export FILE (or - for stdin) into PROJECT; ids already there are skipped.

    Conversation ids are unique across a database: to import a project's export into a second
    project of the same database, pass --new-ids MAP.jsonl.

    \b
    Example:
      parley import acme.jsonl --project acme --database postgresql://db/parley
      parley import acme.jsonl --project acme-copy --new-ids acme-copy.ids.jsonl
    """
    announce(database, created=not exists(database))
    id_map = transfer.IdMap(id_map_path) if id_map_path is not None else None

    async def run() -> transfer.ImportSummary:
        store = open_store(database)
        await store.open()
        try:
            project_id = await store.ensure_project(project)
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                transient=True,
                disable=not sys.stderr.isatty(),
            ) as progress:
                progress.add_task(f"importing into '{project}'")
                return await transfer.import_lines(store, project_id, iter(file), id_map)
        finally:
            await store.close()

    summary = asyncio.run(run())
    click.echo(
        f"imported {plural(summary.imported, 'conversation')} ({plural(summary.items, 'item')}), "
        f"skipped {summary.skipped} already present, {len(summary.failed)} failed",
        err=True,
    )
    for line in summary.failed:
        click.echo(f"  {line}", err=True)
    if summary.renamed and id_map_path is not None:
        click.echo(
            f"{summary.renamed} of them under new ids (old -> new in {id_map_path})", err=True
        )
    if summary.elsewhere:
        _explain_elsewhere(summary.elsewhere, project)
    if summary.failed or summary.elsewhere:
        sys.exit(1)


def _explain_elsewhere(elsewhere: list[tuple[str, str]], project: str) -> None:
    click.echo(
        f"{len(elsewhere)} not imported: their ids already belong to another project of this "
        "database (conversation ids are unique across a database):",
        err=True,
    )
    for conversation_id, owner in elsewhere[:10]:
        click.echo(f"  {conversation_id} is in project '{owner}'", err=True)
    if len(elsewhere) > 10:
        click.echo(f"  … and {len(elsewhere) - 10} more", err=True)
    click.echo(
        "To import them as copies under new ids, run the same command with "
        f"--new-ids {project}.ids.jsonl (each old -> new id pair is written there).",
        err=True,
    )
