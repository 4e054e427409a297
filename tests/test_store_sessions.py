"""The dashboard's part of the Store contract, on every backend: sessions, key use, summaries."""

from __future__ import annotations

import hashlib

from parley import auth
from parley.store import Store
from tests.test_store import contract, item, store_url  # noqa: F401  (store_url: a fixture)


def digest(text: str) -> bytes:
    """A stand-in token hash."""
    return hashlib.sha256(text.encode()).digest()


@contract
async def test_a_session_lives_until_it_expires_or_ends(store: Store) -> None:
    plain, info = await auth.create_key(store, "alpha", name="k")
    session = await store.create_session(
        key_hash=auth.hash_key(plain), token_hash=digest("t1"), created_at=100, expires_at=200
    )
    assert session is not None and session.key_id == info.id
    assert session.project_name == "alpha"
    assert session.project == await store.project_for_key(auth.hash_key(plain))
    assert await store.find_session(digest("t1"), 199) == session
    assert await store.find_session(digest("t1"), 200) is None  # expired
    assert await store.find_session(digest("other"), 150) is None
    await store.end_session(digest("t1"))
    assert await store.find_session(digest("t1"), 150) is None


@contract
async def test_an_unknown_or_revoked_key_gets_no_session(store: Store) -> None:
    assert (
        await store.create_session(
            key_hash=digest("nope"), token_hash=digest("t"), created_at=1, expires_at=9
        )
        is None
    )
    plain, info = await auth.create_key(store, "alpha")
    await store.revoke_api_key(info.id)
    assert (
        await store.create_session(
            key_hash=auth.hash_key(plain), token_hash=digest("t"), created_at=1, expires_at=9
        )
        is None
    )


@contract
async def test_revoking_a_key_ends_only_its_sessions(store: Store) -> None:
    first, first_info = await auth.create_key(store, "alpha")
    second, _ = await auth.create_key(store, "alpha")
    for key, token in ((first, "a"), (first, "b"), (second, "c")):
        await store.create_session(
            key_hash=auth.hash_key(key), token_hash=digest(token), created_at=1, expires_at=10**12
        )
    assert await store.revoke_api_key(first_info.id)
    assert await store.find_session(digest("a"), 2) is None
    assert await store.find_session(digest("b"), 2) is None
    assert await store.find_session(digest("c"), 2) is not None


@contract
async def test_key_use_only_moves_forward_and_shows_in_the_list(store: Store) -> None:
    plain, info = await auth.create_key(store, "alpha")
    assert (await store.list_api_keys())[0].last_used_at is None
    await store.touch_api_key(auth.hash_key(plain), 500)
    await store.touch_api_key(auth.hash_key(plain), 400)
    listed = {k.id: k for k in await store.list_api_keys()}
    assert listed[info.id].last_used_at == 500


@contract
async def test_summaries_stay_in_their_project(store: Store) -> None:
    alpha = await store.ensure_project("alpha")
    beta = await store.ensure_project("beta")
    await store.create_conversation(alpha, "conv_a", 10, b"{}", [item("msg_1"), item("msg_2")])
    await store.create_conversation(beta, "conv_b", 10, b"{}", [item("msg_3")])
    await store.create_items(alpha, "conv_a", [item("msg_4")], 20)
    found = await store.conversation_summaries(alpha, ["conv_a", "conv_b", "conv_x"])
    assert list(found) == ["conv_a"]
    assert found["conv_a"].item_count == 3 and found["conv_a"].updated_at >= 10
    assert await store.conversation_summaries(alpha, []) == {}
