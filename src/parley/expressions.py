"""n8n's ``{{ $json.field }}`` references to the current item: path look-ups, never code."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from parley.sdk import ValidationError

# The inside may not span a `}}`, so `{{ a }} {{ b }}` is two expressions, not one.
_EXPRESSION = re.compile(r"\{\{((?:(?!\}\}).)*)\}\}", re.DOTALL)
# One step of a path: `.name`, `[0]`, `["name"]` or `['name']`.
_STEP = re.compile(
    r"""\s*(?:\.\s*(?P<name>[A-Za-z_$][\w$]*)
        |\[\s*(?P<index>-?\d+)\s*\]
        |\[\s*"(?P<dq>(?:[^"\\]|\\.)*)"\s*\]
        |\[\s*'(?P<sq>(?:[^'\\]|\\.)*)'\s*\])""",
    re.VERBOSE,
)


class ExpressionError(ValidationError):
    """An expression is not a ``$json`` path, or the item lacks what it names."""


def parse_path(expression: str) -> list[str | int]:
    """The steps of ``$json.a["b"][0]`` → ``["a", "b", 0]``; anything else is refused."""
    text = expression.strip()
    if not text.startswith("$json"):
        raise ExpressionError(
            f"{{{{ {text} }}}}: only $json look-ups are supported, "
            'like {{ $json.field }} or {{ $json["a"]["b"] }}'
        )
    steps: list[str | int] = []
    position = len("$json")
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(
                f'{{{{ {text} }}}}: cannot read {text[position:]!r}; only .name, ["name"] '
                "and [index] steps are supported (nothing is evaluated as code)"
            )
        if match["name"] is not None:
            steps.append(match["name"])
        elif match["index"] is not None:
            steps.append(int(match["index"]))
        else:
            quoted = match["dq"] if match["dq"] is not None else match["sq"]
            steps.append(json.loads(f'"{quoted}"') if match["dq"] is not None else quoted)
        position = match.end()
    return steps


def look_up(item: Any, steps: list[str | int], expression: str) -> Any:
    """Follow ``steps`` into ``item``; a missing step is an error naming it."""
    value = item
    walked = "$json"
    for step in steps:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, Mapping) and step in value:
            value = value[step]
        else:
            shown = f"[{step}]" if isinstance(step, int) else f".{step}"
            raise ExpressionError(f"{{{{ {expression} }}}}: the item has no {walked}{shown}")
        walked += f"[{step}]" if isinstance(step, int) else f".{step}"
    return value


def has_expression(value: Any) -> bool:
    """Whether ``value`` (a string, or strings inside lists and mappings) holds ``{{ … }}``."""
    if isinstance(value, str):
        return _EXPRESSION.search(value) is not None
    if isinstance(value, Mapping):
        return any(has_expression(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_expression(v) for v in value)
    return False


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def resolve(template: Any, item: Mapping[str, Any]) -> Any:
    """``template`` with every ``{{ $json… }}`` replaced by the item's value.

    A string that is one whole expression gives the value itself (an object stays an
    object, as in n8n); expressions inside text are written in as text. A leading ``=``,
    n8n's marker of an expression parameter in workflow JSON, is dropped.
    """
    if isinstance(template, Mapping):
        return {k: resolve(v, item) for k, v in template.items()}
    if isinstance(template, list | tuple):
        return type(template)(resolve(v, item) for v in template)
    if not isinstance(template, str) or "{{" not in template:
        return template
    text = template[1:] if template.startswith("=") else template
    whole = _EXPRESSION.fullmatch(text.strip())
    if whole is not None:
        return look_up(item, parse_path(whole[1]), whole[1].strip())
    return _EXPRESSION.sub(
        lambda m: _as_text(look_up(item, parse_path(m[1]), m[1].strip())),
        text,
    )
