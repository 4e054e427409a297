"""`parley items`: add, list, get and delete a conversation's items (beyond n8n's node)."""

from __future__ import annotations

import json
from typing import Any

import click

from parley.cli.conversation import execute, message_templates, run_options
from parley.expressions import resolve
from parley.node import Message, Node


def _raw_items(values: tuple[str, ...]) -> list[Any]:
    found = []
    for value in values:
        if "{{" in value and not value.lstrip().startswith("{"):
            found.append(value)  # a whole-item expression, resolved per input item
            continue
        try:
            found.append(json.loads(value))
        except ValueError as exc:
            raise click.BadParameter(
                f"{value[:40]!r} is not JSON: {exc}", param_hint="--item"
            ) from None
    return found


@click.group()
def items() -> None:
    """A conversation's items: add, list (all pages), get, delete.

    \b
    Example:
      parley items add conv_123 --message user:"Hello" --message assistant:"Hi!"
      parley items list conv_123 --order asc --table
    """


@items.command("add")
@click.argument("conversation_id")
@click.option("--message", "messages", multiple=True, help="ROLE:TEXT, role user|system|assistant.")
@click.option("--item", "raw", multiple=True, help="One item as JSON, sent as given.")
@run_options
def add(conversation_id: str, messages: tuple[str, ...], raw: tuple[str, ...], **run: Any) -> None:
    """Append items: --message pairs first, then --item JSON, in the order given.

    \b
    Example:
      parley items add conv_123 --message user:"What is parley?"
      parley items add conv_123 --item '{"role":"user","content":"Hi"}'
    """
    pairs, wire = message_templates(messages), _raw_items(raw)
    if not pairs and not wire:
        raise click.UsageError("give at least one --message or --item")

    def work(node: Node, item: dict[str, Any]) -> dict[str, Any]:
        resolved: list[Message] = [*resolve(pairs, item), *resolve(wire, item)]
        return node.create_items(resolve(conversation_id, item), resolved)

    execute(work=work, **run)


@items.command("list")
@click.argument("conversation_id")
@click.option("--order", type=click.Choice(["asc", "desc"]), default=None, help="Default: desc.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many in all.")
@click.option("--include", multiple=True, help="An include[] value, repeated.")
@run_options
def list_items(
    conversation_id: str, order: str | None, limit: int | None, include: tuple[str, ...], **run: Any
) -> None:
    """All items of a conversation, following every page, as one list object.

    \b
    Example:
      parley items list conv_123 --order asc --limit 500
    """
    execute(
        work=lambda node, item: node.list_items(
            resolve(conversation_id, item), order=order, limit=limit, include=include or None
        ),
        **run,
    )


@items.command("get")
@click.argument("conversation_id")
@click.argument("item_id")
@run_options
def get(conversation_id: str, item_id: str, **run: Any) -> None:
    """One item of a conversation.

    \b
    Example:
      parley items get conv_123 msg_456
    """
    execute(
        work=lambda node, item: node.retrieve_item(
            resolve(conversation_id, item), resolve(item_id, item)
        ),
        **run,
    )


@items.command("delete")
@click.argument("conversation_id")
@click.argument("item_id")
@run_options
def delete(conversation_id: str, item_id: str, **run: Any) -> None:
    """Delete one item; prints the conversation, as the API answers.

    \b
    Example:
      parley items delete conv_123 msg_456
    """
    execute(
        work=lambda node, item: node.delete_item(
            resolve(conversation_id, item), resolve(item_id, item)
        ),
        **run,
    )
