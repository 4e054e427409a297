"""The route table: one declaration per route drives the lookup, Starlette's fallback and
/openapi.json; a new route is one line plus its handler."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest
from starlette.requests import Request
from starlette.responses import Response

from parley import api
from parley.routes import CONVERSATION, ROUTES
from parley.routing import Route, RouteTable
from parley.store import Store
from tests.helpers import assert_error
from tests.inprocess import in_process


async def _nothing(request: Request) -> Response:
    return Response(b"")


def _names(table: RouteTable, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = table.match(method, path)
    return None if found is None else (found[0].name, found[1])


def test_parley_routes_match_with_their_parameters() -> None:
    conv = "/v1/conversations/conv_1"
    assert _names(ROUTES, "GET", conv) == ("getConversation", {"conversation_id": "conv_1"})
    assert _names(ROUTES, "DELETE", conv + "/items/msg_1") == (
        "deleteConversationItem",
        {"conversation_id": "conv_1", "item_id": "msg_1"},
    )
    assert _names(ROUTES, "GET", "/healthz") == ("healthz", {})
    for method, path in [
        ("PUT", conv),  # known path, other method: Starlette answers 405
        ("GET", "/v1/conversations/"),  # a parameter never matches an empty segment
        ("GET", conv + "/"),
        ("GET", "/v1/conversations//items"),
        ("GET", conv + "/things"),
        ("GET", conv + "/items/msg_1/more"),
        ("GET", "/v1/conversationsX"),
        ("GET", "v1/conversations"),
    ]:
        assert ROUTES.match(method, path) is None, (method, path)


def test_a_literal_segment_wins_over_a_parameter_whatever_the_order() -> None:
    table = RouteTable(
        [
            Route("GET", "/v1/things/{thing_id}", _nothing, "getThing"),
            Route("GET", "/v1/things/{thing_id}/parts", _nothing, "listParts"),
            Route("GET", "/v1/things/search", _nothing, "search"),
            Route("POST", "/v1/things/search/run", _nothing, "run"),
        ]
    )
    assert _names(table, "GET", "/v1/things/search") == ("search", {})
    assert _names(table, "GET", "/v1/things/other") == ("getThing", {"thing_id": "other"})
    # No literal route continues with /parts: the parameter route takes it.
    assert _names(table, "GET", "/v1/things/search/parts") == ("listParts", {"thing_id": "search"})
    assert _names(table, "POST", "/v1/things/search/run") == ("run", {})
    assert [route.name for route in table.starlette_routes()] == [  # type: ignore[attr-defined]
        "search",
        "run",
        "getThing",
        "listParts",
    ]


def test_a_final_path_parameter_takes_the_rest_of_the_path() -> None:
    table = RouteTable(
        [
            Route("GET", "/v1/models", _nothing, "list"),
            Route("GET", "/v1/models/{model:path}", _nothing, "get"),
            Route("GET", "/v1/models/{model}/card", _nothing, "card"),
            Route("GET", "/v1/models/latest", _nothing, "latest"),
        ]
    )
    assert _names(table, "GET", "/v1/models") == ("list", {})
    assert _names(table, "GET", "/v1/models/gpt-4o") == ("get", {"model": "gpt-4o"})
    assert _names(table, "GET", "/v1/models/org/name/v2") == ("get", {"model": "org/name/v2"})
    assert _names(table, "GET", "/v1/models/x/card") == ("card", {"model": "x"})
    assert _names(table, "GET", "/v1/models/latest") == ("latest", {})
    assert _names(table, "GET", "/v1/models/latest/more") == ("get", {"model": "latest/more"})
    assert table.match("POST", "/v1/models/x") is None
    with pytest.raises(ValueError, match="only a final"):
        RouteTable([Route("GET", "/a/{x:path}/b", _nothing, "a")])


def test_a_table_refuses_what_it_could_not_tell_apart() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        RouteTable([Route("GET", "/a", _nothing, "a"), Route("GET", "/a", _nothing, "b")])
    with pytest.raises(ValueError, match="where others have"):
        RouteTable([Route("GET", "/a/{x}", _nothing, "a"), Route("POST", "/a/{y}", _nothing, "b")])
    for template in ("a", "/a/", "/a//b"):
        with pytest.raises(ValueError, match="not a route template"):
            RouteTable([Route("GET", template, _nothing, "a")])


class Stats(msgspec.Struct):
    """How many items a conversation holds."""

    conversation_id: str
    items: int


@api.authed
async def conversation_stats(request: Request, store: Store, project: str) -> Response:
    """GET /v1/conversations/{conversation_id}/stats: how many items it holds."""
    conversation_id = request.path_params["conversation_id"]
    page = await store.list_items(project, conversation_id, after=None, limit=100, order="asc")
    return api.ok(Stats(conversation_id, len(page.items)))


# The one line a new route needs, beside its handler above.
EXTENDED = RouteTable(
    [
        *ROUTES.routes,
        Route("GET", CONVERSATION + "/stats", conversation_stats, "getStats", answers=Stats),
    ]
)


def test_a_new_route_is_one_line_served_fast_and_documented(tmp_path: Path) -> None:
    async def run() -> None:
        async with in_process(str(tmp_path / "p.db"), routes=EXTENDED) as app:
            conversation = await app.sdk().conversations.create(
                items=[{"role": "user", "content": "hi"}]
            )
            stats = await app.http.get(f"/v1/conversations/{conversation.id}/stats")
            assert stats.status_code == 200
            assert stats.json() == {"conversation_id": conversation.id, "items": 1}
            assert stats.headers["x-request-id"].startswith("req_")
            # Auth and the error envelope come with `authed`, 404 with the store.
            missing = await app.http.get("/v1/conversations/conv_nope/stats")
            assert_error(missing, 404, code=None, param=None)
            anonymous = await app.http.get(
                f"/v1/conversations/{conversation.id}/stats", headers={"Authorization": ""}
            )
            assert anonymous.status_code == 401
            # The fallback knows the route too: another method is 405, not 404.
            wrong = await app.http.delete(f"/v1/conversations/{conversation.id}/stats")
            assert_error(wrong, 405, code="method_not_allowed", param=None)
            assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD"}
            document = (await app.http.get("/openapi.json")).json()
            operation = document["paths"]["/v1/conversations/{conversation_id}/stats"]["get"]
            assert operation["operationId"] == "getStats"
            assert operation["parameters"][0]["name"] == "conversation_id"
            assert operation["summary"] == "How many items it holds"
            schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ParleyStats"}
            assert document["components"]["schemas"]["ParleyStats"]["required"] == [
                "conversation_id",
                "items",
            ]

    asyncio.run(run())


def test_the_document_lists_exactly_the_tables_api_routes() -> None:
    from parley.openapi import openapi_document

    document = openapi_document(ROUTES.routes)
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method != "parameters"
    }
    # The document names a {name:path} parameter without its convertor.
    declared = {
        (r.method, r.path.replace(":path}", "}"))
        for r in ROUTES.routes
        if r.path != "/" and not r.path.startswith(("/dash", "/openapi"))  # pages, not API
    }
    assert documented == declared


def test_a_path_parameter_is_documented_without_its_convertor() -> None:
    from parley.openapi import openapi_document

    route = Route("GET", "/v1/models/{model:path}", api.healthz, "getModel", answers=Stats)
    document = openapi_document((route,))
    operation = document["paths"]["/v1/models/{model}"]["get"]
    assert operation["parameters"][0] == {
        "name": "model",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }


def test_the_root_is_a_route_of_its_own() -> None:
    found = ROUTES.match("GET", "/")
    assert found is not None and found[0].name == "home" and found[1] == {}
    assert ROUTES.match("GET", "/index.html") is None
    assert ROUTES.match("POST", "/") is None


def test_the_table_knows_a_path_whatever_its_method() -> None:
    assert ROUTES.knows("/v1/conversations/conv_1")
    assert ROUTES.knows("/healthz")
    assert not ROUTES.knows("/v1/nowhere")
    assert not ROUTES.knows("/v1/conversations/conv_1/things")


def test_an_unknown_url_is_the_same_404_without_the_router(tmp_path: Path) -> None:
    async def run() -> None:
        async with in_process(str(tmp_path / "p.db")) as app:
            for method in ("GET", "POST", "HEAD", "DELETE"):
                answer = await app.http.request(method, "/v1/nowhere")
                assert answer.status_code == 404
                assert answer.headers["x-request-id"].startswith("req_")
                if method != "HEAD":
                    assert_error(
                        answer,
                        404,
                        code="unknown_url",
                        param=None,
                        message=rf"Unknown request URL: {method} /v1/nowhere\. Please check "
                        r"the URL for typos\.",
                    )

    asyncio.run(run())
