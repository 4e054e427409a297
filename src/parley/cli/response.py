"""`parley response create`: n8n's Message a Model from the shell; streams the text by default."""

from __future__ import annotations

import sys
from typing import Any

import click
import openai

from parley import credentials
from parley.cli.conversation import execute, message_templates
from parley.client import NodeError, ValidationError, make_client, translate
from parley.expressions import resolve
from parley.node import Node, message_model_body
from parley.runs import DEFAULT_CONCURRENCY


@click.group()
def response() -> None:
    """n8n's Message a Model (the Responses API), over a conversation or not.

    \b
    Example:
      parley response create --model llama3.2 --conversation conv_123 --input "Hello"
    """


def _stream(credential: str | None, body: dict[str, Any]) -> None:
    """Print the text (and a refusal) as it arrives; the final response's id goes to stderr.
    Reasoning is not printed: it is the model's working, kept in the response."""
    try:
        cred = credentials.resolve(credential)
    except credentials.CredentialError as exc:
        raise click.UsageError(str(exc)) from None
    client = make_client(cred, max_retries=2, timeout=600.0)
    subject = f"conversation '{body['conversation']}'" if "conversation" in body else None
    try:
        with client.responses.stream(**body) as events:
            for event in events:
                if event.type in ("response.output_text.delta", "response.refusal.delta"):
                    click.echo(event.delta, nl=False)
                    sys.stdout.flush()
                elif event.type == "response.failed":
                    error = event.response.error
                    raise click.ClickException(
                        f"the model failed: {error.message if error else 'unknown error'}"
                    )
            final = events.get_final_response()
    except (openai.OpenAIError, ValueError) as exc:
        if isinstance(exc, click.ClickException):
            raise
        raise click.ClickException(translate(exc, cred, subject).explain()) from None
    except KeyboardInterrupt:
        click.echo("\nparley: interrupted", err=True)
        sys.exit(130)
    finally:
        client.close()
    click.echo()
    click.echo(f"parley: {final.id} ({final.status})", err=True)


@response.command("create")
@click.option("--model", required=True, help="The model (as the upstream names it).")
@click.option(
    "--input", "text", default=None, help="The user's message (a shortcut for --message user:TEXT)."
)
@click.option("--message", "messages", multiple=True, help="ROLE:TEXT, role user|system|assistant.")
@click.option("--conversation", default=None, help="Conversation ID: the turn is added to it.")
@click.option("--instructions", default=None, help="System instructions (not stored).")
@click.option("--previous-response-id", default=None, help="Continue from this response.")
@click.option("--no-store", is_flag=True, help="Keep no stored response (store: false).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the whole response object, not the text."
)
@click.option(
    "--simplify/--no-simplify",
    default=True,
    show_default=True,
    help='Per-item runs: n8n\'s simplified {"output": [...]} or the whole response.',
)
@click.option(
    "--credential",
    "-c",
    default=None,
    help="A stored credential. Else $PARLEY_CREDENTIAL, else $OPENAI_API_KEY/$OPENAI_BASE_URL.",
)
@click.option(
    "--input-file",
    "-f",
    "input_file",
    default=None,
    help="Run once per item of this file (JSON Lines, JSON array or CSV; - for stdin); "
    "options may use {{ $json.field }}.",
)
@click.option("--input-format", type=click.Choice(["jsonl", "json", "csv"]), default=None)
@click.option("--continue-on-fail", is_flag=True, help='A failed item gives {"error": …}.')
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=DEFAULT_CONCURRENCY, show_default=True
)
@click.option(
    "--paired", is_flag=True, help='Wrap outputs as {"json": …, "pairedItem": {"item": i}}.'
)
def create(
    model: str,
    text: str | None,
    messages: tuple[str, ...],
    conversation: str | None,
    instructions: str | None,
    previous_response_id: str | None,
    no_store: bool,
    as_json: bool,
    simplify: bool,
    credential: str | None,
    input_file: str | None,
    input_format: str | None,
    continue_on_fail: bool,
    concurrency: int,
    paired: bool,
) -> None:
    """Message a model (n8n: Message a Model); streams its text unless --json or --input-file.

    \b
    Example:
      parley response create --model llama3.2 --input "Hello"
      parley response create --model llama3.2 --conversation conv_123 --input "And now?"
      parley response create --model m --conversation '{{ $json.id }}' \\
        --input '{{ $json.question }}' --input-file questions.jsonl
    """
    pairs = message_templates(messages)
    if text is not None:
        pairs.append(("user", text))
    if not pairs:
        raise click.UsageError("give the message: --input TEXT or --message ROLE:TEXT")
    options: dict[str, Any] = {"store": not no_store}
    for name, value in (
        ("conversationId", conversation),
        ("instructions", instructions),
        ("previousResponseId", previous_response_id),
    ):
        if value is not None:
            options[name] = value
    if input_file is None and not as_json:
        try:
            body = message_model_body(model, pairs, options)
        except (ValidationError, NodeError) as exc:
            raise click.UsageError(exc.explain()) from None
        _stream(credential, body)
        return

    def work(node: Node, item: dict[str, Any]) -> dict[str, Any]:
        return node.message_model(
            resolve(model, item),
            resolve(pairs, item),
            resolve(options, item),
            simplify=simplify and not (as_json and input_file is None),
        )

    execute(
        credential=credential,
        input_file=input_file,
        input_format=input_format,
        continue_on_fail=continue_on_fail,
        concurrency=concurrency,
        table=False,
        paired=paired,
        work=work,
    )
