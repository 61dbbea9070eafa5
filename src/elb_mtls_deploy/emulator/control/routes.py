"""The routing table: (method, path template) -> handler, for the v3 and v2 APIs.

Templates use the API documentation's parameter names; they double as the keys of the
request statistics. Path parameters arrive percent-encoded with nothing kept safe
(docs/api-notes.md §7), so each segment is decoded after matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from . import handlers as r
from .models import MEMBER


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: r.Handler
    pattern: re.Pattern[str]

    @property
    def mutating(self) -> bool:
        return self.method != "GET"

    @property
    def version(self) -> str:
        return self.template.split("/")[1]


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{regex}/?$")


def _crud(base: str, row: r.Resource) -> list[tuple[str, str, r.Handler]]:
    collection = f"{base}/{row.path}"
    item = f"{collection}/{{{row.id_param}}}"
    routes = [("GET", collection, r.list_all(row)), ("GET", item, r.show(row))]
    if row.create is not None:
        routes.append(("POST", collection, r.create(row)))
    if row.update is not None:
        routes.append(("PUT", item, r.update(row)))
    if row.delete is not None:
        routes.append(("DELETE", item, r.delete(row)))
    return routes


def _version_routes(version: str) -> list[tuple[str, str, r.Handler]]:
    p = f"/{version}/{{project_id}}/elb"
    routes = [route for row in r.RESOURCES.values() for route in _crud(p, row)]
    if version == "v3":
        pool_members = f"{p}/{r.RESOURCES[MEMBER].path}"
        routes += [
            ("POST", f"{pool_members}/batch-add", r.batch_add_members),
            ("POST", f"{pool_members}/batch-delete", r.batch_delete_members),
            ("GET", f"{p}/members", r.list_all_members),
        ]
    return routes


ROUTES: tuple[Route, ...] = tuple(
    Route(method, template, handler, _compile(template))
    for version in ("v3", "v2")
    for method, template, handler in _version_routes(version)
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for this request and its decoded path parameters, or None."""
    for route in ROUTES:
        if route.method != method:
            continue
        found = route.pattern.match(path)
        if found:
            return route, {k: unquote(v) for k, v in found.groupdict().items()}
    return None
