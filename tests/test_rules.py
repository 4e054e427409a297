"""Rules every entry point obeys, written once below the HTTP layer: item preparation (NUL,
references, repeated ids) and which store a --database value names."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from parley import transfer
from parley.errors import InvalidRequest, NotFound
from parley.items import parse_items, prepare_items
from parley.store import DatabaseURL, open_store, parse_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("parley.db", DatabaseURL("sqlite", "parley.db")),
        ("sqlite:///parley.db", DatabaseURL("sqlite", "parley.db")),
        ("sqlite:////var/lib/parley.db", DatabaseURL("sqlite", "/var/lib/parley.db")),
        ("sqlite://parley.db", DatabaseURL("sqlite", "parley.db")),
        ("postgresql://u@db/parley", DatabaseURL("postgres", "postgresql://u@db/parley")),
        ("postgres://db/parley", DatabaseURL("postgres", "postgres://db/parley")),
    ],
)
def test_one_reading_of_a_database_url(url: str, expected: DatabaseURL) -> None:
    assert parse_url(url) == expected


def _line(conversation_id: str, items: list[dict[str, object]]) -> bytes:
    return msgspec.json.encode({"id": conversation_id, "created_at": 1, "items": items})


def test_import_and_the_api_prepare_items_alike(tmp_path: Path) -> None:
    message = {"type": "message", "role": "user", "content": "x"}

    async def run() -> None:
        store = open_store(str(tmp_path / "rules.db"))
        await store.open()
        try:
            project = await store.ensure_project("rules")
            parsed = parse_items(
                [{**message, "id": "msg_a"}, {"type": "item_reference", "id": "msg_a"}]
            )
            with pytest.raises(NotFound, match="Item with id 'msg_a' not found"):
                await prepare_items(store, project, parsed)
            lines = [
                _line("conv_nul", [{**message, "id": "msg_\u0000"}]),
                _line("conv_ref", [{"type": "item_reference", "id": "msg_a"}]),
                _line("conv_twice", [{**message, "id": "msg_b"}, {**message, "id": "msg_b"}]),
                _line("conv_good", [{**message, "id": "msg_c"}]),
            ]
            summary = await transfer.import_lines(store, project, lines)
            assert summary.imported == 1 and summary.items == 1
            failed = "\n".join(summary.failed)
            assert "conv_nul" in failed and "NUL character" in failed
            assert "conv_ref" in failed and "item reference" in failed
            assert "conv_twice" in failed and "Duplicate item found with id 'msg_b'" in failed
            for missing in ("conv_nul", "conv_ref", "conv_twice"):
                with pytest.raises(NotFound):
                    await store.retrieve_conversation(project, missing)
            # With references allowed, the copy gets an id of its own.
            copied = await prepare_items(
                store, project, parse_items([{"type": "item_reference", "id": "msg_c"}])
            )
            assert copied[0].id != "msg_c" and copied[0].id.startswith("msg_")
            with pytest.raises(InvalidRequest) as caught:
                await prepare_items(store, project, parse_items([{**message, "id": "m\u0000"}]))
            assert (caught.value.param, caught.value.code) == ("items[0].id", "invalid_value")
        finally:
            await store.close()

    asyncio.run(run())
