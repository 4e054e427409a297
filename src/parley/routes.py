"""Every route parley serves, in one table: the fast lookup, Starlette's fallback, the access
log's route names and parley's own OpenAPI paths are all derived from it.

A new route is one line here plus its handler. Where a literal segment and a parameter could
both match (``/v1/conversations/search`` and ``/v1/conversations/{conversation_id}``), the
literal wins whatever the order of the lines.
"""

from __future__ import annotations

from parley import api, api_extensions, dashboard, home, openapi
from parley.models import (
    Conversation,
    ConversationList,
    ConversationListQuery,
    ForkRequest,
    Health,
    SearchPage,
    SearchQuery,
    Usage,
)
from parley.responses import api as responses
from parley.routing import Route, RouteTable

CONVERSATION = "/v1/conversations/{conversation_id}"
ITEM = CONVERSATION + "/items/{item_id}"
RESPONSE = "/v1/responses/{response_id}"

ROUTES = RouteTable(
    [
        Route("GET", "/healthz", api.healthz, "healthz", answers=Health),
        Route("GET", "/openapi.json", openapi.openapi_json, "openapi"),
        # OpenAI's Conversations API, documented by OpenAI's spec; listing is parley's own.
        Route("POST", "/v1/conversations", api.create_conversation, "createConversation"),
        Route(
            "GET",
            "/v1/conversations",
            api.list_conversations,
            "listConversations",
            answers=ConversationList,
            query=ConversationListQuery,
        ),
        Route("GET", CONVERSATION, api.retrieve_conversation, "getConversation"),
        Route("POST", CONVERSATION, api.update_conversation, "updateConversation"),
        Route("DELETE", CONVERSATION, api.delete_conversation, "deleteConversation"),
        Route("POST", CONVERSATION + "/items", api.create_items, "createConversationItems"),
        Route("GET", CONVERSATION + "/items", api.list_items, "listConversationItems"),
        Route("GET", ITEM, api.retrieve_item, "getConversationItem"),
        Route("DELETE", ITEM, api.delete_item, "deleteConversationItem"),
        # parley's own, documented from the types given here.
        Route(
            "POST",
            CONVERSATION + "/fork",
            api_extensions.fork_conversation,
            "forkConversation",
            answers=Conversation,
            body=ForkRequest,
        ),
        Route("GET", "/v1/usage", api_extensions.usage, "getUsage", answers=Usage),
        # OpenAI's Responses API over conversations, and the models of the upstreams behind it.
        # OpenAI's operations document the response routes (Response, ResponseItemList, the
        # stream events); DELETE's 200 has no schema there, parley's type gives it.
        Route("POST", "/v1/responses", responses.create_response, "createResponse"),
        Route("GET", RESPONSE, responses.retrieve_response, "getResponse"),
        Route(
            "DELETE",
            RESPONSE,
            responses.delete_response,
            "deleteResponse",
            answers=responses.DeletedResponse,
        ),
        Route("GET", RESPONSE + "/input_items", responses.list_input_items, "listInputItems"),
        # Not in the shipped subset of OpenAI's spec: documented from parley's types, under
        # OpenAI's names (Model, ListModelsResponse).
        Route(
            "GET",
            "/v1/models",
            responses.list_models,
            "listModels",
            answers=responses.ListModelsResponse,
        ),
        # Model names such as "Qwen/Qwen2.5-7B" hold a slash.
        Route(
            "GET",
            "/v1/models/{model:path}",
            responses.retrieve_model,
            "retrieveModel",
            answers=responses.Model,
        ),
        Route(
            "GET",
            "/v1/conversations/search",
            api_extensions.search_conversations,
            "searchConversations",
            answers=SearchPage,
            query=SearchQuery,
        ),
        # The dashboard: HTML pages, not part of /openapi.json.
        Route("GET", "/", home.home, "home"),
        *dashboard.ROUTES,
    ]
)
