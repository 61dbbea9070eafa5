"""The routing table: (method, path template) -> handler, for the v3 and v2 APIs.

Templates use the API documentation's parameter names; they double as the keys of the
request statistics. Path parameters arrive percent-encoded with nothing kept safe
(docs/api-notes.md §7), so each segment is decoded after matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from . import responses as r
from .models import CERT, LB, LISTENER, MEMBER, MONITOR, POOL


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


def _crud(base: str, kind: str, id_param: str) -> list[tuple[str, str, r.Handler]]:
    item = f"{base}/{{{id_param}}}"
    return [
        ("POST", base, r.CREATE(kind)),
        ("GET", base, r.LIST(kind)),
        ("GET", item, r.SHOW(kind)),
        ("PUT", item, r.UPDATE(kind)),
        ("DELETE", item, r.DELETE(kind)),
    ]


def _version_routes(version: str) -> list[tuple[str, str, r.Handler]]:
    p = f"/{version}/{{project_id}}/elb"
    pool_members = f"{p}/pools/{{pool_id}}/members"
    routes = [
        *_crud(f"{p}/certificates", CERT, "certificate_id"),
        *_crud(f"{p}/listeners", LISTENER, "listener_id"),
        *_crud(f"{p}/pools", POOL, "pool_id"),
        *_crud(pool_members, MEMBER, "member_id"),
        *_crud(f"{p}/healthmonitors", MONITOR, "healthmonitor_id"),
        ("GET", f"{p}/loadbalancers", r.LIST(LB)),
        ("GET", f"{p}/loadbalancers/{{loadbalancer_id}}", r.SHOW(LB)),
    ]
    if version == "v3":
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
