"""Signing in and out: an API key buys a server-side session; signing out ends it."""

from __future__ import annotations

import secrets
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from parley import auth
from parley.dashboard import web
from parley.errors import ParleyError

# Failed sign-ins per client address: a burst of 10, then one every 6 seconds; past that the
# address is refused (even with a good key) until its budget refills. A key has 256 random
# bits, so this is not what keeps keys safe; it keeps the form from being a free oracle and
# the failed lookups from being a flood. Good sign-ins cost nothing.
SIGN_IN_RATE = 1 / 6
SIGN_IN_BURST = 10


class SignInGuard:
    """Counts failed sign-ins per client address (GCRA) and says how long one must wait."""

    def __init__(self) -> None:
        self._interval = 1 / SIGN_IN_RATE
        # Per address, the "theoretical arrival time" of its next failure at the steady rate.
        self._tat: dict[bytes, float] = {}

    def wait(self, client: bytes) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        tat = self._tat.get(client)
        if tat is None:
            return 0.0
        return max(0.0, tat - time.monotonic() - (SIGN_IN_BURST - 1) * self._interval)

    def failed(self, client: bytes) -> None:
        """Count one failed attempt of ``client``."""
        now = time.monotonic()
        if len(self._tat) > 10_000:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        self._tat[client] = max(self._tat.get(client, now), now) + self._interval


def _guard(request: Request) -> SignInGuard:
    state = request.app.state
    guard: SignInGuard | None = getattr(state, "dashboard_sign_ins", None)
    if guard is None:
        guard = SignInGuard()
        state.dashboard_sign_ins = guard
    return guard


async def sign_in_page(request: Request) -> Response:
    """The sign-in form (or, when signed in, the conversations)."""
    from parley.dashboard import conversations

    visit = await web.current(request)
    if visit is None:
        return web.render("login.html")
    try:
        await web.admit(request, visit)
    except ParleyError as exc:
        return web.failed(visit, exc)
    return await conversations.listing(request, visit)


async def login(request: Request) -> Response:
    """Check the key from the form and start a session for it."""
    client = (request.client.host if request.client else "").encode()
    guard = _guard(request)
    wait = guard.wait(client)
    if wait > 0:
        response = web.render(
            "login.html",
            status=429,
            error=f"Too many sign-in attempts. Try again in {int(wait) + 1} seconds.",
        )
        response.headers["retry-after"] = str(int(wait) + 1)
        return response
    try:
        web.check_origin(request)
        form = await web.read_form(request)
    except web.FormTooLarge:
        return web.render("login.html", status=413, error="That form is too large.")
    except ParleyError as exc:
        return web.render("login.html", status=exc.status, error=exc.message)
    key = form.get("key", "").strip()
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    session = None
    if key and len(key) <= 256 and "\x00" not in key:
        session = await web.store_of(request).create_session(
            key_hash=auth.hash_key(key),
            token_hash=web.token_hash(token),
            created_at=now,
            expires_at=now + web.SESSION_SECONDS,
        )
    if session is None:
        guard.failed(client)
        return web.render("login.html", status=401, error="That key is unknown or revoked.")
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        web.COOKIE,
        token,
        max_age=web.SESSION_SECONDS,
        path=web.COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@web.change
async def logout(request: Request, visit: web.Visit, form: dict[str, str]) -> Response:
    """End the session on the server and drop the cookie."""
    token = request.cookies.get(web.COOKIE, "")
    await web.store_of(request).end_session(web.token_hash(token))
    response = web.to_sign_in()
    response.delete_cookie(web.COOKIE, path=web.COOKIE_PATH)
    return response
