"""The unmodified official SDK (v3) drives every supported operation over real loopback HTTP."""

from __future__ import annotations

import re
from typing import Any

from cp_helpers import (
    DEDICATED,
    SHARED,
    SUBNET_ONLY,
    ca_cert,
    https_listener,
    member,
    pool,
    server_cert,
)
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import SEEDED_DEDICATED_LB_NAME, SEEDED_SHARED_LB_NAME

HEX32 = re.compile(r"^[0-9a-f]{32}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_certificate_lifecycle(v3: Any, pki: Any) -> None:
    cert = server_cert(v3, pki)
    assert HEX32.match(cert.id)
    assert cert.type == "server" and cert.common_name == "svc.example.com"
    assert cert.subject_alternative_names == ["svc.example.com", "127.0.0.1"]
    assert re.match(r"^[0-9a-f]{64}$", cert.fingerprint)
    assert ISO_Z.match(cert.created_at) and ISO_Z.match(cert.expire_time)
    assert cert.enterprise_project_id == "0" and cert.admin_state_up is True

    shown = v3.show_certificate(sdk.ShowCertificateRequest(certificate_id=cert.id))
    assert shown.certificate.fingerprint == cert.fingerprint and shown.request_id

    body = sdk.UpdateCertificateRequestBody(
        certificate=sdk.UpdateCertificateOption(name="renamed", description="rotated")
    )
    updated = v3.update_certificate(
        sdk.UpdateCertificateRequest(certificate_id=cert.id, body=body)
    ).certificate
    assert (updated.id, updated.name, updated.description) == (cert.id, "renamed", "rotated")

    listed = v3.list_certificates(sdk.ListCertificatesRequest(name=["renamed"]))
    assert [c.id for c in listed.certificates] == [cert.id]
    assert listed.page_info.current_count == 1

    deleted = v3.delete_certificate(sdk.DeleteCertificateRequest(certificate_id=cert.id))
    assert deleted.status_code == 204
    assert v3.list_certificates(sdk.ListCertificatesRequest()).certificates == []


def test_certificate_content_update_keeps_the_id(v3: Any, pki: Any) -> None:
    import trustme

    cert = server_cert(v3, pki)
    fresh = trustme.CA().issue_cert("new.example.com")
    option = sdk.UpdateCertificateOption(
        certificate=fresh.cert_chain_pems[0].bytes().decode(),
        private_key=fresh.private_key_pem.bytes().decode(),
    )
    request = sdk.UpdateCertificateRequest(
        certificate_id=cert.id, body=sdk.UpdateCertificateRequestBody(certificate=option)
    )
    updated = v3.update_certificate(request).certificate
    assert updated.id == cert.id
    assert updated.common_name == "new.example.com"
    assert updated.fingerprint != cert.fingerprint


def test_https_listener_with_mutual_auth(v3: Any, pki: Any) -> None:
    cert, ca = server_cert(v3, pki), ca_cert(v3, pki)
    listener = https_listener(v3, cert.id, ca.id)
    assert UUID.match(listener.id)
    assert listener.protocol == "HTTPS" and listener.protocol_port == 443
    assert listener.client_ca_tls_container_ref == ca.id
    assert listener.tls_ciphers_policy == "tls-1-2"
    assert listener.loadbalancers[0].id == DEDICATED
    assert ISO_Z.match(listener.created_at)

    shown = v3.show_listener(sdk.ShowListenerRequest(listener_id=listener.id)).listener
    assert shown.default_tls_container_ref == cert.id

    # "" from the model switches mutual auth off (docs/api-notes.md §2.4).
    off = sdk.UpdateListenerOption(client_ca_tls_container_ref="", name="plain")
    request = sdk.UpdateListenerRequest(
        listener_id=listener.id, body=sdk.UpdateListenerRequestBody(listener=off)
    )
    updated = v3.update_listener(request).listener
    assert updated.client_ca_tls_container_ref is None and updated.name == "plain"

    on = sdk.UpdateListenerOption(client_ca_tls_container_ref=ca.id)
    request = sdk.UpdateListenerRequest(
        listener_id=listener.id, body=sdk.UpdateListenerRequestBody(listener=on)
    )
    assert v3.update_listener(request).listener.client_ca_tls_container_ref == ca.id

    # null through a dict body also switches it off (docs/api-notes.md §1 item 2).
    request = sdk.UpdateListenerRequest(
        listener_id=listener.id, body={"listener": {"client_ca_tls_container_ref": None}}
    )
    assert v3.update_listener(request).listener.client_ca_tls_container_ref is None

    v3.delete_listener(sdk.DeleteListenerRequest(listener_id=listener.id))
    assert v3.list_listeners(sdk.ListListenersRequest()).listeners == []


def test_https_protocol_name_follows_the_lb_type(v3: Any, pki: Any) -> None:
    cert = server_cert(v3, pki)
    option = sdk.CreateListenerOption(
        loadbalancer_id=SHARED,
        protocol="HTTPS",
        protocol_port=443,
        default_tls_container_ref=cert.id,
    )
    shared = v3.create_listener(
        sdk.CreateListenerRequest(body=sdk.CreateListenerRequestBody(listener=option))
    ).listener
    assert shared.protocol == "TERMINATED_HTTPS"
    option.loadbalancer_id, option.protocol = DEDICATED, "TERMINATED_HTTPS"
    dedicated = v3.create_listener(
        sdk.CreateListenerRequest(body=sdk.CreateListenerRequestBody(listener=option))
    ).listener
    assert dedicated.protocol == "HTTPS"


def test_pool_member_and_monitor_lifecycle(v3: Any, pki: Any) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    created = pool(v3, listener_id=listener.id)
    assert created.listeners[0].id == listener.id
    assert created.loadbalancers[0].id == DEDICATED
    assert created.members == [] and created.healthmonitor_id is None
    shown = v3.show_listener(sdk.ShowListenerRequest(listener_id=listener.id)).listener
    assert shown.default_pool_id == created.id

    m = member(v3, created.id)
    assert m.address == "10.0.0.10" and m.weight == 1 and m.operating_status == "NO_MONITOR"
    upd = sdk.UpdateMemberRequest(
        pool_id=created.id,
        member_id=m.id,
        body=sdk.UpdateMemberRequestBody(member=sdk.UpdateMemberOption(weight=7)),
    )
    assert v3.update_member(upd).member.weight == 7
    got = v3.show_member(sdk.ShowMemberRequest(pool_id=created.id, member_id=m.id)).member
    assert got.weight == 7
    listed = v3.list_members(sdk.ListMembersRequest(pool_id=created.id, address=["10.0.0.10"]))
    assert [x.id for x in listed.members] == [m.id]

    hm_option = sdk.CreateHealthMonitorOption(
        pool_id=created.id, type="HTTP", delay=5, timeout=3, max_retries=3
    )
    hm = v3.create_health_monitor(
        sdk.CreateHealthMonitorRequest(
            body=sdk.CreateHealthMonitorRequestBody(healthmonitor=hm_option)
        )
    ).healthmonitor
    assert hm.pools[0].id == created.id and hm.url_path == "/" and hm.max_retries_down == 3
    upd_hm = sdk.UpdateHealthMonitorRequest(
        healthmonitor_id=hm.id,
        body=sdk.UpdateHealthMonitorRequestBody(
            healthmonitor=sdk.UpdateHealthMonitorOption(delay=10, url_path="/healthz")
        ),
    )
    assert v3.update_health_monitor(upd_hm).healthmonitor.url_path == "/healthz"
    shown_hm = v3.show_health_monitor(sdk.ShowHealthMonitorRequest(healthmonitor_id=hm.id))
    assert shown_hm.healthmonitor.delay == 10
    assert [
        h.id for h in v3.list_health_monitors(sdk.ListHealthMonitorsRequest()).healthmonitors
    ] == [hm.id]

    shown_pool = v3.show_pool(sdk.ShowPoolRequest(pool_id=created.id)).pool
    assert shown_pool.healthmonitor_id == hm.id and shown_pool.members[0].id == m.id
    got = v3.show_member(sdk.ShowMemberRequest(pool_id=created.id, member_id=m.id)).member
    assert got.operating_status == "ONLINE"

    upd_pool = sdk.UpdatePoolRequest(
        pool_id=created.id,
        body=sdk.UpdatePoolRequestBody(pool=sdk.UpdatePoolOption(lb_algorithm="LEAST_CONNECTIONS")),
    )
    assert v3.update_pool(upd_pool).pool.lb_algorithm == "LEAST_CONNECTIONS"
    assert [p.id for p in v3.list_pools(sdk.ListPoolsRequest(listener_id=[listener.id])).pools] == [
        created.id
    ]

    v3.delete_health_monitor(sdk.DeleteHealthMonitorRequest(healthmonitor_id=hm.id))
    v3.delete_member(sdk.DeleteMemberRequest(pool_id=created.id, member_id=m.id))
    v3.delete_pool(sdk.DeletePoolRequest(pool_id=created.id))
    shown = v3.show_listener(sdk.ShowListenerRequest(listener_id=listener.id)).listener
    assert shown.default_pool_id is None


def test_batch_members_and_project_wide_list(v3: Any) -> None:
    p = pool(v3, lb_id=DEDICATED)
    items = [sdk.BatchCreateMembersOption(address=f"10.0.1.{i}", protocol_port=80) for i in (1, 2)]
    request = sdk.BatchCreateMembersRequest(
        pool_id=p.id, body=sdk.BatchCreateMembersRequestBody(members=items)
    )
    added = v3.batch_create_members(request).members
    assert [x.ret_status for x in added] == ["successful", "successful"]
    again = v3.batch_create_members(request).members
    assert [x.ret_status for x in again] == ["existed", "existed"]
    assert [x.id for x in again] == [x.id for x in added]

    everything = v3.list_all_members(sdk.ListAllMembersRequest(pool_id=[p.id])).members
    assert {x.pool_id for x in everything} == {p.id}
    assert {x.loadbalancer_id for x in everything} == {DEDICATED}

    delete = sdk.BatchDeleteMembersRequest(
        pool_id=p.id,
        body=sdk.BatchDeleteMembersRequestBody(
            members=[
                sdk.BatchDeleteMembersOption(id=added[0].id),
                sdk.BatchDeleteMembersOption(address="10.0.1.2", protocol_port=80),
                sdk.BatchDeleteMembersOption(address="10.9.9.9", protocol_port=80),
            ]
        ),
    )
    result = v3.batch_delete_members(delete).members
    assert [x.ret_status for x in result] == ["successful", "successful", "not found"]
    assert v3.list_members(sdk.ListMembersRequest(pool_id=p.id)).members == []


def test_seeded_load_balancers(v3: Any, pki: Any) -> None:
    lbs = v3.list_load_balancers(sdk.ListLoadBalancersRequest()).loadbalancers
    by_name = {lb.name: lb for lb in lbs}
    assert by_name[SEEDED_DEDICATED_LB_NAME].guaranteed is True
    assert by_name[SEEDED_SHARED_LB_NAME].guaranteed is False
    assert all(lb.provisioning_status == "ACTIVE" for lb in lbs)
    dedicated = v3.list_load_balancers(sdk.ListLoadBalancersRequest(guaranteed=True))
    assert [lb.id for lb in dedicated.loadbalancers] == [DEDICATED, SUBNET_ONLY]

    listener = https_listener(v3, server_cert(v3, pki).id)
    p = pool(v3, listener_id=listener.id)
    lb = v3.show_load_balancer(sdk.ShowLoadBalancerRequest(loadbalancer_id=DEDICATED)).loadbalancer
    assert [x.id for x in lb.listeners] == [listener.id]
    assert [x.id for x in lb.pools] == [p.id]
