"""Kept for older imports: what was ``parley.client`` is :mod:`parley.sdk`."""

from __future__ import annotations

from parley.sdk import (
    NodeError,
    ValidationError,
    make_client,
    translate,
)

__all__ = [
    "NodeError",
    "ValidationError",
    "make_client",
    "translate",
]
