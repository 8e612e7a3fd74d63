"""Find the operation a request names, from the `requestUri` templates of the service models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from connectmail.aws.model import Operation, ServiceModel

_LABEL = re.compile(r"\{([^}]+?)(\+?)\}")


@dataclass(frozen=True)
class Route:
    service: ServiceModel
    operation: Operation
    pattern: re.Pattern[str]
    labels: tuple[str, ...]
    static_query: tuple[tuple[str, str], ...]
    specificity: tuple[int, int]


@dataclass(frozen=True)
class Match:
    service: ServiceModel
    operation: Operation
    uri_params: dict[str, str]


def compile_route(service: ServiceModel, operation: Operation) -> Route:
    path, _, query = operation.request_uri.partition("?")
    labels: list[str] = []
    regex_parts: list[str] = []
    position = 0
    for found in _LABEL.finditer(path):
        regex_parts.append(re.escape(path[position : found.start()]))
        labels.append(found.group(1))
        regex_parts.append("(.+)" if found.group(2) else "([^/]+)")
        position = found.end()
    regex_parts.append(re.escape(path[position:]))
    static_query = tuple(
        (key, value) for key, _, value in (p.partition("=") for p in query.split("&") if p)
    )
    literal_segments = sum(1 for s in path.split("/") if s and "{" not in s)
    greedy = sum(1 for label in _LABEL.finditer(path) if label.group(2))
    return Route(
        service=service,
        operation=operation,
        pattern=re.compile("".join(regex_parts) + "/?"),
        labels=tuple(labels),
        static_query=static_query,
        specificity=(literal_segments + len(static_query), -greedy),
    )


class Router:
    """Routes (method, raw path, query) to an operation of one of several services.

    A path with no labels is looked up in a table: the routes that could match it are known when
    the router is built, in the order a scan would try them, so the common case (`PUT
    /contact/outbound-email` shares its first segment with 11 other routes) runs no regex. Any
    other path is matched by scanning the routes that share its first segment.
    """

    def __init__(self, services: list[ServiceModel]) -> None:
        self._routes: dict[tuple[str, str], list[Route]] = {}
        for service in services:
            for operation in service.operations.values():
                route = compile_route(service, operation)
                first = operation.request_uri.split("?")[0].split("/")[1]
                key = (operation.method, "" if "{" in first else first)
                self._routes.setdefault(key, []).append(route)
        for routes in self._routes.values():
            routes.sort(key=lambda r: r.specificity, reverse=True)
        self._exact: dict[tuple[str, str], tuple[tuple[Route, dict[str, str]], ...]] = {}
        for routes in self._routes.values():
            for route in routes:
                if route.labels:
                    continue
                path = route.operation.request_uri.partition("?")[0]
                for raw_path in (path, path.rstrip("/") + "/"):
                    key = (route.operation.method, raw_path)
                    self._exact[key] = tuple(
                        (other, _labels(other, found)) for other, found in self._scan(*key)
                    )

    def match(
        self, method: str, raw_path: str, query: dict[str, list[str]], signing_name: str | None
    ) -> Match | None:
        exact = self._exact.get((method, raw_path))
        if exact is not None:
            for route, params in exact:
                if _accepts(route, query, signing_name):
                    return Match(route.service, route.operation, dict(params))
            return None
        for route, found in self._scan(method, raw_path):
            if _accepts(route, query, signing_name):
                return Match(route.service, route.operation, _labels(route, found))
        return None

    def _scan(self, method: str, raw_path: str) -> Iterator[tuple[Route, re.Match[str]]]:
        """The routes whose pattern matches the path, most specific first."""
        first = raw_path.split("/", 2)[1] if raw_path.startswith("/") else ""
        for key in ((method, first), (method, "")):
            for route in self._routes.get(key, ()):
                found = route.pattern.fullmatch(raw_path)
                if found is not None:
                    yield route, found


def _accepts(route: Route, query: dict[str, list[str]], signing_name: str | None) -> bool:
    """Whether the request is for the route's service and has the query its URI requires."""
    if signing_name is not None and route.service.signing_name != signing_name:
        return False
    return not route.static_query or not any(
        query.get(k) is None or (v and v not in query[k]) for k, v in route.static_query
    )


def _labels(route: Route, found: re.Match[str]) -> dict[str, str]:
    return {
        label: unquote(value) for label, value in zip(route.labels, found.groups(), strict=True)
    }
