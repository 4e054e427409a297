"""Rules both store backends apply the same way, so they are written once."""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from parley.errors import InvalidRequest, duplicate_item
from parley.models import NewItem, TimeFilter
from parley.store.base import Order


def repeated_item(
    items: list[NewItem], taken: Collection[str] = (), field: str = "items"
) -> InvalidRequest | None:
    """The ``duplicate_item`` error for the first id repeated in ``items`` or in ``taken``."""
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.id in seen or item.id in taken:
            return duplicate_item(item.id, index, field)
        seen.add(item.id)
    return None


def renewed(data: list[bytes]) -> list[NewItem]:
    """Copies of stored items under fresh ids, in the same order (what a fork stores)."""
    # Imported here: parley.items loads OpenAI's schema, which store-only tools never need.
    from parley.items import copy_item

    return [copy_item(item) for item in data]


# Below every row key (seq >= 1): (t, _FLOOR) stands for "the first row of time t".
_FLOOR = -(1 << 62)


class PageBounds(NamedTuple):
    """Where a keyset page of (created_at, seq) starts and stops.

    ``start``: a row bound on the side the page walks from, ``(t, k) > start`` ascending or
    ``(t, k) < start`` descending, the tightest of the cursor and the filter on that side, or
    None. ``stop``: an inclusive created_at bound on the far side, or None.
    """

    start: tuple[int, int] | None
    stop: int | None


def page_bounds(order: Order, times: TimeFilter, cursor: tuple[int, int] | None) -> PageBounds:
    """One bound per side of the index range: the cursor folded into the filter on its side.

    Given both a scalar ``created_at <= x`` and a row bound ``(created_at, seq) < (y, z)``
    on the same side, a b-tree cannot tell which is tighter and may start its walk at the
    looser one, stepping over every entry in between (measured on PostgreSQL: a time window
    a third of the way into a year's 100,000 conversations started at the newest one and read
    552 index pages for 21 rows, 61 on a store ten times smaller; SQLite may do the same).
    """
    if order == "asc":
        after = times.created_after
        start = None if after is None else (after, -_FLOOR)  # the last row of that second
        if cursor is not None and (start is None or cursor > start):
            start = cursor
        before = times.created_before
        return PageBounds(start, None if before is None else before - 1)
    before = times.created_before
    start = None if before is None else (before, _FLOOR)  # the first row of that second
    if cursor is not None and (start is None or cursor < start):
        start = cursor
    after = times.created_after
    return PageBounds(start, None if after is None else after + 1)
