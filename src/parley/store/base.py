"""The Store protocol: parley's whole persistence contract, every call scoped by project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from parley.models import (
    NO_TIME_FILTER,
    ApiKeyInfo,
    ConversationPage,
    ConversationRecord,
    ConversationSummary,
    DashboardSession,
    ItemPage,
    NewItem,
    ProjectInfo,
    ResponseRecord,
    SearchRow,
    TimeFilter,
    Usage,
)

if TYPE_CHECKING:
    from parley.ratelimit import RateLimiter

Order = Literal["asc", "desc"]


class Store(Protocol):
    """What a backend provides. Conversations and items never cross projects.

    Methods raise :class:`parley.errors.NotFound` for an unknown conversation or item (or one
    that belongs to another project: the two are indistinguishable by design), and
    :class:`parley.errors.InvalidRequest` for a write the data forbids (a duplicate item id).
    """

    # True when the hot methods check the request's owed key (parley.keycheck) inside their
    # own statements, and settle it before any other statement runs.
    checks_keys_in_statements: bool

    async def open(self) -> None:
        """Connect, apply migrations if allowed, start background work."""

    async def close(self) -> None:
        """Finish every accepted write, then release all resources."""

    def rate_limiter(self, rate: float, burst: int) -> RateLimiter:
        """A per-key limiter whose state lives where every process of this store sees it."""

    async def ensure_project(self, name: str) -> str:
        """The id of the project called ``name``, creating it if needed."""

    async def add_api_key(
        self, *, key_id: str, project_name: str, name: str, hint: str, key_hash: bytes
    ) -> ApiKeyInfo:
        """Record a new key (its hash only) for the project called ``project_name``.

        Raises :class:`parley.errors.KeyExists` when a key with this hash exists, revoked or
        not, whoever inserted it first (no check-then-insert race between processes).
        """

    async def project_for_key(self, key_hash: bytes) -> str | None:
        """The project id of an active key with this hash, else None."""

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        """Every key, newest first, revoked ones included."""

    async def revoke_api_key(self, key_id: str) -> bool:
        """Revoke a key by id; False when no active key has that id."""

    async def count_api_keys(self) -> int:
        """How many keys exist, revoked ones included."""

    async def touch_api_key(self, key_hash: bytes, when: int) -> None:
        """Record that the key with this hash was used at ``when`` (the keys page shows it)."""

    async def create_session(
        self, *, key_hash: bytes, token_hash: bytes, created_at: int, expires_at: int
    ) -> DashboardSession | None:
        """Start a dashboard session for the active key with ``key_hash``; None if none."""

    async def find_session(self, token_hash: bytes, now: int) -> DashboardSession | None:
        """The session with this token hash, if unexpired at ``now`` and its key unrevoked."""

    async def end_session(self, token_hash: bytes) -> None:
        """Forget a session (sign out)."""

    async def conversation_summaries(
        self, project: str, conversation_ids: list[str]
    ) -> dict[str, ConversationSummary]:
        """Last-update time and item count of those of ``conversation_ids`` in ``project``."""

    async def conversation_project_name(self, conversation_id: str) -> str | None:
        """The name of the project holding ``conversation_id``, whichever it is, else None.

        For operators' tools (import) only: the API never looks across projects.
        """

    async def create_conversation(
        self,
        project: str,
        conversation_id: str,
        created_at: int,
        metadata: bytes,
        items: list[NewItem],
    ) -> ConversationRecord:
        """Store a new conversation and its first items, atomically."""

    async def retrieve_conversation(self, project: str, conversation_id: str) -> ConversationRecord:
        """One conversation."""

    async def update_conversation(
        self, project: str, conversation_id: str, metadata: bytes
    ) -> ConversationRecord:
        """Replace a conversation's metadata."""

    async def delete_conversation(self, project: str, conversation_id: str) -> None:
        """Delete a conversation and all its items."""

    async def list_conversations(
        self,
        project: str,
        *,
        metadata: list[tuple[str, str]],
        after: str | None,
        limit: int,
        order: Order,
        times: TimeFilter = NO_TIME_FILTER,
    ) -> ConversationPage:
        """A page of the project's conversations in (created_at, seq) order, after ``after``
        (keyset), keeping those whose metadata holds every (key, value) pair given and that
        fall within ``times``."""

    async def create_items(
        self, project: str, conversation_id: str, items: list[NewItem], created_at: int
    ) -> None:
        """Append items; they take consecutive positions, in order, atomically."""

    async def list_items(
        self,
        project: str,
        conversation_id: str,
        *,
        after: str | None,
        limit: int,
        order: Order,
    ) -> ItemPage:
        """A page of items in position order, after the item ``after`` (keyset)."""

    async def retrieve_item(self, project: str, conversation_id: str, item_id: str) -> bytes:
        """One item's stored JSON."""

    async def delete_item(
        self, project: str, conversation_id: str, item_id: str
    ) -> ConversationRecord:
        """Delete one item; return its conversation."""

    async def find_item(self, project: str, item_id: str) -> bytes | None:
        """The newest item of ``project`` with this id, in any conversation (item references)."""

    async def fork_conversation(
        self,
        project: str,
        conversation_id: str,
        *,
        new_id: str,
        created_at: int,
        after_item: str | None,
        metadata: bytes | None,
    ) -> ConversationRecord:
        """A new conversation holding copies (new ids, same order) of the source's items up to
        and including ``after_item`` (all when None), atomically; metadata copied when None."""

    async def usage(self, project: str) -> Usage:
        """How many conversations and items ``project`` stores, and their size in bytes."""

    async def commit_response(
        self,
        project: str,
        conversation_id: str | None,
        items: list[NewItem],
        created_at: int,
        response: ResponseRecord | None,
    ) -> None:
        """One transaction: append a response's items to its conversation (if any, adjacent and
        in order) and store the response (if given). 404 when the conversation is gone."""

    async def retrieve_response(self, project: str, response_id: str) -> ResponseRecord:
        """A stored response; NotFound for an unknown one or another project's."""

    async def delete_response(self, project: str, response_id: str) -> None:
        """Delete a stored response; NotFound for an unknown one or another project's."""

    async def search_conversations(
        self,
        project: str,
        query: str,
        *,
        metadata: list[tuple[str, str]],
        times: TimeFilter,
        page: tuple[float, int] | None,
        limit: int,
    ) -> tuple[list[SearchRow], bool]:
        """The project's conversations whose items' text matches ``query``, best first, each
        with its best matching items and snippets; ``page`` is the last row's (rank, key)."""

    async def set_retention(self, name: str, seconds: int | None) -> bool:
        """Keep the conversations of project ``name`` this long after their last update
        (None: forever); False when no project has that name."""

    async def list_projects(self) -> list[ProjectInfo]:
        """Every project by name, with its retention, active keys and usage."""

    async def sweep_expired(self, now: int, limit: int) -> int:
        """Delete at most ``limit`` conversations (with their items) that their project's
        retention has expired at ``now``; return how many went."""
