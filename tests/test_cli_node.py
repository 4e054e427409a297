"""`parley conversation …` and `parley items …` against a live server, as a person runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from parley.cli import main
from tests.conftest import LiveServer


@pytest.fixture
def env(server: LiveServer, api_key: str, tmp_path: Path) -> dict[str, str | None]:
    """The environment a shell user would have: OPENAI_* pointing at parley."""
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "OPENAI_API_KEY": api_key,
        "OPENAI_BASE_URL": server.base_url + "/",
        "PARLEY_CREDENTIAL": None,
        "OPENAI_ORG_ID": None,
    }


def cli(env: dict[str, str | None], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=stdin)


def lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_conversation_commands(env: dict[str, str | None]) -> None:
    made = cli(
        env, "conversation", "create",
        "--message", "system:You are terse.", "--message", "user:Hello: there",
        "--message", "assistant:Hi!", "--metadata", '{"topic":"demo"}',
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    [conv] = lines(made)
    assert conv["metadata"] == {"topic": "demo"}
    cid = conv["id"]
    listed = lines(cli(env, "items", "list", cid, "--order", "asc"))[0]
    assert [(i["role"], i["content"][0]["text"]) for i in listed["data"]] == [
        ("system", "You are terse."),
        ("user", "Hello: there"),
        ("assistant", "Hi!"),
    ]
    assert lines(cli(env, "conversation", "get", cid)) == [conv]
    updated = cli(env, "conversation", "update", cid, "-m", "topic=billing", "-m", "stage=2")
    assert lines(updated)[0]["metadata"] == {"topic": "billing", "stage": "2"}
    table = cli(env, "conversation", "get", cid, "--table")
    assert table.exit_code == 0 and cid[:12] in table.stdout and "billing" in table.stdout
    removed = lines(cli(env, "conversation", "remove", cid))
    assert removed == [{"id": cid, "object": "conversation.deleted", "deleted": True}]
    gone = cli(env, "conversation", "get", cid)
    assert gone.exit_code == 1 and gone.stdout == ""
    assert f"HTTP 404: Conversation with id '{cid}' not found." in gone.stderr
    assert f"no such conversation '{cid}'" in gone.stderr


def test_items_commands(env: dict[str, str | None]) -> None:
    cid = lines(cli(env, "conversation", "create"))[0]["id"]
    added = cli(
        env, "items", "add", cid, "--message", "user:one",
        "--item", '{"type": "function_call_output", "call_id": "c1", "output": "42"}',
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    data = lines(added)[0]["data"]
    assert [i["type"] for i in data] == ["message", "function_call_output"]
    got = lines(cli(env, "items", "get", cid, data[1]["id"]))[0]
    assert got == data[1]
    after = lines(cli(env, "items", "delete", cid, data[0]["id"]))[0]
    assert after["id"] == cid and after["object"] == "conversation"
    remaining = lines(cli(env, "items", "list", cid))[0]["data"]
    assert [i["id"] for i in remaining] == [data[1]["id"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["conversation", "update", "conv_1"], "Metadata is required"),
        (["conversation", "create", "--message", "hello"], "write ROLE:TEXT"),
        (["conversation", "create", "--message", "robot:hi"], "role 'robot' is not one of"),
        (["conversation", "create", "-m", "novalue"], "give one JSON object, or key=value"),
        (["conversation", "create", "-m", "{bad"], "Invalid JSON in metadata field"),
        (["conversation", "create", "-m", "k=" + "v" * 513], "is 513 characters long"),
        (["items", "add", "conv_1"], "give at least one --message or --item"),
        (["items", "add", "conv_1", "--item", "{x"], "is not JSON"),
        (["conversation", "get", "x", "--input", "/nonexistent.jsonl"], "cannot read"),
    ],
)
def test_usage_errors_exit_2(env: dict[str, str | None], args: list[str], message: str) -> None:
    result = cli(env, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_no_credential_is_a_usage_error(env: dict[str, str | None]) -> None:
    result = cli({**env, "OPENAI_API_KEY": None}, "conversation", "get", "conv_1")
    assert result.exit_code == 2 and "no credential" in result.stderr


def test_stored_credential_by_name(env: dict[str, str | None], server: LiveServer) -> None:
    key = env["OPENAI_API_KEY"]
    assert key is not None
    saved = cli(env, "credentials", "add", "local", "--api-key", key, "--base-url", server.base_url)
    assert saved.exit_code == 0
    bare = {**env, "OPENAI_API_KEY": None, "OPENAI_BASE_URL": None}
    made = cli(bare, "conversation", "create", "--credential", "local")
    assert made.exit_code == 0 and lines(made)[0]["object"] == "conversation"
    by_env = cli({**bare, "PARLEY_CREDENTIAL": "local"}, "conversation", "create")
    assert by_env.exit_code == 0


def test_per_item_run_with_expressions(env: dict[str, str | None], tmp_path: Path) -> None:
    rows = [{"name": f"c{n}", "who": {"role": "user"}, "text": f"hello {n}"} for n in range(12)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    made = cli(
        env, "conversation", "create", "--input", str(source),
        "--message", '{{ $json.who.role }}:{{ $json["text"] }}',
        "--metadata", "customer={{ $json.name }}", "--paired",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    out = lines(made)
    assert [o["pairedItem"] for o in out] == [{"item": n} for n in range(12)]
    assert [o["json"]["metadata"] for o in out] == [{"customer": f"c{n}"} for n in range(12)]
    # Feed those outputs back in as CSV, with one unknown id at row 5.
    ids = [o["json"]["id"] for o in out]
    ids[5] = "conv_nope"
    csv_text = "id,topic\n" + "".join(f"{c},t{n}\n" for n, c in enumerate(ids))
    tolerant = cli(
        env, "conversation", "update", "{{ $json.id }}", "--metadata", "topic={{ $json.topic }}",
        "--input", "-", "--continue-on-fail", "--concurrency", "4", stdin=csv_text,
    )  # fmt: skip
    assert tolerant.exit_code == 1
    results = lines(tolerant)
    assert len(results) == 12
    assert results[5] == {
        "error": "The resource you are requesting could not be found",
        "description": "Conversation with id 'conv_nope' not found.",
        "httpCode": 404,
    }
    assert [r["metadata"]["topic"] for n, r in enumerate(results) if n != 5] == [
        f"t{n}" for n in range(12) if n != 5
    ]
    assert "item 5: HTTP 404" in tolerant.stderr and "1 of 12 items failed" in tolerant.stderr
    strict = cli(env, "conversation", "get", "{{ $json.id }}", "--input", "-", stdin=csv_text)
    assert strict.exit_code == 1
    assert [r["id"] for r in lines(strict)] == ids[:5]
    assert "item 5 failed: HTTP 404: Conversation with id 'conv_nope' not found." in strict.stderr
    assert "stopped; 5 of 12 items done" in strict.stderr


def test_bad_expression_fails_that_item_only(env: dict[str, str | None]) -> None:
    stdin = '[{"id": "conv_a"}, {"other": 1}]'
    result = cli(
        env, "conversation", "get", "{{ $json.id }}", "--input", "-", "--continue-on-fail",
        stdin=stdin,
    )  # fmt: skip
    assert result.exit_code == 1
    first, second = lines(result)
    assert first["httpCode"] == 404
    assert second == {"error": "{{ $json.id }}: the item has no $json.id"}


def test_help_has_examples() -> None:
    for args in (
        ["conversation", "create"],
        ["conversation", "get"],
        ["conversation", "update"],
        ["conversation", "remove"],
        ["conversation", "list"],
        ["items", "add"],
        ["items", "list"],
        ["items", "get"],
        ["items", "delete"],
        ["credentials"],
        ["credentials", "add"],
        ["credentials", "list"],
        ["credentials", "remove"],
        ["credentials", "test"],
        ["conversation"],
        ["items"],
    ):
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Example:" in result.stdout, args


def subprocess_env(env: dict[str, str | None]) -> dict[str, str]:
    merged = {**os.environ, **{k: v for k, v in env.items() if v is not None}}
    return {k: v for k, v in merged.items() if env.get(k, "") is not None}


def test_real_subprocess_per_item_run(env: dict[str, str | None]) -> None:
    stdin = "".join(json.dumps({"topic": f"t{n}"}) + "\n" for n in range(20))
    done = subprocess.run(
        [sys.executable, "-m", "parley", "conversation", "create", "--input", "-",
         "--metadata", '={{ $json }}', "--message", "user:about {{ $json.topic }}"],
        input=stdin, capture_output=True, text=True, env=subprocess_env(env), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["metadata"] for o in out] == [{"topic": f"t{n}"} for n in range(20)]


def test_ctrl_c_stops_cleanly(env: dict[str, str | None]) -> None:
    stdin = "".join(json.dumps({"n": str(n)}) + "\n" for n in range(3000))
    process = subprocess.Popen(
        [sys.executable, "-m", "parley", "conversation", "create", "--input", "-",
         "--metadata", "n={{ $json.n }}", "--concurrency", "2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=subprocess_env(env), text=True,
    )  # fmt: skip
    assert process.stdin and process.stdout and process.stderr
    try:
        process.stdin.write(stdin)
        process.stdin.close()
        first = process.stdout.readline()  # output has started: the run is under way
        assert json.loads(first)["metadata"] == {"n": "0"}
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        rest, err = process.stdout.read(), process.stderr.read()
        assert process.wait(timeout=60) == 130, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    printed = 1 + len(rest.splitlines())
    assert printed < 3000
    assert f"interrupted; {printed} of 3000 items done" in err
    assert "Traceback" not in err


def test_conversation_list(env: dict[str, str | None]) -> None:
    ids = [
        lines(cli(env, "conversation", "create", "-m", "batch=b1", "-m", f"n={n}"))[0]["id"]
        for n in range(3)
    ]
    listed = cli(env, "conversation", "list", "-m", "batch=b1", "-m", "n=1", "--all")
    assert listed.exit_code == 0, listed.output
    assert [c["id"] for c in lines(listed)[0]["data"]] == [ids[1]]
    listed = cli(env, "conversation", "list", "-m", "batch=b1", "--order", "asc", "--limit", "2")
    page = lines(listed)[0]
    assert [c["id"] for c in page["data"]] == ids[:2] and page["has_more"] is True
    table = cli(env, "conversation", "list", "-m", "batch=b1", "--all", "--table")
    assert table.exit_code == 0 and all(i[:12] in table.stdout for i in ids)


def test_conversation_fork(env: dict[str, str | None]) -> None:
    made = cli(env, "conversation", "create", "--message", "user:one", "--message", "user:two")
    cid = lines(made)[0]["id"]
    first = lines(cli(env, "items", "list", cid, "--order", "asc"))[0]["data"][0]["id"]
    forked = cli(env, "conversation", "fork", cid, "--after-item", first, "-m", "branch=b")
    assert forked.exit_code == 0, forked.output
    fork = lines(forked)[0]
    assert fork["metadata"] == {"branch": "b"}
    copied = lines(cli(env, "items", "list", fork["id"]))[0]["data"]
    assert [i["content"][0]["text"] for i in copied] == ["one"]
    missing = cli(env, "conversation", "fork", cid, "--after-item", "msg_nope")
    assert missing.exit_code == 1 and "HTTP 404" in missing.stderr


def test_stats_prints_the_projects_usage(env: dict[str, str | None]) -> None:
    cli(env, "conversation", "create", "--message", "user:one", "--message", "user:two")
    figures = cli(env, "stats", "--json")
    assert figures.exit_code == 0, figures.output
    usage = json.loads(figures.stdout)
    assert usage["conversations"] == 1 and usage["items"] == 2 and usage["stored_bytes"] > 0
    table = cli(env, "stats")
    assert (
        table.exit_code == 0 and "conversations" in table.stdout and "stored bytes" in table.stdout
    )
    refused = cli({**env, "OPENAI_API_KEY": "sk-wrong"}, "stats")
    assert refused.exit_code == 1 and "HTTP 401" in refused.stderr
