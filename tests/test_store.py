"""The Store contract, run against every backend: a fresh SQLite file and a fresh PostgreSQL
database per test, calling the store's methods directly."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from parley.errors import InvalidRequest, NotFound, ServiceUnavailable
from parley.models import NewItem
from parley.store import Store, open_store
from tests.conftest import POSTGRES_SKIP, POSTGRES_URL

Body = Callable[[Store], Awaitable[None]]


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(
                    POSTGRES_URL is None,
                    reason=POSTGRES_SKIP,
                ),
            ],
        ),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "parley.db")
        return
    from tests.pg import fresh_database

    with fresh_database() as url:
        yield url


def contract(body: Body) -> Callable[[str], None]:
    """Turn ``async def test_x(store)`` into a test run against an open store of each backend."""

    def test(store_url: str) -> None:
        async def main() -> None:
            store = open_store(store_url)
            await store.open()
            try:
                await body(store)
            finally:
                await store.close()

        asyncio.run(main())

    test.__name__ = body.__name__
    test.__doc__ = body.__doc__
    return test


def item(item_id: str, text: str = "hi") -> NewItem:
    """A stored message item; its bytes keep an unusual key order on purpose."""
    data = f'{{"type":"message","id":"{item_id}","status":"completed","role":"user",'
    data += f'"content":[{{"type":"input_text","text":"{text}"}}]}}'
    return NewItem(item_id, "message", data.encode())


async def ids_of(store: Store, project: str, conv: str, **options: object) -> list[str]:
    """Every item id of a conversation, walking pages with ``after``."""
    seen: list[str] = []
    after: str | None = None
    settings: dict[str, object] = {"limit": 100, "order": "asc", **options}
    while True:
        page = await store.list_items(project, conv, after=after, **settings)  # type: ignore[arg-type]
        seen += [item_id for item_id, _ in page.items]
        if not page.has_more:
            return seen
        after = page.items[-1][0]


@contract
async def test_conversation_round_trip_keeps_metadata_bytes(store: Store) -> None:
    project = await store.ensure_project("acme")
    metadata = b'{"zeta":"1","alpha":"2"}'
    record = await store.create_conversation(project, "conv_1", 1700000000, metadata, [])
    assert (record.id, record.created_at, record.metadata) == ("conv_1", 1700000000, metadata)
    again = await store.retrieve_conversation(project, "conv_1")
    assert (again.id, again.created_at, again.metadata) == ("conv_1", 1700000000, metadata)
    updated = await store.update_conversation(project, "conv_1", b'{"b":"x","a":"y"}')
    assert updated.metadata == b'{"b":"x","a":"y"}' and updated.created_at == 1700000000
    assert (await store.retrieve_conversation(project, "conv_1")).metadata == updated.metadata


@contract
async def test_items_keep_call_order_and_bytes(store: Store) -> None:
    project = await store.ensure_project("acme")
    first = [item("msg_c"), item("msg_a"), item("msg_b")]
    await store.create_conversation(project, "conv_1", 1, b"{}", first)
    await store.create_items(project, "conv_1", [item("msg_z"), item("msg_y")], 2)
    await store.create_items(project, "conv_1", [item("msg_x")], 3)
    expected = ["msg_c", "msg_a", "msg_b", "msg_z", "msg_y", "msg_x"]
    assert await ids_of(store, project, "conv_1") == expected
    assert await ids_of(store, project, "conv_1", order="desc") == expected[::-1]
    assert await store.retrieve_item(project, "conv_1", "msg_z") == item("msg_z").data
    page = await store.list_items(project, "conv_1", after=None, limit=1, order="asc")
    assert page.items == [("msg_c", item("msg_c").data)]


@contract
async def test_keyset_pages_in_both_orders(store: Store) -> None:
    project = await store.ensure_project("acme")
    names = [f"msg_{i}" for i in range(7)]
    await store.create_conversation(project, "conv_1", 1, b"{}", [item(n) for n in names])
    pages = []
    after: str | None = None
    while True:
        page = await store.list_items(project, "conv_1", after=after, limit=3, order="asc")
        pages.append(([i for i, _ in page.items], page.has_more))
        if not page.has_more:
            break
        after = page.items[-1][0]
    assert pages == [(names[0:3], True), (names[3:6], True), (names[6:], False)]
    page = await store.list_items(project, "conv_1", after="msg_4", limit=10, order="desc")
    assert [i for i, _ in page.items] == ["msg_3", "msg_2", "msg_1", "msg_0"]
    assert page.has_more is False
    page = await store.list_items(project, "conv_1", after=None, limit=7, order="desc")
    assert [i for i, _ in page.items] == names[::-1] and page.has_more is False
    page = await store.list_items(project, "conv_1", after=None, limit=6, order="desc")
    assert page.has_more is True
    page = await store.list_items(project, "conv_1", after="msg_6", limit=5, order="asc")
    assert page.items == [] and page.has_more is False


@contract
async def test_not_found_errors_name_what_is_missing(store: Store) -> None:
    project = await store.ensure_project("acme")
    await store.create_conversation(project, "conv_1", 1, b"{}", [item("msg_1")])
    with pytest.raises(NotFound, match="Conversation with id 'conv_x' not found"):
        await store.retrieve_conversation(project, "conv_x")
    with pytest.raises(NotFound, match="Conversation with id 'conv_x'"):
        await store.list_items(project, "conv_x", after=None, limit=5, order="asc")
    with pytest.raises(NotFound, match="Item with id 'msg_x' not found"):
        await store.list_items(project, "conv_1", after="msg_x", limit=5, order="asc")
    with pytest.raises(NotFound, match="Item with id 'msg_x'"):
        await store.retrieve_item(project, "conv_1", "msg_x")
    with pytest.raises(NotFound, match="Conversation with id 'conv_x'"):
        await store.retrieve_item(project, "conv_x", "msg_1")
    with pytest.raises(NotFound, match="Item with id 'msg_x'"):
        await store.delete_item(project, "conv_1", "msg_x")
    with pytest.raises(NotFound, match="Conversation with id 'conv_x'"):
        await store.create_items(project, "conv_x", [item("msg_2")], 2)
    assert await store.find_item(project, "msg_2") is None


@contract
async def test_duplicate_item_ids_are_rejected_atomically(store: Store) -> None:
    project = await store.ensure_project("acme")
    await store.create_conversation(project, "conv_1", 1, b"{}", [item("msg_1")])
    with pytest.raises(InvalidRequest) as caught:
        await store.create_items(project, "conv_1", [item("msg_2"), item("msg_1")], 2)
    assert caught.value.code == "duplicate_item"
    assert caught.value.param == "items[1].id"
    # Nothing of the failed call was stored, and the next append still follows on directly.
    assert await ids_of(store, project, "conv_1") == ["msg_1"]
    await store.create_items(project, "conv_1", [item("msg_2")], 3)
    assert await ids_of(store, project, "conv_1") == ["msg_1", "msg_2"]
    # Ids are unique per conversation only.
    await store.create_conversation(project, "conv_2", 4, b"{}", [item("msg_1")])
    assert await ids_of(store, project, "conv_2") == ["msg_1"]


@contract
async def test_a_failed_create_leaves_nothing_beside_a_good_one(store: Store) -> None:
    project = await store.ensure_project("acme")
    # Queued together, the two creates share one write batch where the backend batches.
    good, bad = await asyncio.gather(
        store.create_conversation(project, "conv_good", 1, b'{"k":"v"}', [item("msg_1")]),
        store.create_conversation(
            project, "conv_bad", 1, b'{"k":"v"}', [item("msg_1"), item("msg_2"), item("msg_1")]
        ),
        return_exceptions=True,
    )
    assert not isinstance(good, BaseException)
    assert isinstance(bad, InvalidRequest) and bad.code == "duplicate_item"
    assert bad.param == "items[2].id"
    with pytest.raises(NotFound):
        await store.retrieve_conversation(project, "conv_bad")
    with pytest.raises(NotFound):
        await store.list_items(project, "conv_bad", after=None, limit=10, order="asc")
    page = await store.list_conversations(
        project, metadata=[("k", "v")], after=None, limit=10, order="asc"
    )
    assert [record.id for record in page.conversations] == ["conv_good"]
    assert await ids_of(store, project, "conv_good") == ["msg_1"]
    # The failed create's id is still free.
    await store.create_conversation(project, "conv_bad", 2, b"{}", [item("msg_3")])
    assert await ids_of(store, project, "conv_bad") == ["msg_3"]


@contract
async def test_delete_item_and_conversation_cascade(store: Store) -> None:
    project = await store.ensure_project("acme")
    metadata = b'{"k":"v"}'
    items = [item("msg_1"), item("msg_2"), item("msg_3")]
    await store.create_conversation(project, "conv_1", 5, metadata, items)
    record = await store.delete_item(project, "conv_1", "msg_2")
    assert (record.id, record.created_at, record.metadata) == ("conv_1", 5, metadata)
    assert await ids_of(store, project, "conv_1") == ["msg_1", "msg_3"]
    with pytest.raises(NotFound):
        await store.retrieve_item(project, "conv_1", "msg_2")
    with pytest.raises(NotFound):
        await store.delete_item(project, "conv_1", "msg_2")
    await store.create_items(project, "conv_1", [item("msg_2")], 6)
    assert await ids_of(store, project, "conv_1") == ["msg_1", "msg_3", "msg_2"]
    await store.delete_conversation(project, "conv_1")
    with pytest.raises(NotFound):
        await store.retrieve_conversation(project, "conv_1")
    with pytest.raises(NotFound):
        await store.list_items(project, "conv_1", after=None, limit=5, order="asc")
    with pytest.raises(NotFound):
        await store.delete_conversation(project, "conv_1")
    assert await store.find_item(project, "msg_1") is None
    # The id is free again, and nothing of the old conversation comes back with it.
    await store.create_conversation(project, "conv_1", 7, b"{}", [])
    assert await ids_of(store, project, "conv_1") == []


@contract
async def test_projects_never_see_each_other(store: Store) -> None:
    mine = await store.ensure_project("mine")
    theirs = await store.ensure_project("theirs")
    assert mine != theirs
    await store.create_conversation(mine, "conv_1", 1, b'{"a":"b"}', [item("msg_1")])
    with pytest.raises(NotFound):
        await store.retrieve_conversation(theirs, "conv_1")
    with pytest.raises(NotFound):
        await store.update_conversation(theirs, "conv_1", b"{}")
    with pytest.raises(NotFound):
        await store.delete_conversation(theirs, "conv_1")
    with pytest.raises(NotFound):
        await store.create_items(theirs, "conv_1", [item("msg_2")], 2)
    with pytest.raises(NotFound):
        await store.list_items(theirs, "conv_1", after=None, limit=5, order="asc")
    with pytest.raises(NotFound):
        await store.retrieve_item(theirs, "conv_1", "msg_1")
    with pytest.raises(NotFound):
        await store.delete_item(theirs, "conv_1", "msg_1")
    assert await store.find_item(theirs, "msg_1") is None
    page = await store.list_conversations(theirs, metadata=[], after=None, limit=10, order="asc")
    assert page.conversations == []
    # The owner's data is untouched by all of that.
    assert (await store.retrieve_conversation(mine, "conv_1")).metadata == b'{"a":"b"}'
    assert await ids_of(store, mine, "conv_1") == ["msg_1"]
    assert await store.find_item(mine, "msg_1") == item("msg_1").data


@contract
async def test_find_item_takes_the_newest_copy_in_the_project(store: Store) -> None:
    project = await store.ensure_project("acme")
    await store.create_conversation(project, "conv_1", 1, b"{}", [item("msg_1", "old")])
    await store.create_conversation(project, "conv_2", 2, b"{}", [item("msg_1", "new")])
    assert await store.find_item(project, "msg_1") == item("msg_1", "new").data


@contract
async def test_list_conversations_keyset_and_metadata(store: Store) -> None:
    project = await store.ensure_project("acme")
    for n in range(5):
        metadata = f'{{"n":"{n}","parity":"{"even" if n % 2 == 0 else "odd"}"}}'.encode()
        await store.create_conversation(project, f"conv_{n}", n, metadata, [])
    page = await store.list_conversations(project, metadata=[], after=None, limit=2, order="desc")
    assert [c.id for c in page.conversations] == ["conv_4", "conv_3"] and page.has_more
    page = await store.list_conversations(
        project, metadata=[], after="conv_3", limit=5, order="desc"
    )
    assert [c.id for c in page.conversations] == ["conv_2", "conv_1", "conv_0"]
    assert not page.has_more
    even = await store.list_conversations(
        project, metadata=[("parity", "even")], after=None, limit=10, order="asc"
    )
    assert [c.id for c in even.conversations] == ["conv_0", "conv_2", "conv_4"]
    both = await store.list_conversations(
        project, metadata=[("parity", "even"), ("n", "2")], after=None, limit=10, order="asc"
    )
    assert [c.id for c in both.conversations] == ["conv_2"]
    await store.update_conversation(project, "conv_2", b'{"parity":"odd"}')
    even = await store.list_conversations(
        project, metadata=[("parity", "even")], after=None, limit=10, order="asc"
    )
    assert [c.id for c in even.conversations] == ["conv_0", "conv_4"]


@contract
async def test_keys_resolve_to_their_project_until_revoked(store: Store) -> None:
    assert await store.count_api_keys() == 0
    info = await store.add_api_key(
        key_id="key_1", project_name="acme", name="ci", hint="sk-…abcd", key_hash=b"h1" * 16
    )
    assert (info.id, info.project_name, info.name, info.hint) == ("key_1", "acme", "ci", "sk-…abcd")
    await store.add_api_key(
        key_id="key_2", project_name="acme", name="", hint="sk-…efgh", key_hash=b"h2" * 16
    )
    acme = await store.ensure_project("acme")
    assert await store.ensure_project("acme") == acme
    assert await store.project_for_key(b"h1" * 16) == acme
    assert await store.project_for_key(b"nope") is None
    assert await store.revoke_api_key("key_1") is True
    assert await store.revoke_api_key("key_1") is False
    assert await store.revoke_api_key("key_404") is False
    assert await store.project_for_key(b"h1" * 16) is None
    assert await store.project_for_key(b"h2" * 16) == acme
    listed = {key.id: key for key in await store.list_api_keys()}
    assert set(listed) == {"key_1", "key_2"} and await store.count_api_keys() == 2
    assert listed["key_1"].revoked_at is not None and listed["key_2"].revoked_at is None
    assert listed["key_1"].project_name == "acme"


@contract
async def test_concurrent_updates_leave_the_index_equal_to_the_metadata(store: Store) -> None:
    """After a storm of concurrent updates, a metadata filter finds the conversation for
    exactly the pairs its stored metadata holds (PostgreSQL once kept stale index rows)."""
    project = await store.ensure_project("acme")
    await store.create_conversation(project, "conv_1", 1, b'{"a":"1"}', [])
    await store.create_conversation(project, "conv_2", 2, b'{"a":"1"}', [])  # never updated
    written: set[tuple[str, str]] = {("a", "1")}
    for round_ in range(10):
        bodies = [{f"r{round_}": str(i), "b": str(i), "shared": "x"} for i in range(30)]
        await asyncio.gather(
            *(
                store.update_conversation(project, "conv_1", json.dumps(body).encode())
                for body in bodies
            )
        )
        written |= {pair for body in bodies for pair in body.items()}
        stored = json.loads((await store.retrieve_conversation(project, "conv_1")).metadata)
        assert stored in bodies
        for pair in sorted(written):
            page = await store.list_conversations(
                project, metadata=[pair], after=None, limit=10, order="asc"
            )
            found = "conv_1" in [c.id for c in page.conversations]
            assert found == (stored.get(pair[0]) == pair[1]), (round_, pair, stored)
    page = await store.list_conversations(
        project, metadata=[("a", "1")], after=None, limit=10, order="asc"
    )
    assert [c.id for c in page.conversations] == ["conv_2"]


def test_a_runaway_read_is_cancelled_at_its_budget_and_others_go_on(store_url: str) -> None:
    """A read past ``statement_timeout`` ends in a 503 on both backends, and while it runs the
    event loop serves others (SQLite reads once ran on the loop for as long as they took)."""

    async def main() -> None:
        postgres = store_url.startswith("postgres")
        rows = 10_000 if postgres else 30_000
        seeder = open_store(store_url)
        await seeder.open()
        try:
            project = await seeder.ensure_project("acme")
            sixteen = json.dumps({f"k{i}": "v" for i in range(16)}).encode()
            for start in range(0, rows, 500):  # concurrent, so commits and round trips batch
                await asyncio.gather(
                    *(
                        seeder.create_conversation(project, f"conv_{n}", n, sixteen, [])
                        for n in range(start, start + 500)
                    )
                )
        finally:
            await seeder.close()
        # SQLite runs this filter over 30,000 rows in 0.33 s on a loaded 2-core machine (over
        # 10,000 rows it once finished inside a 0.1 s budget on a quiet one), so it gets three
        # times its budget. PostgreSQL, once its planner has statistics, may take under 20 ms
        # (a landing run failed so), so its budget is its smallest one: 1 ms.
        store = open_store(store_url, statement_timeout=0.001 if postgres else 0.1)
        await store.open()
        try:
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.create_task(tick())
            # The worst filter the API lets through: every row passes 15 pairs, fails the 16th.
            runaway = [(f"k{i}", "v") for i in range(15)] + [("k15", "no")]
            began = time.monotonic()
            with pytest.raises(ServiceUnavailable) as caught:
                await store.list_conversations(
                    project, metadata=runaway, after=None, limit=10, order="asc"
                )
            waited = time.monotonic() - began
            ticker.cancel()
            assert caught.value.code == "query_timeout" and caught.value.status == 503
            assert waited < 5
            if not postgres:  # asyncpg waits off the loop anyway
                assert ticks >= 5  # the loop went on while the read ran
            if not postgres:  # the loop's snapshot, interrupted, serves the next read as before
                page = await store.list_conversations(
                    project, metadata=[("k3", "v")], after=None, limit=3, order="desc"
                )
                newest = [c.id for c in page.conversations]
                assert newest == [f"conv_{rows - n}" for n in (1, 2, 3)]
        finally:
            await store.close()

    asyncio.run(main())


@contract
async def test_where_a_conversation_lives(store: Store) -> None:
    """Operators' look-up (import): the name of the project holding a conversation id."""
    acme = await store.ensure_project("acme")
    other = await store.ensure_project("other")
    await store.create_conversation(other, "conv_lives_in_other", 1, b"{}", [])
    assert await store.conversation_project_name("conv_lives_in_other") == "other"
    assert await store.conversation_project_name("conv_nowhere") is None
    with pytest.raises(NotFound):  # the API's scoped look-up is unchanged
        await store.retrieve_conversation(acme, "conv_lives_in_other")


