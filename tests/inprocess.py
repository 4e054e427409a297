"""The app in this process: httpx's ASGI transport in front of a real store, no server.

Quick enough for unit-level tests of routing and the API layer; the live-server suite stays
the truth for what goes over a socket.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import openai

from parley import auth
from parley.app import create_app
from parley.routes import ROUTES
from parley.routing import RouteTable
from parley.settings import DEFAULTS, Settings
from parley.store import Store, open_store


@dataclass
class InProcess:
    """An app over a real, open store, and a key of one project in it."""

    store: Store
    api_key: str
    http: httpx.AsyncClient

    def sdk(self, api_key: str | None = None) -> openai.AsyncOpenAI:
        """The official SDK over the same in-process transport, validating strictly."""
        return openai.AsyncOpenAI(
            base_url="http://parley.test/v1",
            api_key=api_key or self.api_key,
            http_client=self.http,
            max_retries=0,
            _strict_response_validation=True,
        )


@contextlib.asynccontextmanager
async def in_process(
    database: str, settings: Settings = DEFAULTS, routes: RouteTable = ROUTES
) -> AsyncIterator[InProcess]:
    """``create_app(settings)`` over ``database`` (a SQLite path or PostgreSQL URL)."""
    store = open_store(database)
    await store.open()  # the ASGI transport sends no lifespan events: open it here
    try:
        key, _ = await auth.create_key(store, "in-process", name="test")
        app = create_app(settings, store=store, routes=routes)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://parley.test",
            headers={"Authorization": f"Bearer {key}"},
        ) as http:
            yield InProcess(store, key, http)
    finally:
        await store.close()
