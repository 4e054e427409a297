"""What every entry point (the /v1 API and the dashboard) checks before it acts.

One path for all: the body's size and arrival time, ids taken from the path, query values,
the caller's key, the per-key rate budget, and the budget of failed sign-ins per client
address. The dashboard once skipped these (a 300 MB sign-in body, a NUL in a path id that
was a 500 on PostgreSQL, no rate limit at all).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.datastructures import QueryParams, State
from starlette.requests import Request
from starlette.types import Scope

from parley import auth, keycheck
from parley.errors import (
    NUL,
    AuthenticationFailed,
    NotFound,
    ParleyError,
    PayloadTooLarge,
    refuse_nul,
)
from parley.ids import MAX_ID_LENGTH
from parley.ratelimit import FailureLimiter, RateLimiter, rate_limited
from parley.store import Store

_KINDS = {"item_id": "Item", "response_id": "Response", "model": "Model"}


def too_large(limit: int) -> PayloadTooLarge:
    """413 for a body past ``limit`` bytes."""
    return PayloadTooLarge(
        f"The request body is too large: this server accepts at most {limit} bytes.",
        code="request_too_large",
    )


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The whole body, within the server's size limit (413) and body timeout (408).

    ``limit`` may only tighten the server's size limit (the dashboard's forms are small).
    """
    server_limit: int = request.app.state.max_body_bytes
    limit = server_limit if limit is None else min(limit, server_limit)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        # A client trickling its body in must not hold a worker's attention forever.
        async with asyncio.timeout(request.app.state.body_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise ParleyError(
            "The request body did not arrive in time; send it in one go and retry.",
            status=408,
            code="request_timeout",
        ) from None
    return b"".join(chunks)


def check_path_ids(params: dict[str, str]) -> None:
    """404 for an id from the path that no conversation or item can have."""
    for name, value in params.items():
        # No id is that long or holds NUL (PostgreSQL text cannot even hold one).
        if len(value) > MAX_ID_LENGTH or "\x00" in value:
            kind = _KINDS.get(name, "Conversation")
            shown = value[:32].replace("\x00", "\\u0000")
            raise NotFound(f"{kind} with id '{shown}{'…' if len(value) > 32 else ''}' not found.")


def check_query(request: Request) -> None:
    """400 for a query parameter name or value holding NUL."""
    check_query_string(request.scope.get("query_string", b""))


def check_query_string(query: bytes) -> None:
    """:func:`check_query` for the raw query string of an ASGI scope."""
    # Parse the query only when it can hold a NUL: most requests carry no query at all.
    if b"%00" not in query and b"\0" not in query:
        return
    for name, value in QueryParams(query).multi_items():
        refuse_nul(name.replace(NUL, ""), name, value, what="a query parameter")


def client_address(scope: Scope) -> str:
    """The peer's address (behind a proxy: the proxy's)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


async def authorize(state: State, scope: Scope, key: str | None) -> str:
    """The project of ``key`` (a bearer header's token or the dashboard cookie's key).

    ``state`` is the app's state, ``scope`` the request's ASGI scope (no Starlette
    ``Request`` is needed: the hot routes answer without one). 401 for a missing, unknown or
    revoked key; 429 past the key's rate budget, or when the client's address has failed too
    often lately. A blocked address is refused before its key is even looked at, so a guess
    made while blocked reveals nothing.
    """
    store: Store = state.store
    failures: FailureLimiter | None = state.auth_failures
    # The address only matters to the failure limiter.
    address = "" if failures is None else client_address(scope)
    _refuse_blocked(failures, address)
    try:
        project, digest = await auth.authenticate_key(store, key)
    except AuthenticationFailed:
        if failures is not None:
            failures.failed(address)
        raise
    state.key_cache.remember(digest, project)
    return await _admit(state, scope, project, digest)


def _refuse_blocked(failures: FailureLimiter | None, address: str) -> None:
    # An address that failed too often lately is refused before its key is looked at.
    if failures is not None:
        wait = failures.blocked(address)
        if wait > 0:
            raise rate_limited(wait, failed_auth=True)


async def _admit(state: State, scope: Scope, project: str, digest: bytes) -> str:
    """What follows a key found (or trusted to be) active: its use noted, its rate budget."""
    store: Store = state.store
    # What Starlette's `request.state.project` writes: the access log reads it there.
    request_state = scope.get("state")
    if request_state is None:
        request_state = scope["state"] = {}
    request_state["project"] = project
    await state.key_use.seen(store, digest)
    limiter: RateLimiter | None = state.rate_limiter
    if limiter is not None:
        wait = await limiter.acquire(digest)
        if wait > 0:
            raise rate_limited(wait)
    return project


@contextlib.asynccontextmanager
async def authorized(
    state: State, scope: Scope, key: str | None, *, in_store: bool
) -> AsyncIterator[str]:
    """:func:`authorize` around a handler; ``in_store``: its store calls check the key in their
    own statements.

    Then, on a store that can (PostgreSQL), a key this process has seen active is not looked
    up up front: the request owes its check (parley.keycheck), which the store settles in the
    statement itself, one round trip in all. Whatever the handler does or raises, the check
    is settled before the block ends, so a revoked key gets its 401 and nothing else.
    """
    store: Store = state.store
    digest = auth.hash_key(key) if key and in_store and store.checks_keys_in_statements else None
    project = None if digest is None else state.key_cache.project(digest)
    if digest is None or project is None or key is None:
        yield await authorize(state, scope, key)
        return
    failures: FailureLimiter | None = state.auth_failures
    address = client_address(scope)
    _refuse_blocked(failures, address)
    check = keycheck.OwedCheck(digest, auth.key_hint(key), state.key_cache)
    token = keycheck.owe(check)
    try:
        try:
            yield await _admit(state, scope, project, digest)
        except AuthenticationFailed:
            raise
        except ParleyError:
            # An answer such as 400 or 404 is for a live key only.
            await _settle(store, check)
            raise
        await _settle(store, check)
    except AuthenticationFailed:
        if failures is not None:
            failures.failed(address)
        raise
    finally:
        keycheck.release(token)


async def _settle(store: Store, check: keycheck.OwedCheck) -> None:
    # The handler's statements did not settle the check (none ran, or none was guarded).
    if check.settled:
        return
    if await store.project_for_key(check.digest) is None:
        raise check.failed()
    check.settled = True


async def settle_owed(store: Store) -> None:
    """Settle the request's owed key check now, if its statements so far did not (a handler
    about to do what must not happen for a revoked key, such as calling a model)."""
    check = keycheck.owed()
    if check is not None:
        await _settle(store, check)
