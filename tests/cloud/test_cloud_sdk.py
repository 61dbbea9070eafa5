"""SdkCloud against the emulator in-process (`responses`): every CloudApi method for v3 and
v2, the request shapes on the wire, pagination and batching."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from cloud_stack import MARKER, SUBNET, build, https, make_cloud, member

from elb_mtls_deploy.cloud.base import LoadBalancerInfo, Query
from elb_mtls_deploy.cloud.sdk import SdkCloud
from elb_mtls_deploy.emulator import (
    SEEDED_DEDICATED_LB_ID,
    SEEDED_DEDICATED_LB_NAME,
    SEEDED_SHARED_LB_ID,
    SEEDED_SHARED_LB_NAME,
)
from elb_mtls_deploy.errors import NotFoundError


def calls(rsps: responses.RequestsMock, method: str, path_end: str) -> list[Any]:
    return [
        c.request
        for c in rsps.calls
        if c.request.method == method and urlsplit(c.request.url).path.endswith(path_end)
    ]


def query(request: Any) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(request.url).query)


def sent(request: Any) -> dict[str, Any]:
    body = request.body
    return dict(json.loads(body.decode() if isinstance(body, bytes) else body))


# ----------------------------------------------------------------------------- observe


def test_observe_returns_neutral_fields(cloud: SdkCloud, pem: Any) -> None:
    s = build(cloud, pem)

    certs = {c.name: c for c in cloud.read(Query("certificate", description=MARKER))}
    assert set(certs) == {"t-server", "t-ca"}
    assert certs["t-server"].id == s.server_id
    assert certs["t-server"].description == MARKER
    assert certs["t-server"].fields["type"] == "server"
    assert certs["t-server"].fields["certificate"].strip() == pem.server_cert.strip()
    assert certs["t-server"].fields["domain"] == "svc.example.com"
    assert certs["t-server"].fields["expire_time"]
    assert certs["t-ca"].fields["type"] == "client"
    assert certs["t-ca"].fields["domain"] is None
    assert all("private_key" not in c.fields for c in certs.values())

    (listener,) = cloud.read(Query("listener", within=[s.lb_id]))
    assert listener.id == s.listener_id and listener.description == MARKER
    expected = {
        "loadbalancer_id": s.lb_id,
        "protocol": https(cloud),
        "protocol_port": 443,
        "default_tls_container_ref": s.server_id,
        "client_ca_tls_container_ref": s.ca_id,
        "tls_ciphers_policy": "tls-1-2",
        "http2_enable": False,
        # the server fills in X-Forwarded-Host (on by default, docs/api-notes.md §10.3)
        "insert_headers": {"X-Forwarded-ELB-IP": True, "X-Forwarded-Host": True},
        "default_pool_id": s.pool_id,
    }
    assert {k: listener.fields[k] for k in expected} == expected
    if cloud.flavour == "v3":
        assert listener.fields["member_timeout"] == 60
    else:
        assert "member_timeout" not in listener.fields

    (pool,) = cloud.read(Query("pool", description=MARKER))
    assert dict(pool.fields) == {
        "listener": s.listener_id,
        "loadbalancer_id": s.lb_id,
        "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN",
        "session_persistence": None,
        "healthmonitor_id": s.monitor_id,
    }

    (monitor,) = cloud.read(Query("healthmonitor", ids=[s.monitor_id]))
    assert monitor.name == "t-pool-hm" and monitor.description is None
    assert dict(monitor.fields) == {
        "pool": s.pool_id,
        "type": "HTTP",
        "delay": 5,
        "timeout": 3,
        "max_retries": 3,
        "url_path": "/healthz",
        "expected_codes": "200",
        "http_method": "GET",
        "monitor_port": None,
    }

    members = sorted(
        cloud.read(Query("member", within=[s.pool_id])), key=lambda m: m.fields["address"]
    )
    assert [m.id for m in members] == s.member_ids
    assert dict(members[1].fields) == {
        "pool": s.pool_id,
        "address": "10.0.0.11",
        "protocol_port": 8080,
        "weight": 5,
        "subnet_id": SUBNET,
    }


def test_observe_request_counts_v3(v3: SdkCloud, pem: Any, rsps: responses.RequestsMock) -> None:
    s = build(v3, pem)
    before = len(rsps.calls)
    v3.read(Query("certificate", description=MARKER))
    v3.read(Query("listener", within=[s.lb_id, SEEDED_SHARED_LB_ID]))
    v3.read(Query("pool", description=MARKER))
    v3.read(Query("healthmonitor", ids=[s.monitor_id]))
    v3.read(Query("member", within=[s.pool_id, "other-pool"]))
    assert len(rsps.calls) - before == 5


def test_observe_request_counts_v2(v2: SdkCloud, pem: Any, rsps: responses.RequestsMock) -> None:
    s = build(v2, pem)
    before = len(rsps.calls)
    v2.read(Query("certificate", description=MARKER))
    v2.read(
        Query("listener", within=[s.lb_id, SEEDED_DEDICATED_LB_ID])
    )  # scalar filter: one call per LB
    v2.read(Query("pool", description=MARKER))
    v2.read(Query("healthmonitor", ids=[s.monitor_id]))
    v2.read(Query("member", within=[s.pool_id]))  # per pool
    assert len(rsps.calls) - before == 6


def test_empty_id_lists_make_no_calls(cloud: SdkCloud, rsps: responses.RequestsMock) -> None:
    # An empty multi-valued filter would be dropped by the SDK and list the whole project.
    assert cloud.read(Query("listener", within=[])) == []
    assert cloud.read(Query("healthmonitor", ids=[])) == []
    assert cloud.read(Query("member", within=[])) == []
    assert cloud.find_loadbalancers([], []) == []
    assert cloud.read(Query("certificate", ids=[])) == []
    assert len(rsps.calls) == 0


def test_a_query_takes_at_most_one_filter() -> None:
    # `read(Query)` replaced six list methods: a query that mixes filters, lists members
    # outside their pools or a pool "within" something is refused where it is made.
    with pytest.raises(ValueError, match="at most one"):
        Query("pool", description=MARKER, ids=["p1"])
    with pytest.raises(ValueError, match="within their pools"):
        Query("member")
    with pytest.raises(ValueError, match="not read within"):
        Query("pool", within=["lb1"])
    assert Query("listener", within=[]).empty and Query("certificate", ids=()).empty
    assert not Query("listener").empty and not Query("pool", description="").empty


def test_v3_filters_are_sent_as_lists(v3: SdkCloud, pem: Any, rsps: responses.RequestsMock) -> None:
    build(v3, pem)
    v3.read(Query("certificate", description=MARKER))
    v3.read(Query("listener", within=[SEEDED_DEDICATED_LB_ID, SEEDED_SHARED_LB_ID]))
    (cert_list,) = calls(rsps, "GET", "/elb/certificates")
    assert ("description", MARKER) in query(cert_list)  # whole, not split into characters
    (listener_list,) = calls(rsps, "GET", "/elb/listeners")
    lbs = [v for k, v in query(listener_list) if k == "loadbalancer_id"]
    assert lbs == sorted([SEEDED_DEDICATED_LB_ID, SEEDED_SHARED_LB_ID])
    assert ("limit", "2000") in query(listener_list)


def test_v2_filters_are_scalars(v2: SdkCloud, pem: Any, rsps: responses.RequestsMock) -> None:
    v2.read(Query("certificate", description=MARKER))
    v2.read(Query("pool", description=MARKER))
    for request in calls(rsps, "GET", "/elb/certificates") + calls(rsps, "GET", "/elb/pools"):
        assert query(request) == [("description", MARKER)]


def test_v3_pagination_follows_markers(pem: Any, rsps: responses.RequestsMock) -> None:
    cloud = make_cloud("v3", page_size=2)
    for i in range(5):
        cloud.create(
            "certificate", f"t-ca-{i}", MARKER, {"type": "client"}, {"certificate": pem.ca}
        )
    assert len(cloud.read(Query("certificate", description=MARKER))) == 5
    pages = calls(rsps, "GET", "/elb/certificates")
    assert len(pages) == 3
    assert "marker" not in dict(query(pages[0]))
    assert dict(query(pages[1]))["limit"] == "2"

    s = build(cloud, pem)
    cloud.create_members(s.pool_id, [member(f"10.0.1.{i}") for i in range(3)])
    assert len(cloud.read(Query("member", within=[s.pool_id]))) == 5
    assert len(calls(rsps, "GET", "/elb/members")) == 3  # 2 + 2 + 1


def test_find_loadbalancers_v3_ors_ids_and_names(
    v3: SdkCloud, rsps: responses.RequestsMock
) -> None:
    found = v3.find_loadbalancers([SEEDED_DEDICATED_LB_ID], [SEEDED_SHARED_LB_NAME])
    by_id = {lb.id: lb for lb in found}
    assert set(by_id) == {SEEDED_DEDICATED_LB_ID, SEEDED_SHARED_LB_ID}
    assert by_id[SEEDED_DEDICATED_LB_ID] == LoadBalancerInfo(
        id=SEEDED_DEDICATED_LB_ID,
        name=SEEDED_DEDICATED_LB_NAME,
        guaranteed=True,
        vip_address="127.0.0.1",
        public_address=None,
        ip_target_enable=True,
        l7_flavor_id="emulator-l7",
    )
    assert by_id[SEEDED_SHARED_LB_ID].guaranteed is False
    assert len(calls(rsps, "GET", "/elb/loadbalancers")) == 2  # one per filter kind
    assert by_id[SEEDED_DEDICATED_LB_ID].guaranteed is True
    assert by_id[SEEDED_SHARED_LB_ID].guaranteed is False


def test_find_loadbalancers_v2(v2: SdkCloud) -> None:
    found = v2.find_loadbalancers([], [SEEDED_SHARED_LB_NAME])
    assert [lb.id for lb in found] == [SEEDED_SHARED_LB_ID]
    assert found[0].guaranteed is False
    assert v2.find_loadbalancers(["no-such-lb"], []) == []


# ----------------------------------------------------------------------------- writes


def test_create_bodies_on_the_wire(cloud: SdkCloud, pem: Any, rsps: responses.RequestsMock) -> None:
    s = build(cloud, pem)
    cert_posts = calls(rsps, "POST", "/elb/certificates")
    first = sent(cert_posts[0])
    cert = first["certificate"] if cloud.flavour == "v3" else first  # v2 bodies are flat
    assert cert["private_key"] == pem.server_key and cert["type"] == "server"
    assert cert["description"] == MARKER
    monitor = sent(calls(rsps, "POST", "/elb/healthmonitors")[0])["healthmonitor"]
    assert "description" not in monitor and monitor["pool_id"] == s.pool_id
    listener = sent(calls(rsps, "POST", "/elb/listeners")[0])["listener"]
    assert listener["insert_headers"] == {"X-Forwarded-ELB-IP": True}
    pool = sent(calls(rsps, "POST", "/elb/pools")[0])["pool"]
    assert "session_persistence" not in pool  # None is omitted on create


def test_update_none_unsets_with_empty_string_or_null(
    cloud: SdkCloud, pem: Any, rsps: responses.RequestsMock
) -> None:
    s = build(cloud, pem)
    cloud.update(
        "listener",
        s.listener_id,
        {"client_ca_tls_container_ref": None, "http2_enable": True},
        {},
        None,
    )
    (put,) = calls(rsps, "PUT", f"/listeners/{s.listener_id}")
    assert sent(put) == {"listener": {"client_ca_tls_container_ref": "", "http2_enable": True}}
    (listener,) = cloud.read(Query("listener", within=[s.lb_id]))
    assert listener.fields["client_ca_tls_container_ref"] is None
    assert listener.fields["http2_enable"] is True

    cloud.update("pool", s.pool_id, {"session_persistence": None}, {}, None)
    (pool_put,) = calls(rsps, "PUT", f"/pools/{s.pool_id}")
    assert sent(pool_put) == {"pool": {"session_persistence": None}}  # JSON null


def test_update_sends_only_given_fields(
    cloud: SdkCloud, pem: Any, rsps: responses.RequestsMock
) -> None:
    s = build(cloud, pem)
    cloud.update("pool", s.pool_id, {"lb_algorithm": "LEAST_CONNECTIONS"}, {}, None)
    cloud.update("healthmonitor", s.monitor_id, {"delay": 10, "url_path": "/ready"}, {}, None)
    cloud.update("member", s.member_ids[0], {"weight": 7}, {}, s.pool_id)
    switches = {"X-Forwarded-ELB-IP": False, "X-Forwarded-Host": True}
    cloud.update("listener", s.listener_id, {"insert_headers": switches}, {}, None)
    assert sent(calls(rsps, "PUT", f"/pools/{s.pool_id}")[0]) == {
        "pool": {"lb_algorithm": "LEAST_CONNECTIONS"}
    }
    assert sent(calls(rsps, "PUT", f"/members/{s.member_ids[0]}")[0]) == {"member": {"weight": 7}}
    (pool,) = cloud.read(Query("pool", description=MARKER))
    assert pool.fields["lb_algorithm"] == "LEAST_CONNECTIONS"
    (monitor,) = cloud.read(Query("healthmonitor", ids=[s.monitor_id]))
    assert (monitor.fields["delay"], monitor.fields["url_path"]) == (10, "/ready")
    weights = {m.id: m.fields["weight"] for m in cloud.read(Query("member", within=[s.pool_id]))}
    assert weights[s.member_ids[0]] == 7
    (listener,) = cloud.read(Query("listener", within=[s.lb_id]))
    assert listener.fields["insert_headers"] == switches  # explicit false switches off


def test_certificate_content_updates_in_place(
    cloud: SdkCloud, pem: Any, rsps: responses.RequestsMock
) -> None:
    s = build(cloud, pem)
    cloud.update(
        "certificate",
        s.server_id,
        {"domain": "other.example.com"},
        {"certificate": pem.other_cert, "private_key": pem.other_key},
        None,
    )
    body = sent(calls(rsps, "PUT", f"/certificates/{s.server_id}")[0])
    cert = body["certificate"] if cloud.flavour == "v3" else body
    assert cert == {
        "domain": "other.example.com",
        "certificate": pem.other_cert,
        "private_key": pem.other_key,
    }
    server = next(
        c for c in cloud.read(Query("certificate", description=MARKER)) if c.id == s.server_id
    )
    assert server.fields["certificate"].strip() == pem.other_cert.strip()
    assert server.fields["domain"] == "other.example.com"


def test_swap_listener_certificate_reference(cloud: SdkCloud, pem: Any) -> None:
    s = build(cloud, pem)
    new_id = cloud.create(
        "certificate",
        "t-server-2",
        MARKER,
        {"type": "server"},
        {"certificate": pem.other_cert, "private_key": pem.other_key},
    )
    cloud.update("listener", s.listener_id, {"default_tls_container_ref": new_id}, {}, None)
    (listener,) = cloud.read(Query("listener", within=[s.lb_id]))
    assert listener.fields["default_tls_container_ref"] == new_id
    cloud.delete("certificate", s.server_id, None)


def test_delete_everything_in_dependency_order(cloud: SdkCloud, pem: Any) -> None:
    s = build(cloud, pem)
    cloud.delete_members(s.pool_id, s.member_ids)
    cloud.delete("healthmonitor", s.monitor_id, None)
    cloud.delete("pool", s.pool_id, None)
    cloud.delete("listener", s.listener_id, None)
    cloud.delete("certificate", s.server_id, None)
    cloud.delete("certificate", s.ca_id, None)
    assert (
        cloud.read(Query("member", within=[s.pool_id])) == []
    )  # v2: a vanished pool has no members
    assert cloud.read(Query("certificate", description=MARKER)) == []
    assert cloud.read(Query("listener", within=[s.lb_id])) == []
    assert cloud.read(Query("pool", description=MARKER)) == []
    assert cloud.read(Query("healthmonitor", ids=[s.monitor_id])) == []


def test_delete_single_member_needs_pool(cloud: SdkCloud, pem: Any) -> None:
    s = build(cloud, pem)
    cloud.delete("member", s.member_ids[0], s.pool_id)
    assert [m.id for m in cloud.read(Query("member", within=[s.pool_id]))] == s.member_ids[1:]
    with pytest.raises(ValueError):
        cloud.delete("member", s.member_ids[1], None)


def test_create_members_is_idempotent(cloud: SdkCloud, pem: Any) -> None:
    s = build(cloud, pem)
    again = cloud.create_members(s.pool_id, [member("10.0.0.11", weight=5), member("10.0.0.12")])
    assert again[0] == s.member_ids[1]  # "existed" (v3) / 409 resolved (v2)
    assert len(cloud.read(Query("member", within=[s.pool_id]))) == 3


def test_create_members_batches_of_200(
    v3: SdkCloud, pem: Any, rsps: responses.RequestsMock
) -> None:
    s = build(v3, pem)
    wanted = [member(f"10.1.{i // 250}.{i % 250}") for i in range(250)]
    ids = v3.create_members(s.pool_id, wanted)
    batches = calls(rsps, "POST", "/members/batch-add")
    assert [len(sent(b)["members"]) for b in batches] == [2, 200, 50]
    by_id = {m.id: m.fields["address"] for m in v3.read(Query("member", within=[s.pool_id]))}
    assert [by_id[i] for i in ids] == [m["address"] for m in wanted]
    assert sent(batches[1])["members"][0]["subnet_cidr_id"] == SUBNET  # v3 name on the wire

    v3.delete_members(s.pool_id, ids)
    assert [len(sent(b)["members"]) for b in calls(rsps, "POST", "/members/batch-delete")] == [
        200,
        50,
    ]
    assert len(v3.read(Query("member", within=[s.pool_id]))) == 2


def test_delete_members_tolerates_already_gone(cloud: SdkCloud, pem: Any) -> None:
    s = build(cloud, pem)
    cloud.delete("member", s.member_ids[0], s.pool_id)
    cloud.delete_members(s.pool_id, s.member_ids)  # the first is already gone
    assert cloud.read(Query("member", within=[s.pool_id])) == []


def test_delete_unknown_raises_not_found(cloud: SdkCloud) -> None:
    with pytest.raises(NotFoundError):
        cloud.delete("pool", "00000000-0000-0000-0000-000000000000", None)
