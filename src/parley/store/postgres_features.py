"""PostgreSQL store methods of parley's own features: fork, search, usage, retention."""

from __future__ import annotations

from parley.errors import conversation_not_found, item_not_found
from parley.models import ConversationRecord, ProjectInfo, SearchRow, TimeFilter, Usage
from parley.search import MAX_ITEMS_PER_HIT
from parley.store import postgres_extensions as extensions
from parley.store import shared
from parley.store.postgres_core import LAST, PostgresCore, insert_conversation, utf8


class PostgresFeatures(PostgresCore):
    """Fork, search, usage and retention of :class:`parley.store.postgres.PostgresStore`."""

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
        async with self._conn() as conn, conn.transaction():
            # The source's row lock (shared) holds appends off until the copy is made.
            source = await conn.fetchrow(extensions.SQL_FORK_SOURCE, conversation_id, project)
            if source is None:
                raise conversation_not_found(conversation_id)
            seq, source_metadata = source
            last = LAST
            if after_item is not None:
                last = await conn.fetchval(extensions.SQL_ITEM_POSITION, seq, after_item)
                if last is None:
                    raise item_not_found(after_item)
            rows = await conn.fetch(extensions.SQL_FORK_ITEMS, seq, last)
            items = shared.renewed([bytes(row[0]) for row in rows])
            kept = bytes(source_metadata) if metadata is None else metadata
            await insert_conversation(conn, project, new_id, created_at, kept, items)
        return ConversationRecord(new_id, created_at, kept)

    async def set_retention(self, name: str, seconds: int | None) -> bool:
        row = await self._fetchrow(extensions.SQL_SET_RETENTION, name, seconds)
        return row is not None

    async def list_projects(self) -> list[ProjectInfo]:
        async with self._conn() as conn:
            rows = await conn.fetch(extensions.SQL_LIST_PROJECTS)
            found = []
            for project_id, name, created, retention, keys in rows:
                figures = await conn.fetchrow(extensions.SQL_USAGE, project_id)
                found.append(
                    ProjectInfo(
                        str(name),
                        int(created),
                        None if retention is None else int(retention),
                        int(keys),
                        extensions.usage_of(figures),
                    )
                )
        return found

    async def sweep_expired(self, now: int, limit: int) -> int:
        async with self._conn() as conn:
            gone: str = await conn.execute(extensions.SQL_SWEEP_RESPONSES, now, limit)
            status: str = await conn.execute(extensions.SQL_SWEEP, now, limit)
        return int(gone.split()[-1]) + int(status.split()[-1])

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
        sql, args = extensions.search_query(
            project, query, [(utf8(k), utf8(v)) for k, v in metadata], times, page
        )
        async with self._conn() as conn:
            rows = await conn.fetch(sql, *args, limit + 1)
            found: dict[int, list[tuple[str, str]]] = {row[0]: [] for row in rows[:limit]}
            if found:
                for conversation, item_id, snippet in await conn.fetch(
                    extensions.SQL_SEARCH_ITEMS,
                    query,
                    list(found),
                    extensions.scope_query(project),
                ):
                    if len(found[conversation]) < MAX_ITEMS_PER_HIT:
                        found[conversation].append((str(item_id), str(snippet)))
        results = [
            SearchRow(
                ConversationRecord(row[1], row[2], bytes(row[3])),
                float(row[4]),
                row[0],
                found[row[0]],
            )
            for row in rows[:limit]
        ]
        return results, len(rows) > limit

    async def usage(self, project: str) -> Usage:
        row = await self._fetchrow(extensions.SQL_USAGE, project)
        return extensions.usage_of(row)
