"""Wire types (msgspec Structs), limits and per-item-type conventions."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# OpenAI's limits: metadata pairs, key and value lengths, items per call, page sizes.
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_ITEMS_PER_CALL = 20
MIN_LIMIT = 1
MAX_LIMIT = 100
DEFAULT_LIMIT = 20

INCLUDE_VALUES = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)

MESSAGE_INPUT_ROLES = ("user", "assistant", "system", "developer")


class ItemType(msgspec.Struct, frozen=True):
    """How parley stores one conversation item type: its id prefix and default status."""

    prefix: str
    # The status an item gets when its input has none (None: the type has no status).
    default_status: str | None = "completed"
    # Fields the output shape requires but the input form may leave out, with the value
    # they take then (the SDK's strict validation rejects an item that lacks them).
    fills: dict[str, object] = {}


# Every type the Conversations API stores (the `ConversationItem` union of the spec, plus
# `configuration_update` from SDK 3.57). Prefixes are OpenAI's own where known (msg_, fc_,
# rs_ …); where OpenAI's is unknown parley picks a short one (ids are opaque to clients).
ITEM_TYPES: dict[str, ItemType] = {
    "message": ItemType("msg_"),
    "function_call": ItemType("fc_"),
    "function_call_output": ItemType("fco_"),
    "file_search_call": ItemType("fs_"),
    "web_search_call": ItemType("ws_"),
    "image_generation_call": ItemType("ig_", fills={"result": None}),
    "computer_call": ItemType("cu_"),
    "computer_call_output": ItemType("cuo_"),
    "tool_search_call": ItemType("tsc_", fills={"call_id": None, "execution": "server"}),
    "tool_search_output": ItemType("tso_", fills={"call_id": None, "execution": "server"}),
    "additional_tools": ItemType("at_", None),
    "configuration_update": ItemType("cfg_", None),
    "reasoning": ItemType("rs_"),
    "program": ItemType("prg_", None),
    "program_output": ItemType("prgo_"),
    "compaction": ItemType("cmp_", None),
    "code_interpreter_call": ItemType("ci_", fills={"code": None, "outputs": None}),
    "local_shell_call": ItemType("lsh_"),
    "local_shell_call_output": ItemType("lsho_"),
    "shell_call": ItemType("sh_", fills={"environment": None}),
    "shell_call_output": ItemType("sho_", fills={"max_output_length": None}),
    "apply_patch_call": ItemType("apc_"),
    "apply_patch_call_output": ItemType("apco_"),
    "mcp_list_tools": ItemType("mcpl_", None),
    "mcp_approval_request": ItemType("mcpr_", None),
    "mcp_approval_response": ItemType("mcpa_", None),
    "mcp_call": ItemType("mcp_"),
    "custom_tool_call": ItemType("ctc_", None),
    "custom_tool_call_output": ItemType("ctco_", None),
}


class Conversation(msgspec.Struct):
    """``ConversationResource``: what create, retrieve, update and item delete answer."""

    id: str
    created_at: int
    metadata: msgspec.Raw
    object: Literal["conversation"] = "conversation"


class DeletedConversation(msgspec.Struct):
    """``DeletedConversationResource``: what conversation delete answers."""

    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool = True


class ItemList(msgspec.Struct):
    """``ConversationItemList``: what items create and items list answer."""

    data: list[msgspec.Raw]
    first_id: str | None
    last_id: str | None
    has_more: bool
    object: Literal["list"] = "list"


class ConversationList(msgspec.Struct):
    """parley's own list of conversations (``GET /v1/conversations``)."""

    data: list[Conversation]
    first_id: str | None
    last_id: str | None
    has_more: bool
    object: Literal["list"] = "list"


# The date filters that the conversation list and search share (one definition, one OpenAPI text).
_UnixTime = Annotated[int, msgspec.Meta(ge=0)]
CreatedAfter = Annotated[
    _UnixTime | None,
    msgspec.Meta(description="Keep conversations created after this Unix time (exclusive)."),
]
CreatedBefore = Annotated[
    _UnixTime | None,
    msgspec.Meta(description="Keep conversations created before this Unix time (exclusive)."),
]
UpdatedAfter = Annotated[
    _UnixTime | None,
    msgspec.Meta(
        description="Keep conversations updated (items or metadata) after this Unix time "
        "(exclusive)."
    ),
]


class ConversationListQuery(msgspec.Struct):
    """The query parameters of ``GET /v1/conversations`` (its OpenAPI parameters)."""

    metadata: Annotated[
        dict[str, str],
        msgspec.Meta(
            description="Keep conversations whose metadata has every pair: metadata[KEY]=VALUE."
        ),
    ] = {}
    limit: Annotated[int, msgspec.Meta(ge=MIN_LIMIT, le=MAX_LIMIT)] = DEFAULT_LIMIT
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    created_after: CreatedAfter = None
    created_before: CreatedBefore = None
    updated_after: UpdatedAfter = None


