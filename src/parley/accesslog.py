"""The structured access log: one JSON line per request, never a body, a key or a query."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

import msgspec

LOGGER_NAME = "parley.access"


class AccessRecord(msgspec.Struct):
    """What one access-log line holds; the fields are fixed so nothing else can slip in."""

    ts: float
    request_id: str
    method: str
    route: str
    status: int
    duration_ms: float
    project: str | None


_encode = msgspec.json.Encoder().encode


class AccessLog:
    """Writes :class:`AccessRecord` lines through the ``parley.access`` logger."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.logger = logging.getLogger(LOGGER_NAME)
        if not self.logger.handlers:
            # granian configures the root logger in its own format; these lines must stay
            # bare JSON, so the access logger writes on its own handler and stops there.
            handler = logging.StreamHandler(stream or sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            self.logger.addHandler(handler)
            self.logger.propagate = False
            self.logger.setLevel(logging.INFO)

    def record(
        self, scope: MutableMapping[str, Any], request_id: str, status: int, started: float
    ) -> None:
        """Log one finished request described by its ASGI ``scope``."""
        # The route template, never the raw path: the path may hold ids callers consider
        # private, and a template keeps the log easy to aggregate.
        template = getattr(scope.get("route"), "path", None)
        state = scope.get("state") or {}
        project = state.get("project") if isinstance(state, dict) else None
        line = AccessRecord(
            ts=round(time.time(), 3),
            request_id=request_id,
            method=str(scope.get("method", "")),
            route=template if isinstance(template, str) else "(unmatched)",
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            project=project if isinstance(project, str) else None,
        )
        self.logger.info(_encode(line).decode())
