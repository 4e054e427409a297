"""n8n's `{{ $json… }}` references: path look-ups only, clear errors, nothing evaluated."""

from __future__ import annotations

import pytest

from parley.expressions import ExpressionError, has_expression, parse_path, resolve

ITEM = {
    "id": "conv_1",
    "n": 7,
    "meta": {"topic": "demo", "tags": ["a", "b"]},
    "odd key": {"x-y": "z"},
    "rows": [{"v": "first"}, {"v": "last"}],
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ $json.id }}", "conv_1"),
        ("{{$json.id}}", "conv_1"),
        ("={{ $json.id }}", "conv_1"),  # n8n's expression marker in workflow JSON
        ('{{ $json["meta"]["topic"] }}', "demo"),
        ("{{ $json['odd key']['x-y'] }}", "z"),
        ("{{ $json.meta.tags[1] }}", "b"),
        ("{{ $json.rows[-1].v }}", "last"),
        ("{{ $json.n }}", 7),  # a whole expression keeps the value's type
        ("{{ $json.meta }}", {"topic": "demo", "tags": ["a", "b"]}),
        ("id={{ $json.id }}, n={{ $json.n }}", "id=conv_1, n=7"),
        ("tags: {{ $json.meta.tags }}", 'tags: ["a", "b"]'),
        ("plain text", "plain text"),
        ("a=b", "a=b"),
    ],
)
def test_resolve(template: str, expected: object) -> None:
    assert resolve(template, ITEM) == expected


def test_resolve_walks_lists_tuples_and_mappings() -> None:
    template = {"k": "{{ $json.meta.topic }}", "pairs": [("user", "hi {{ $json.id }}")]}
    assert resolve(template, ITEM) == {"k": "demo", "pairs": [("user", "hi conv_1")]}
    assert has_expression(template)
    assert not has_expression({"k": ["plain", ("x", 1)]})


def test_two_expressions_are_not_one() -> None:
    assert resolve("{{ $json.id }} {{ $json.n }}", ITEM) == "conv_1 7"


def test_parse_path_steps() -> None:
    assert parse_path('$json.a["b c"][2].d') == ["a", "b c", 2, "d"]
    assert parse_path("$json") == []


@pytest.mark.parametrize(
    "template",
    [
        "{{ $json.id.constructor }}",
        "{{ $json.missing }}",
        "{{ $json.rows[5] }}",
        "{{ $json.meta.tags.x }}",
    ],
)
def test_missing_path_names_the_step(template: str) -> None:
    with pytest.raises(ExpressionError, match=r"the item has no \$json"):
        resolve(template, ITEM)


@pytest.mark.parametrize(
    "template",
    [
        "{{ 1 + 1 }}",
        "{{ $json.id.toUpperCase() }}",
        "{{ __import__('os').system('true') }}",
        "{{ $node['x'].json }}",
        "{{ $json.n + 1 }}",
    ],
)
def test_anything_but_a_path_is_refused(template: str) -> None:
    with pytest.raises(ExpressionError) as info:
        resolve(template, ITEM)
    assert "$json" in str(info.value)
