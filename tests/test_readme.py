"""The README's curl and Python snippets work as written against a live server."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.conftest import LiveServer

README = Path(__file__).resolve().parent.parent / "README.md"
README_BASE = "http://127.0.0.1:8080"
README_KEY = "sk-my-key"


def _block(after_heading: str, language: str) -> str:
    """The first ``language`` code block under the heading ``after_heading``."""
    text = README.read_text()
    section = text[text.index(after_heading) :]
    match = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no {language} block under {after_heading!r}"
    return match.group(1)


def _commands(block: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and line[0] != "#"]


def test_python_snippet_prints_the_two_texts(server: LiveServer, api_key: str) -> None:
    source = _block("## Use it with the official `openai` SDK", "python")
    assert README_BASE + "/v1" in source and README_KEY in source
    runnable = source.replace(README_BASE + "/v1", server.base_url).replace(README_KEY, api_key)
    printed = io.StringIO()
    namespace: dict[str, object] = {"__name__": "readme"}
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(runnable, "README.md", "exec"), namespace)
    finally:
        sdk = namespace.get("client")
        if isinstance(sdk, openai.OpenAI):
            sdk.close()
    assert printed.getvalue() == "['Hello!', 'Hi!']\n"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_snippet_creates_and_lists(server: LiveServer, api_key: str) -> None:
    block = _block("## Use it with curl", "sh")
    commands = _commands(block)
    assert commands[0].startswith(f"export KEY={README_KEY}")
    create, list_items, by_metadata = commands[1], commands[2], commands[3]
    assert "conv_…" in list_items
    assert "curl -g" in by_metadata and "metadata[topic]=demo" in by_metadata

    def run(command: str) -> str:
        script = f"export KEY={api_key}\n" + command.replace(README_BASE, server.url)
        done = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout

    conversation = json.loads(run(create))
    shown = re.search(r"^# (\{.*\})$", block, re.MULTILINE)
    assert shown is not None
    example = json.loads(shown.group(1).replace("…", "x"))
    assert set(conversation) == set(example)
    assert conversation["object"] == example["object"] == "conversation"
    assert conversation["metadata"] == example["metadata"] == {"topic": "demo"}
    listed = json.loads(run(list_items.replace("conv_…", conversation["id"])))
    assert listed["object"] == "list"
    assert [item["content"] for item in listed["data"]] == [
        [{"type": "input_text", "text": "Hello!"}]
    ]
    found = json.loads(run(by_metadata))
    assert [conv["id"] for conv in found["data"]] == [conversation["id"]]
    with openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0) as sdk:
        assert sdk.conversations.retrieve(conversation["id"]).metadata == {"topic": "demo"}


def test_shell_snippet_runs_as_written(server: LiveServer, api_key: str, tmp_path: Path) -> None:
    block = _block("## From Python and the shell, like n8n's node", "sh")
    lines = block.splitlines()
    assert lines[0].startswith(". .venv/bin/activate")
    # The activated venv is this test's own Python; the rest runs as written.
    bin_dir = Path(sys.executable).parent
    script = "\n".join([f'export PATH="{bin_dir}:$PATH" KEY={api_key}', *lines[1:]]).replace(
        README_BASE, server.url
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "OPENAI_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    done = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=120,
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr
    made = json.loads((tmp_path / "made.jsonl").read_text())
    got = json.loads((tmp_path / "out.jsonl").read_text())
    assert got["id"] == made["id"] and got["metadata"] == {"topic": "billing"}
    assert made["id"] in done.stdout  # the items table shows the whole id
    with openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0) as sdk:
        texts = [i.content[0].text for i in sdk.conversations.items.list(made["id"], order="asc")]  # type: ignore[union-attr]
    assert texts == ["Be terse.", "Hello"]
