"""Tables for people that never cut an id: ids keep their full width, other columns fold.

An id shown as ``key_01a2…`` cannot be pasted back into `parley keys revoke`. So id columns
never wrap or shrink; the other columns fold onto more lines; and where the terminal is too
narrow for even that, each row is printed as ``column: value`` lines instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Narrower than this, a folded column is harder to read than the record layout.
_MIN_OTHER = 8


def is_id_column(name: str) -> bool:
    """Columns that hold ids (never cut)."""
    return name == "id" or name.endswith("_id")


def show(
    columns: Sequence[str], rows: Sequence[Sequence[str]], console: Console | None = None
) -> None:
    """Print ``rows`` under ``columns``; ids are never shortened, whatever the width."""
    console = console or Console()
    widths = [
        max([len(column), *(len(row[i]) for row in rows)]) for i, column in enumerate(columns)
    ]
    needed = 1
    for column, width in zip(columns, widths, strict=True):
        needed += (width if is_id_column(column) else min(width, _MIN_OTHER)) + 3
    if rows and needed > console.width:
        for number, row in enumerate(rows):
            if number:
                console.print()
            for column, value in zip(columns, row, strict=True):
                console.print(Text(f"{column}: {value}"), soft_wrap=True)
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column, width in zip(columns, widths, strict=True):
        if is_id_column(column):
            table.add_column(column, no_wrap=True, min_width=width)
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        # Text, not markup: a name such as "[prod]" is shown as typed.
        table.add_row(*(Text(value) for value in row))
    console.print(table)