class SearchQuery(msgspec.Struct):
    """The query parameters of ``GET /v1/conversations/search`` (its OpenAPI parameters)."""

    q: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=1000,
            description='What was said. SQLite: FTS5 syntax (words, "a phrase", prefix*, '
            "AND/OR/NOT; anything else is searched as plain words). PostgreSQL: "
            'websearch_to_tsquery syntax (words, "a phrase", OR, -word). Case folded, no '
            "stemming.",
        ),
    ]
    metadata: Annotated[
        dict[str, str],
        msgspec.Meta(description="Keep conversations whose metadata has every pair."),
    ] = {}
    created_after: CreatedAfter = None
    created_before: CreatedBefore = None
    updated_after: UpdatedAfter = None
    limit: Annotated[int, msgspec.Meta(ge=MIN_LIMIT, le=MAX_LIMIT)] = DEFAULT_LIMIT
    page: Annotated[
        str | None, msgspec.Meta(description="The next_page of the previous answer.")
    ] = None


class ForkRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /v1/conversations/{conversation_id}/fork`` (its OpenAPI schema)."""

    after_item: Annotated[
        str | None,
        msgspec.Meta(description="Copy the items up to and including this one (all when absent)."),
    ] = None
    metadata: Annotated[
        Annotated[dict[str, str], msgspec.Meta(max_length=MAX_METADATA_PAIRS)] | None,
        msgspec.Meta(description="The fork's metadata; the source's when absent or null."),
    ] = None


class Health(msgspec.Struct):
    """The server is up."""

    status: Literal["ok"]


class NewItem(msgspec.Struct):
    """An item ready to store: its id, type and full output JSON."""

    id: str
    type: str
    data: bytes


class ItemPage(msgspec.Struct):
    """One page of items as the store returns it (raw JSON per item)."""

    items: list[tuple[str, bytes]]
    has_more: bool


class ConversationPage(msgspec.Struct):
    """One page of conversations as the store returns it."""

    conversations: list[ConversationRecord]
    has_more: bool


class ConversationRecord(msgspec.Struct):
    """A conversation as the store returns it; metadata is stored JSON text."""

    id: str
    created_at: int
    metadata: bytes

    def wire(self) -> Conversation:
        """The wire object."""
        return Conversation(self.id, self.created_at, msgspec.Raw(self.metadata))


class ResponseRecord(msgspec.Struct):
    """A stored response: the Response JSON as answered, its input items, what it continued."""

    id: str
    created_at: int
    data: bytes
    # A JSON array of the response's input items, in their stored form.
    input_items: bytes
    previous_response_id: str | None = None


class ApiKeyInfo(msgspec.Struct):
    """An API key as listed: never the key itself, only a short hint."""

    id: str
    # `parley keys list --json` prints it as "project", as it always has.
    project_name: str = msgspec.field(name="project")
    name: str
    hint: str
    created_at: int
    revoked_at: int | None = None
    last_used_at: int | None = None


class DashboardSession(msgspec.Struct):
    """A live dashboard session: whose key it came from and what that key may see."""

    key_id: str
    project: str
    project_name: str
    expires_at: int


class ConversationSummary(msgspec.Struct):
    """What a conversation list row shows beyond the wire object."""

    updated_at: int
    item_count: int


class TimeFilter(msgspec.Struct, frozen=True):
    """Time bounds of a conversation list (Unix seconds, each exclusive; None: unbounded)."""

    created_after: int | None = None
    created_before: int | None = None
    updated_after: int | None = None


NO_TIME_FILTER = TimeFilter()


class Usage(msgspec.Struct):
    """What one project stores (``GET /v1/usage``, a parley extension)."""

    conversations: int
    items: int
    stored_bytes: Annotated[
        int,
        msgspec.Meta(
            description="Bytes of stored metadata, item JSON and stored responses (with their "
            "input items)."
        ),
    ]
    responses: Annotated[int, msgspec.Meta(description="Stored responses (Responses API).")] = 0
    tokens: Annotated[
        int, msgspec.Meta(description="Total tokens of the stored responses (their usage).")
    ] = 0
    object: Literal["usage"] = "usage"


class SearchRow(msgspec.Struct):
    """One conversation found by search, as the store returns it.

    ``rank`` orders hits (lower is better) and, with ``key``, makes the page cursor.
    """

    record: ConversationRecord
    rank: float
    key: int
    items: list[tuple[str, str]]


class SearchItem(msgspec.Struct):
    """A matching item of a search hit and a snippet of its text."""

    id: str
    snippet: str


class SearchHit(msgspec.Struct):
    """One search result: the conversation, its relevance, its best matching items."""

    conversation: Conversation
    score: Annotated[
        float,
        msgspec.Meta(
            description="Relevance, higher is better (bm25 on SQLite, ts_rank on PostgreSQL): "
            "compare within one answer only."
        ),
    ]
    items: Annotated[
        list[SearchItem],
        msgspec.Meta(
            description="The best matching items (at most 10), each with a snippet whose "
            "matched words sit between ** marks."
        ),
    ]
    object: Literal["conversation.search_result"] = "conversation.search_result"


class SearchPage(msgspec.Struct):
    """A page of search results (``GET /v1/conversations/search``, a parley extension)."""

    data: list[SearchHit]
    has_more: bool
    next_page: Annotated[str | None, msgspec.Meta(description="Pass as `page` for the next page.")]
    object: Literal["list"] = "list"


class ProjectInfo(msgspec.Struct):
    """A project as `parley projects list` shows it."""

    name: str
    created_at: int
    retention_seconds: int | None
    active_keys: int
    usage: Usage
