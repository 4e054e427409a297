"""A server-rendered dashboard: sign in with an API key, then find, read, fix, branch and export
conversations and manage the project's keys. No JavaScript build step: plain forms, one CSS file
and one small script, all served by parley itself.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from parley.dashboard import actions, conversations, keys, reply, sessions
from parley.routing import Route

_STATIC = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript"}


async def static(request: Request) -> Response:
    """The dashboard's own CSS and script (no outside requests, ever)."""
    name = request.path_params["name"]
    if name not in _STATIC:
        return Response("Not found", status_code=404, media_type="text/plain")
    body = resources.files("parley").joinpath(f"static/{name}").read_bytes()
    return Response(body, media_type=_STATIC[name], headers={"cache-control": "max-age=3600"})


CONVERSATION = "/dashboard/c/{conversation_id}"

# The dashboard's lines of parley's route table (parley.routes).
ROUTES = [
    Route("GET", "/dashboard", sessions.sign_in_page, "dashboard"),
    Route("POST", "/dashboard/login", sessions.login, "dashboardLogin"),
    Route("POST", "/dashboard/logout", sessions.logout, "dashboardLogout"),
    Route("GET", "/dashboard/static/{name}", static, "dashboardStatic"),
    Route("GET", "/dashboard/keys", keys.keys_page, "dashboardKeys"),
    Route("POST", "/dashboard/keys", keys.create_key, "dashboardCreateKey"),
    Route("POST", "/dashboard/keys/{key_id}/revoke", keys.revoke_key, "dashboardRevokeKey"),
    Route("GET", CONVERSATION, conversations.transcript, "dashboardPage"),
    Route("GET", CONVERSATION + "/metadata", actions.metadata_form, "dashboardMetadataForm"),
    Route("POST", CONVERSATION + "/metadata", actions.update_metadata, "dashboardMetadata"),
    Route("GET", CONVERSATION + "/delete", actions.confirm_delete, "dashboardConfirmDelete"),
    Route("POST", CONVERSATION + "/delete", actions.delete_conversation, "dashboardDelete"),
    Route("POST", CONVERSATION + "/fork", actions.fork, "dashboardFork"),
    Route("POST", CONVERSATION + "/reply", reply.reply, "dashboardReply"),
    Route("GET", CONVERSATION + "/export.jsonl", actions.export_jsonl, "dashboardExportJsonl"),
    Route("GET", CONVERSATION + "/export.md", actions.export_markdown, "dashboardExportMarkdown"),
    Route(
        "POST",
        CONVERSATION + "/items/{item_id}/delete",
        actions.delete_item,
        "dashboardDeleteItem",
    ),
]
