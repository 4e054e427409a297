"""`parley export` and `parley import`: a project's conversations as JSON Lines."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import BinaryIO, TextIO

import click
import msgspec
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from parley import auth, credentials, transfer
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
@click.option(
    "--from",
    "source_url",
    default=None,
    help="Copy from this Conversations API instead of a FILE: OpenAI's "
    "https://api.openai.com/v1, or another parley's http://host:port/v1.",
)
@click.option(
    "--credential",
    "-c",
    default=None,
    help="With --from: the stored credential whose key reads the source.",
)
@click.option(
    "--ids",
    "ids_file",
    type=click.File("r"),
    default=None,
    help="With --from: the conversation ids to copy, one per line or n8n's JSON Lines "
    "(needed for OpenAI, which cannot list them; a parley source lists its own).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="With --from: conversations fetched at once.",
)
@click.argument("file", type=click.File("rb"), required=False)
def import_(
    database: str,
    project: str,
    id_map_path: Path | None,
    source_url: str | None,
    credential: str | None,
    ids_file: TextIO | None,
    concurrency: int,
    file: BinaryIO | None,
) -> None:
    """Import an export FILE (or - for stdin), or copy from another API with --from, into
    PROJECT; conversations already there are skipped, so running it again resumes.

    Conversation ids are unique across a database: to import a project's export into a second
    project of the same database, pass --new-ids MAP.jsonl.

    \b
    Example:
      parley import acme.jsonl --project acme --database postgresql://db/parley
      parley import acme.jsonl --project acme-copy --new-ids acme-copy.ids.jsonl
      parley import --from https://api.openai.com/v1 --credential openai --ids ids.txt
      parley import --from http://old-host:8080/v1 --credential old --project acme
    """
    if source_url is not None:
        if file is not None or id_map_path is not None:
            raise click.UsageError("--from copies from an API: give no FILE and no --new-ids")
        announce(database, created=not exists(database))
        summary = _import_remote(database, project, source_url, credential, ids_file, concurrency)
    else:
        if file is None:
            raise click.UsageError("give an export FILE (or - for stdin), or --from URL")
        announce(database, created=not exists(database))
        summary = _import_file(database, project, file, id_map_path)
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


def _import_file(
    database: str, project: str, file: BinaryIO, id_map_path: Path | None
) -> transfer.ImportSummary:
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

    return asyncio.run(run())


def _import_remote(
    database: str,
    project: str,
    source_url: str,
    credential_name: str | None,
    ids_file: TextIO | None,
    concurrency: int,
) -> transfer.ImportSummary:
    # Loaded here: the SDK takes a quarter of a second to import, which export never needs.
    from parley import remote_import

    try:
        stored = credentials.resolve(credential_name)
        source = dataclasses.replace(stored, base_url=credentials.normalise_base_url(source_url))
    except credentials.CredentialError as exc:
        raise click.UsageError(str(exc)) from None
    wanted: list[str] | None = None
    if ids_file is not None:
        try:
            wanted = remote_import.read_ids(ids_file)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--ids") from None

    async def run() -> transfer.ImportSummary:
        client = remote_import.async_client(source)
        store = open_store(database)
        await store.open()
        try:
            ids = wanted
            if ids is None:
                ids = await remote_import.list_ids(client, source)
            project_id = await store.ensure_project(project)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
                disable=not sys.stderr.isatty(),
            ) as progress:
                task = progress.add_task(f"copying into '{project}'", total=len(ids))
                return await remote_import.import_conversations(
                    store,
                    project_id,
                    client,
                    source,
                    ids,
                    concurrency=concurrency,
                    on_done=lambda: progress.advance(task),
                )
        finally:
            await store.close()
            await client.close()

    try:
        return asyncio.run(run())
    except remote_import.SourceError as exc:
        raise click.ClickException(str(exc)) from None


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
