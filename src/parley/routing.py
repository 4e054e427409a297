"""Route declarations and the one lookup derived from them.

A :class:`Route` says path template, method, handler and name once. :class:`RouteTable`
builds from a list of them the segment tree the server dispatches on (a split on "/" and a
dict lookup per segment), the Starlette routes that answer everything the tree does not
match (404, 405 with ``Allow``, HEAD), and the list `openapi.py` documents. Starlette's
router instead tries each route's regex in turn inside three middleware layers: the py-spy
profiles in bench/ put that near a fifth of a keyed GET.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple

from starlette import routing as starlette_routing
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

Endpoint = Callable[[Request], Awaitable[Response]]


class Route(NamedTuple):
    """One route: ``path`` is a template such as ``/v1/conversations/{conversation_id}``.

    ``answers`` is the msgspec type of a 200 body, ``query`` a Struct of its query parameters
    and ``body`` one of its JSON body; `openapi.py` documents a route from them when OpenAI's
    spec does not hold it. A route without ``answers``, outside OpenAI's spec, stays out of
    ``/openapi.json``.
    """

    method: str
    path: str
    handler: Endpoint
    name: str
    answers: Any = None
    query: Any = None
    body: Any = None


Match = tuple[Route, dict[str, str]]


class _Node:
    """One path segment of the tree: literal children, at most one parameter child."""

    __slots__ = ("literals", "param", "param_name", "rest", "rest_name", "methods")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.param_name = ""
        # A final `{name:path}` segment: the rest of the path, slashes included.
        self.rest: _Node | None = None
        self.rest_name = ""
        self.methods: dict[str, Route] = {}


def segments(template: str) -> list[str]:
    """The segments of a path template; ``{name}`` ones are parameters."""
    if template == "/":
        return [""]  # the root: one empty segment, as "/".split("/")[1:] gives
    if not template.startswith("/") or "//" in template or template.endswith("/"):
        raise ValueError(f"not a route template: {template!r}")
    return template[1:].split("/")


def _param(segment: str) -> str | None:
    if segment.startswith("{") and segment.endswith("}"):
        return segment[1:-1]
    return None


_REST = ":path"


class RouteTable:
    """Routes in declaration order, with the lookup and the Starlette routes built from them."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        self._root = _Node()
        for route in self.routes:
            self._add(route)

    def _add(self, route: Route) -> None:
        node = self._root
        parts = segments(route.path)
        for position, segment in enumerate(parts):
            name = _param(segment)
            if name is None:
                node = node.literals.setdefault(segment, _Node())
                continue
            if name.endswith(_REST) and position == len(parts) - 1:
                name = name.removesuffix(_REST)
                if node.rest is None:
                    node.rest, node.rest_name = _Node(), name
                elif node.rest_name != name:
                    raise ValueError(f"{route.path}: {{{name}}} where others have {node.rest_name}")
                node = node.rest
                continue
            if ":" in name:
                raise ValueError(f"{route.path}: only a final {{name:path}} takes a convertor")
            if node.param is None:
                node.param, node.param_name = _Node(), name
            elif node.param_name != name:
                raise ValueError(f"{route.path}: {{{name}}} where others have {node.param_name}")
            node = node.param
        if route.method in node.methods:
            raise ValueError(f"{route.method} {route.path} is declared twice")
        node.methods[route.method] = route

    def match(self, method: str, path: str) -> Match | None:
        """The route and path parameters for a request, or None (Starlette answers it then).

        A literal segment wins over a parameter (``/v1/conversations/search`` before
        ``{conversation_id}``), a parameter over a final ``{name:path}``; a parameter never
        matches an empty segment.
        """
        return self._find(method, path)

    def knows(self, path: str) -> bool:
        """Whether some route's template matches ``path``, whatever its method."""
        return self._find(None, path) is not None

    def _find(self, method: str | None, path: str) -> Match | None:
        parts = path.split("/")
        if parts[0]:
            return None
        node, index, count = self._root, 1, len(parts)
        params: dict[str, str] = {}
        # Where a literal was taken while a parameter could have matched too: tried after.
        forks: list[tuple[_Node, str, int, dict[str, str], bool]] = []
        while True:
            if index == count:
                if method is None:
                    route = next(iter(node.methods.values()), None)
                else:
                    route = node.methods.get(method)
                if route is not None:
                    return route, params
            else:
                part = parts[index]
                if node.rest is not None:
                    forks.append((node.rest, node.rest_name, index, dict(params), True))
                child = node.literals.get(part)
                if child is not None:
                    if node.param is not None:
                        forks.append((node.param, node.param_name, index, dict(params), False))
                    node, index = child, index + 1
                    continue
                if node.param is not None and part:
                    params[node.param_name] = part
                    node, index = node.param, index + 1
                    continue
            if not forks:
                return None
            node, name, index, params, rest = forks.pop()
            if rest:
                params[name], index = "/".join(parts[index:]), count
            else:
                params[name], index = parts[index], index + 1

    def starlette_routes(self) -> list[starlette_routing.BaseRoute]:
        """The same routes for Starlette, literal segments ordered before parameters."""
        ordered = sorted(self.routes, key=_literals_first)
        return [_StarletteRoute(route) for route in ordered]


def _literals_first(route: Route) -> list[bool]:
    # Starlette takes the first route that matches: at the first segment where two templates
    # differ in kind, the literal one must come first. The sort is stable otherwise.
    return [_param(segment) is not None for segment in segments(route.path)]


class _StarletteRoute(starlette_routing.Route):
    """A Starlette route that leaves its :class:`Route` in the scope, as the tree does."""

    def __init__(self, route: Route) -> None:
        # Starlette mounts any endpoint that is not a function as an ASGI app: a handler
        # object (api.Hot) is passed as its bound __call__, a request handler like the rest.
        endpoint: Any = route.handler
        if not inspect.isfunction(endpoint):
            endpoint = endpoint.__call__
        super().__init__(route.path, endpoint, methods=[route.method], name=route.name)
        self.declared = route

    def matches(self, scope: Scope) -> tuple[starlette_routing.Match, Scope]:
        match, child = super().matches(scope)
        if match is not starlette_routing.Match.NONE:
            child["route"] = self.declared
        return match, child
