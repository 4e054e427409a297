"""Rules both store backends apply the same way, so they are written once."""

from __future__ import annotations

from collections.abc import Collection

from parley.errors import InvalidRequest, duplicate_item
from parley.models import NewItem, TimeFilter
from parley.store.base import Order


def repeated_item(items: list[NewItem], taken: Collection[str] = ()) -> InvalidRequest | None:
    """The ``duplicate_item`` error for the first id repeated in ``items`` or in ``taken``."""
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.id in seen or item.id in taken:
            return duplicate_item(item.id, index)
        seen.add(item.id)
    return None


def renewed(data: list[bytes]) -> list[NewItem]:
    """Copies of stored items under fresh ids, in the same order (what a fork stores)."""
    # Imported here: parley.items loads OpenAI's schema, which store-only tools never need.
    from parley.items import copy_item

    return [copy_item(item) for item in data]


def time_bounds(
    order: Order, times: TimeFilter, cursor: tuple[int, int]
) -> tuple[int | None, int | None]:
    """Inclusive (low, high) bounds on created_at from the filters and the page cursor."""
    low = None if times.created_after is None else times.created_after + 1
    high = None if times.created_before is None else times.created_before - 1
    if order == "asc":
        low = cursor[0] if low is None else max(low, cursor[0])
    else:
        high = cursor[0] if high is None else min(high, cursor[0])
    return low, high
