"""The keys page: the project's keys (hint, name, created, last used), create once, revoke."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from parley import auth
from parley.dashboard import web
from parley.models import ApiKeyInfo

MAX_KEY_NAME = 100


async def _project_keys(request: Request, visit: web.Visit) -> list[ApiKeyInfo]:
    keys = await web.store_of(request).list_api_keys()
    return [key for key in keys if key.project_name == visit.session.project_name]


@web.page
async def keys_page(request: Request, visit: web.Visit) -> Response:
    """Every key of the project, newest first, revoked ones included."""
    return web.render("keys.html", visit, keys=await _project_keys(request, visit))


@web.change
async def create_key(request: Request, visit: web.Visit, form: dict[str, str]) -> Response:
    """Mint a key for the project and show it, this once."""
    name = form.get("name", "").strip()
    if len(name) > MAX_KEY_NAME or "\x00" in name:
        return web.render(
            "keys.html",
            visit,
            status=400,
            keys=await _project_keys(request, visit),
            error=f"A key's name has at most {MAX_KEY_NAME} characters.",
        )
    plain, info = await auth.create_key(
        web.store_of(request), visit.session.project_name, name=name or "dashboard"
    )
    return web.render(
        "keys.html", visit, keys=await _project_keys(request, visit), created=plain, info=info
    )


@web.change
async def revoke_key(request: Request, visit: web.Visit, form: dict[str, str]) -> Response:
    """Revoke one of the project's keys; its sessions end with it (this one too, if its own)."""
    key_id = request.path_params["key_id"]
    if not any(k.id == key_id for k in await _project_keys(request, visit)):
        return web.error_page(visit, 404, f"No key with id '{key_id[:40]}' in this project.")
    await web.store_of(request).revoke_api_key(key_id)
    if key_id == visit.session.key_id:
        return web.to_sign_in()
    return RedirectResponse("/dashboard/keys", status_code=303)
