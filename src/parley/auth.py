"""API keys: minting, hashing, and resolving a request's project from its bearer key.

Keys carry 256 random bits, so one SHA-256 pass is a sound at-rest hash (a slow password hash
buys nothing for secrets that cannot be guessed). The plain key is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import time

from parley import ids, keycheck
from parley.errors import AuthenticationFailed, KeyExists, ParleyError
from parley.models import ApiKeyInfo
from parley.settings import DEFAULT_PROJECT as DEFAULT_PROJECT
from parley.store import Store

# A key's "last used" time is written at most this often (seconds) per key and process: the
# keys page needs the day, not every request, and a write per request would double the cost
# of a read.
KEY_USE_EVERY = 60.0
_KEY_USE_PRUNE_AT = 10_000

_MISSING = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


def hash_key(key: str) -> bytes:
    """The digest stored for ``key``."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_hint(key: str) -> str:
    """What may be shown of an API key, in its list and in a 401: ``…abcd``, its last 4
    characters at most and never more than a quarter of it (the hint of a 9-character fixed
    key once showed 7 of its 9); nothing of a key shorter than 4."""
    shown = min(4, len(key) // 4)
    return "…" + key[len(key) - shown :] if shown else "…"


async def create_key(
    store: Store, project_name: str = DEFAULT_PROJECT, name: str = "", key: str | None = None
) -> tuple[str, ApiKeyInfo]:
    """Mint (or register the given) key for the project called ``project_name``; return the
    plain key and its record."""
    plain = key if key is not None else ids.api_key()
    info = await store.add_api_key(
        key_id=ids.new_id("key_"),
        project_name=project_name,
        name=name,
        hint=key_hint(plain),
        key_hash=hash_key(plain),
    )
    return plain, info


async def ensure_key(store: Store, key: str, project_name: str = DEFAULT_PROJECT) -> bool:
    """Register ``key`` for the project called ``project_name`` unless it is already active;
    True if it was added.

    A no-op under any interleaving: N replicas starting at once with one ``--api-key`` all
    try, one inserts, the others find it there.
    """
    if await store.project_for_key(hash_key(key)) is not None:
        return False
    try:
        await create_key(store, project_name, name="fixed key (--api-key)", key=key)
    except KeyExists:
        if await store.project_for_key(hash_key(key)) is not None:
            return False  # another process registered it between our check and insert
        raise ParleyError(
            "the fixed API key was revoked (`parley keys revoke`); pass a new one instead.",
            code="key_revoked",
        ) from None
    return True


def bearer_token(header: str | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header; None when there is none."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


async def authenticate(store: Store, header: str | None) -> tuple[str, bytes]:
    """The caller's project id and key digest (also the rate limiter's bucket).

    401 for a missing, unknown or revoked key.
    """
    return await authenticate_key(store, bearer_token(header))


async def authenticate_key(store: Store, token: str | None) -> tuple[str, bytes]:
    """The project id and digest of ``token``; 401 when it is missing, unknown or revoked."""
    if not token:
        raise AuthenticationFailed(_MISSING)
    digest = hash_key(token)
    project = await store.project_for_key(digest)
    if project is None:
        raise keycheck.refused(key_hint(token))
    return project, digest


class KeyUse:
    """Records when keys are used, at most once per KEY_USE_EVERY seconds per key."""

    def __init__(self) -> None:
        self._last: dict[bytes, float] = {}

    async def seen(self, store: Store, digest: bytes) -> None:
        """Note that the key with this digest was just used."""
        now = time.time()
        if now - self._last.get(digest, 0.0) < KEY_USE_EVERY:
            return
        if len(self._last) >= _KEY_USE_PRUNE_AT:
            self._last = {k: v for k, v in self._last.items() if now - v < KEY_USE_EVERY}
        self._last[digest] = now
        await store.touch_api_key(digest, int(now))
