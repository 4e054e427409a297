"""The table `parley conversation search` prints: hits best first, matched words in bold."""

from __future__ import annotations

import datetime
import json
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from parley.search import MARK


def snippet_text(snippet: str) -> Text:
    """A snippet with the words between the search's marks in bold (markup never parsed)."""
    text = Text()
    for number, part in enumerate(snippet.split(MARK)):
        text.append(part, style="bold" if number % 2 else "")
    return text


def _hits(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for row in rows:
        page = row.get("json", row) if "pairedItem" in row else row
        data = page.get("data") if isinstance(page, dict) else None
        found.extend(hit for hit in data or [] if isinstance(hit, dict))
    return found


def search_table(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    """Print the hits of every search page in ``rows`` (failed runs are left out)."""
    console = console or Console()
    hits = _hits(rows)
    if not hits:
        console.print("No conversation matches.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("#", justify="right")
    # Ids keep their full width: a cut id cannot be pasted into the next command.
    width = max(len(str(hit["conversation"]["id"])) for hit in hits)
    table.add_column("id", no_wrap=True, min_width=width)
    table.add_column("score", justify="right")
    table.add_column("created (UTC)")
    table.add_column("metadata", overflow="fold")
    table.add_column("matching items", overflow="fold", ratio=1)
    for number, hit in enumerate(hits, 1):
        conversation = hit["conversation"]
        created = datetime.datetime.fromtimestamp(conversation["created_at"], datetime.UTC)
        matches = Text()
        for index, item in enumerate(hit.get("items") or []):
            if index:
                matches.append("\n")
            matches.append(f"{item['id']}: ", style="dim")
            matches.append_text(snippet_text(str(item["snippet"])))
        metadata = conversation.get("metadata") or {}
        table.add_row(
            str(number),
            Text(str(conversation["id"])),
            f"{hit['score']:.3g}",
            created.strftime("%Y-%m-%d %H:%M"),
            Text(json.dumps(metadata, ensure_ascii=False) if metadata else ""),
            matches,
        )
    console.print(table)