@contract
async def test_a_walk_goes_on_after_its_cursor_was_deleted(store: Store) -> None:
    project = await store.ensure_project("acme")
    names = [f"msg_{i}" for i in range(6)]
    await store.create_conversation(project, "conv_1", 1, b"{}", [item(n) for n in names])
    first = await store.list_items(project, "conv_1", after=None, limit=2, order="asc")
    cursor = first.items[-1][0]
    await store.delete_item(project, "conv_1", cursor)  # someone deletes the cursor item
    await store.delete_item(project, "conv_1", "msg_2")  # and the one after it
    rest = await store.list_items(project, "conv_1", after=cursor, limit=10, order="asc")
    assert [i for i, _ in rest.items] == ["msg_3", "msg_4", "msg_5"]
    back = await store.list_items(project, "conv_1", after=cursor, limit=10, order="desc")
    assert [i for i, _ in back.items] == ["msg_0"]
    # Reused, the id names its new place; deleted again, the newest place counts.
    await store.create_items(project, "conv_1", [item(cursor)], 2)
    after_new = await store.list_items(project, "conv_1", after=cursor, limit=10, order="asc")
    assert after_new.items == []
    await store.delete_item(project, "conv_1", cursor)
    assert (
        await store.list_items(project, "conv_1", after=cursor, limit=9, order="asc")
    ).items == []
    with pytest.raises(NotFound):  # an id that never was is still unknown
        await store.list_items(project, "conv_1", after="msg_never", limit=5, order="asc")

    for n in range(5):
        await store.create_conversation(project, f"conv_l{n}", 10 + n, b"{}", [])
    page = await store.list_conversations(project, metadata=[], after=None, limit=2, order="desc")
    assert [c.id for c in page.conversations] == ["conv_l4", "conv_l3"]
    await store.delete_conversation(project, "conv_l3")
    await store.delete_conversation(project, "conv_l2")
    page = await store.list_conversations(
        project, metadata=[], after="conv_l3", limit=5, order="desc"
    )
    assert [c.id for c in page.conversations] == ["conv_l1", "conv_l0", "conv_1"]
    other = await store.ensure_project("other")
    with pytest.raises(NotFound):  # a tombstone is no way into another project
        await store.list_conversations(other, metadata=[], after="conv_l3", limit=5, order="desc")
    with pytest.raises(NotFound):
        await store.delete_conversation(project, "conv_l3")
