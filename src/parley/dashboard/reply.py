"""The reply box: the next user message through the Responses API, streamed into the page."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from parley.dashboard import web
from parley.errors import InvalidRequest, ParleyError
from parley.responses.api import respond
from parley.upstreams import Upstreams

MAX_REPLY_CHARS = 32_000


def upstreams_of(request: Request) -> Upstreams | None:
    """The app's model upstreams, or None when none is configured."""
    upstreams: Upstreams | None = getattr(request.app.state, "upstreams", None)
    return upstreams if upstreams else None


async def box(request: Request, after_url: str) -> dict[str, Any] | None:
    """What the reply form needs (the models to choose from), or None without an upstream."""
    upstreams = upstreams_of(request)
    if upstreams is None:
        return None
    try:
        models = [name for name, _ in await upstreams.models()]
    except ParleyError as exc:
        return {"error": f"The models could not be listed: {exc.message}"}
    if not models:
        return None
    chosen = request.query_params.get("model")
    return {
        "models": models,
        "chosen": chosen if chosen in models else models[0],
        "after_url": after_url,
    }


@web.change
async def reply(request: Request, visit: web.Visit, form: dict[str, str]) -> Response:
    """Send the message with the chosen model; stream the events, or wait for the whole turn."""
    conversation_id = request.path_params["conversation_id"]
    message = form.get("message", "").strip()
    model = form.get("model", "")
    if not message:
        raise InvalidRequest("Write a message first.", param="message")
    if len(message) > MAX_REPLY_CHARS:
        raise InvalidRequest(
            f"That message is too long: at most {MAX_REPLY_CHARS} characters.", param="message"
        )
    # The conversation must be the caller's: the Responses API checks it in the same way.
    await web.store_of(request).retrieve_conversation(visit.session.project, conversation_id)
    streaming = "text/event-stream" in request.headers.get("accept", "")
    body = {
        "model": model,
        "input": message,
        "conversation": conversation_id,
        "stream": streaming,
    }
    answer = await respond(request, web.store_of(request), visit.session.project, body)
    if streaming or answer.status_code != 200:
        return answer
    query = urlencode([*parse_qsl(form.get("after", "")), ("model", model)])
    return RedirectResponse(f"/dashboard/c/{quote(conversation_id)}?{query}#reply", status_code=303)
