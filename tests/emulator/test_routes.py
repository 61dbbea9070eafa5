"""The routing table built from the per-kind ``Resource`` rows: exactly the API surface the
emulator serves, each template in the API documentation's own parameter names."""

from __future__ import annotations

import pytest

from elb_mtls_deploy.emulator.control.handlers import RESOURCES
from elb_mtls_deploy.emulator.control.routes import ROUTES, match

CRUD = """
POST /certificates
GET /certificates
GET /certificates/{certificate_id}
PUT /certificates/{certificate_id}
DELETE /certificates/{certificate_id}
POST /listeners
GET /listeners
GET /listeners/{listener_id}
PUT /listeners/{listener_id}
DELETE /listeners/{listener_id}
POST /pools
GET /pools
GET /pools/{pool_id}
PUT /pools/{pool_id}
DELETE /pools/{pool_id}
POST /pools/{pool_id}/members
GET /pools/{pool_id}/members
GET /pools/{pool_id}/members/{member_id}
PUT /pools/{pool_id}/members/{member_id}
DELETE /pools/{pool_id}/members/{member_id}
POST /healthmonitors
GET /healthmonitors
GET /healthmonitors/{healthmonitor_id}
PUT /healthmonitors/{healthmonitor_id}
DELETE /healthmonitors/{healthmonitor_id}
GET /loadbalancers
GET /loadbalancers/{loadbalancer_id}
"""
V3_ONLY = """
POST /pools/{pool_id}/members/batch-add
POST /pools/{pool_id}/members/batch-delete
GET /members
"""


def _routes(version: str, text: str) -> set[tuple[str, str]]:
    rows = (line.split() for line in text.splitlines() if line.strip())
    return {(method, f"/{version}/{{project_id}}/elb{path}") for method, path in rows}


def test_the_table_routes_exactly_the_documented_surface() -> None:
    expected = _routes("v3", CRUD + V3_ONLY) | _routes("v2", CRUD)
    served = [(route.method, route.template) for route in ROUTES]
    assert len(served) == len(set(served))  # no route twice
    assert set(served) == expected


def test_load_balancers_are_read_only() -> None:
    row = RESOURCES["loadbalancer"]
    assert (row.create, row.update, row.delete) == (None, None, None)
    assert match("POST", "/v3/p/elb/loadbalancers") is None
    assert match("DELETE", "/v2/p/elb/loadbalancers/lb") is None


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v3/p/elb/pools/a%2Fb/members/m", dict(project_id="p", pool_id="a/b", member_id="m")),
        ("/v2/p/elb/certificates/c/", {"project_id": "p", "certificate_id": "c"}),
    ],
)
def test_path_parameters_are_decoded_after_matching(path: str, params: dict[str, str]) -> None:
    found = match("GET", path)
    assert found is not None and found[1] == params
