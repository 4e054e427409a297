"""The key check a request may still owe, for a store that checks keys in its own statements.

On PostgreSQL a key check of its own is a round trip before the request's real one. So a key
this process has seen active (:class:`KeyCache`) is not looked up again up front: the request
*owes* its check (:class:`OwedCheck`), and the store settles it inside the hot statement (the
statement only acts while the key is active), or with one lookup before any other statement.
Whatever the handler does, the check is settled before anything is answered, so a key
revoked in any process fails on its very next request in every process; nothing is cached
about a key's being active, only which project it belongs to, which never changes.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from parley.errors import AuthenticationFailed

# Past this many keys the cache starts over (a bound, not a policy: keys are few).
_CACHE_LIMIT = 10_000


def refused(hint: str) -> AuthenticationFailed:
    """The 401 for a key that is unknown or revoked, showing only its hint."""
    return AuthenticationFailed(
        # Keys are shown once, when minted; `parley keys list` shows hints only, so point at
        # the ways to get a working key instead.
        f"Incorrect API key provided: {hint}. Use the key `parley serve` printed on its first "
        "start, the one it was given with --api-key (PARLEY_API_KEY), or make one with "
        "`parley keys create`.",
        code="invalid_api_key",
    )


class KeyCache:
    """Which project each key seen active belongs to (never whether it still is active)."""

    def __init__(self) -> None:
        self._projects: dict[bytes, str] = {}

    def project(self, digest: bytes) -> str | None:
        """The project of the key with this digest, if this process has seen it active."""
        return self._projects.get(digest)

    def remember(self, digest: bytes, project: str) -> None:
        """Note that the key with this digest was found active in ``project``."""
        if len(self._projects) >= _CACHE_LIMIT:
            self._projects.clear()
        self._projects[digest] = project

    def forget(self, digest: bytes) -> None:
        """Drop a key found revoked."""
        self._projects.pop(digest, None)


class OwedCheck:
    """A request's key check that is not done yet: the key's digest, its hint for the 401."""

    __slots__ = ("_cache", "digest", "hint", "settled")

    def __init__(self, digest: bytes, hint: str, cache: KeyCache) -> None:
        self.digest = digest
        self.hint = hint
        self.settled = False
        self._cache = cache

    def failed(self) -> AuthenticationFailed:
        """The key was found revoked: forget it and return the 401 to raise."""
        self._cache.forget(self.digest)
        self.settled = True
        return refused(self.hint)


_OWED: ContextVar[OwedCheck | None] = ContextVar("parley_owed_key_check", default=None)


def owe(check: OwedCheck | None) -> Token[OwedCheck | None]:
    """Make ``check`` the current request's owed check (None: it owes none)."""
    return _OWED.set(check)


def release(token: Token[OwedCheck | None]) -> None:
    """End the request's owed check (whether settled or not)."""
    _OWED.reset(token)


def owed() -> OwedCheck | None:
    """The current request's check if it is still owed, else None."""
    check = _OWED.get()
    return None if check is None or check.settled else check


def owed_digest() -> bytes | None:
    """The digest a hot statement must check, or None when nothing is owed."""
    check = owed()
    return None if check is None else check.digest


def settle() -> None:
    """A statement guarded by the owed key found it active: the check is done."""
    check = _OWED.get()
    if check is not None:
        check.settled = True
