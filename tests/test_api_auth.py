"""API keys on the wire: 401 for a missing, wrong or revoked key; projects never see each other."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer, backends_with_pgbouncer
from tests.helpers import assert_error, assert_sdk_error


@pytest.fixture(scope="session", params=backends_with_pgbouncer())
def backend(request: pytest.FixtureRequest) -> str:
    """This module's tests also run through PgBouncer in transaction mode."""
    return str(request.param)


_MISSING = (
    r"You didn't provide an API key\. You need to provide your API key in an Authorization "
    r"header using Bearer auth \(i\.e\. Authorization: Bearer YOUR_KEY\)\..*"
)


def _routes(conversation_id: str, item_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """All eight routes, each as (method, path, JSON body)."""
    conv = f"/v1/conversations/{conversation_id}"
    return [
        ("POST", "/v1/conversations", {}),
        ("GET", conv, None),
        ("POST", conv, {"metadata": {"x": "y"}}),
        ("DELETE", conv, None),
        ("POST", f"{conv}/items", {"items": [{"role": "user", "content": "intruder"}]}),
        ("GET", f"{conv}/items", None),
        ("GET", f"{conv}/items/{item_id}", None),
        ("DELETE", f"{conv}/items/{item_id}", None),
    ]


# -- 401 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}],
    ids=["no header", "empty", "bearer without key", "basic"],
)
def test_missing_key_is_401_with_code_null_on_every_route(
    server: LiveServer, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as raw:
        for method, path, body in _routes("conv_x", "msg_x"):
            response = raw.request(method, path, json=body)
            assert_error(response, 401, code=None, param=None, message=_MISSING)


def test_wrong_key_is_401_invalid_api_key_and_the_key_is_not_echoed(server: LiveServer) -> None:
    wrong = "sk-wrong-0123456789abcdef0123456789"
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {wrong}"}, timeout=30
    ) as raw:
        for method, path, body in _routes("conv_x", "msg_x"):
            error = assert_error(
                raw.request(method, path, json=body),
                401,
                code="invalid_api_key",
                param=None,
                message=r"Incorrect API key provided: …6789\..*",
            )
            assert wrong not in error["message"]


def test_wrong_key_through_the_sdk_is_an_authentication_error(server: LiveServer) -> None:
    with server.client("sk-not-a-key-of-this-server") as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.conversations.create()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


def _cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m parley keys …` against the live server's database."""
    return subprocess.run(
        [sys.executable, "-m", "parley", "keys", *args, "--database", server.database],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_a_revoked_key_is_401_at_once(server: LiveServer) -> None:
    created = _cli(server, "create", "--project", "revocation-test", "--name", "short-lived")
    key = created.stdout.strip()
    match = re.search(r"key id (key_[0-9a-f]+)", created.stderr)
    assert match is not None, created.stderr
    with server.client(key) as sdk:
        conversation = sdk.conversations.create(metadata={"still": "here"})
        _cli(server, "revoke", match.group(1))
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.conversations.retrieve(conversation.id)
    assert_sdk_error(caught.value, 401, code="invalid_api_key", param=None)
    # The project's data outlives the key: a new key of the same project reads it.
    with server.client(server.new_key("revocation-test")) as again:
        assert again.conversations.retrieve(conversation.id).metadata == {"still": "here"}


def test_two_keys_of_one_project_share_its_conversations(server: LiveServer) -> None:
    project = "shared-project-test"
    with (
        server.client(server.new_key(project)) as first,
        server.client(server.new_key(project)) as second,
    ):
        conversation = first.conversations.create(items=[{"role": "user", "content": "hi"}])
        assert second.conversations.retrieve(conversation.id).id == conversation.id
        assert len(list(second.conversations.items.list(conversation.id))) == 1


def test_healthz_needs_no_key(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/healthz", timeout=30)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# -- cross-project isolation --------------------------------------------------------------


def test_another_project_gets_404_on_all_eight_routes_and_changes_nothing(
    server: LiveServer, client: openai.OpenAI, http: httpx.Client
) -> None:
    conversation = client.conversations.create(
        items=[{"role": "user", "content": "private"}, {"role": "assistant", "content": "ok"}],
        metadata={"owner": "a"},
    )
    before_items = http.get(f"/v1/conversations/{conversation.id}/items").json()
    before_conversation = http.get(f"/v1/conversations/{conversation.id}").json()
    item_id = before_items["data"][0]["id"]

    other_key = server.new_key()
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {other_key}"}, timeout=30
    ) as intruder:
        for method, path, body in _routes(conversation.id, item_id)[1:]:
            response = intruder.request(method, path, json=body)
            assert_error(
                response,
                404,
                code=None,
                param=None,
                message=rf"Conversation with id '{conversation.id}' not found\.",
            )
        # Its own conversation cannot pull A's item in by reference either.
        own = intruder.post("/v1/conversations", json={}).json()["id"]
        assert_error(
            intruder.post(
                f"/v1/conversations/{own}/items",
                json={"items": [{"type": "item_reference", "id": item_id}]},
            ),
            404,
            code=None,
            param=None,
            message=rf"Item with id '{item_id}' not found\.",
        )
        assert intruder.get(f"/v1/conversations/{own}/items").json()["data"] == []

    assert http.get(f"/v1/conversations/{conversation.id}").json() == before_conversation
    assert http.get(f"/v1/conversations/{conversation.id}/items").json() == before_items
    assert before_conversation["metadata"] == {"owner": "a"}
    assert len(before_items["data"]) == 2


def test_another_projects_sdk_sees_not_found(server: LiveServer, client: openai.OpenAI) -> None:
    conversation = client.conversations.create(metadata={"owner": "a"})
    with server.client(server.new_key()) as other:
        with pytest.raises(openai.NotFoundError) as caught:
            other.conversations.retrieve(conversation.id)
        with pytest.raises(openai.NotFoundError):
            other.conversations.delete(conversation.id)
    assert_sdk_error(caught.value, 404, code=None, param=None)
    assert client.conversations.retrieve(conversation.id).metadata == {"owner": "a"}
