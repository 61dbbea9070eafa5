"""The v2 SDK (shared LBs): flat certificate bodies, v2 times, TERMINATED_HTTPS, subnet_id."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cp_helpers import DEDICATED, SHARED, SUBNET_ONLY, server_cert, v2_cert_body
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkelb import v2 as sdk
from huaweicloudsdkelb import v3 as sdk3

V2_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def test_v2_certificate_lifecycle(v2: Any, pki: Any) -> None:
    cert = v2.create_certificate(sdk.CreateCertificateRequest(body=v2_cert_body(pki)))
    assert len(cert.id) == 32 and cert.type == "server"
    assert V2_TIME.match(cert.create_time) and V2_TIME.match(cert.expire_time)
    ca = v2.create_certificate(
        sdk.CreateCertificateRequest(
            body=sdk.CreateCertificateRequestBody(name="ca", type="client", certificate=pki.ca_pem)
        )
    )
    listed = v2.list_certificates(sdk.ListCertificatesRequest(type="client"))
    assert [c.id for c in listed.certificates] == [ca.id] and listed.instance_num == 1

    update = sdk.UpdateCertificateRequest(
        certificate_id=cert.id, body=sdk.UpdateCertificateRequestBody(name="renamed")
    )
    assert v2.update_certificate(update).name == "renamed"
    shown = v2.show_certificate(sdk.ShowCertificateRequest(certificate_id=cert.id))
    assert shown.name == "renamed" and shown.tenant_id
    v2.delete_certificate(sdk.DeleteCertificateRequest(certificate_id=ca.id))
    assert v2.list_certificates(sdk.ListCertificatesRequest()).instance_num == 1


def test_one_certificate_store_for_both_versions(v2: Any, v3: Any, pki: Any) -> None:
    created_v3 = server_cert(v3, pki)
    shown = v2.show_certificate(sdk.ShowCertificateRequest(certificate_id=created_v3.id))
    assert shown.id == created_v3.id
    created_v2 = v2.create_certificate(sdk.CreateCertificateRequest(body=v2_cert_body(pki)))
    got = v3.show_certificate(sdk3.ShowCertificateRequest(certificate_id=created_v2.id))
    assert got.certificate.fingerprint == created_v3.fingerprint


def test_v2_listener_pool_member_monitor(v2: Any, pki: Any) -> None:
    cert = v2.create_certificate(sdk.CreateCertificateRequest(body=v2_cert_body(pki)))
    ca = v2.create_certificate(
        sdk.CreateCertificateRequest(
            body=sdk.CreateCertificateRequestBody(type="client", certificate=pki.ca_pem)
        )
    )
    option = sdk.CreateListenerReq(
        loadbalancer_id=SHARED,
        protocol="TERMINATED_HTTPS",
        protocol_port=443,
        default_tls_container_ref=cert.id,
        client_ca_tls_container_ref=ca.id,
        name="v2-web",
    )
    listener = v2.create_listener(
        sdk.CreateListenerRequest(body=sdk.CreateListenerRequestBody(listener=option))
    ).listener
    assert listener.protocol == "TERMINATED_HTTPS" and listener.tls_ciphers_policy == "tls-1-0"
    assert listener.loadbalancers[0].id == SHARED

    found = v2.list_listeners(sdk.ListListenersRequest(loadbalancer_id=SHARED, name="v2-web"))
    assert [x.id for x in found.listeners] == [listener.id]
    assert v2.list_listeners(sdk.ListListenersRequest(loadbalancer_id=DEDICATED)).listeners == []

    pool_option = sdk.CreatePoolReq(
        protocol="HTTP", lb_algorithm="ROUND_ROBIN", listener_id=listener.id
    )
    pool = v2.create_pool(
        sdk.CreatePoolRequest(body=sdk.CreatePoolRequestBody(pool=pool_option))
    ).pool
    assert pool.listeners[0].id == listener.id

    member_option = sdk.CreateMemberReq(address="10.0.0.7", protocol_port=80, subnet_id="sub-1")
    member = v2.create_member(
        sdk.CreateMemberRequest(
            pool_id=pool.id, body=sdk.CreateMemberRequestBody(member=member_option)
        )
    ).member
    assert member.subnet_id == "sub-1"
    members = v2.list_members(sdk.ListMembersRequest(pool_id=pool.id, subnet_id="sub-1")).members
    assert [m.id for m in members] == [member.id]
    update = sdk.UpdateMemberRequest(
        pool_id=pool.id,
        member_id=member.id,
        body=sdk.UpdateMemberRequestBody(member=sdk.UpdateMemberReq(weight=5)),
    )
    assert v2.update_member(update).member.weight == 5

    hm_option = sdk.CreateHealthmonitorReq(
        pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3
    )
    hm = v2.create_healthmonitor(
        sdk.CreateHealthmonitorRequest(
            body=sdk.CreateHealthmonitorRequestBody(healthmonitor=hm_option)
        )
    ).healthmonitor
    assert hm.pools[0].id == pool.id
    shown = v2.show_healthmonitors(sdk.ShowHealthmonitorsRequest(healthmonitor_id=hm.id))
    assert shown.healthmonitor.delay == 5
    assert len(v2.list_healthmonitors(sdk.ListHealthmonitorsRequest()).healthmonitors) == 1
    assert v2.show_pool(sdk.ShowPoolRequest(pool_id=pool.id)).pool.healthmonitor_id == hm.id
    assert len(v2.list_pools(sdk.ListPoolsRequest(loadbalancer_id=SHARED)).pools) == 1

    off = sdk.UpdateListenerRequest(
        listener_id=listener.id,
        body=sdk.UpdateListenerRequestBody(
            listener=sdk.UpdateListenerReq(client_ca_tls_container_ref="")
        ),
    )
    assert v2.update_listener(off).listener.client_ca_tls_container_ref is None

    v2.delete_healthmonitor(sdk.DeleteHealthmonitorRequest(healthmonitor_id=hm.id))
    v2.delete_member(sdk.DeleteMemberRequest(pool_id=pool.id, member_id=member.id))
    v2.delete_pool(sdk.DeletePoolRequest(pool_id=pool.id))
    v2.delete_listener(sdk.DeleteListenerRequest(listener_id=listener.id))
    assert v2.list_listeners(sdk.ListListenersRequest()).listeners == []


def test_v2_load_balancers(v2: Any) -> None:
    lbs = v2.list_loadbalancers(sdk.ListLoadbalancersRequest()).loadbalancers
    assert {lb.id for lb in lbs} == {SHARED, DEDICATED, SUBNET_ONLY}
    shown = v2.show_loadbalancer(sdk.ShowLoadbalancerRequest(loadbalancer_id=SHARED))
    assert shown.loadbalancer.vip_address == "127.0.0.2"


def test_v2_errors_have_huawei_shape(v2: Any, pki: Any) -> None:
    body = sdk.CreateCertificateRequestBody(
        certificate=pki.server_cert_pem, private_key=pki.other_key_pem
    )
    with pytest.raises(ClientRequestException) as info:
        v2.create_certificate(sdk.CreateCertificateRequest(body=body))
    assert (info.value.status_code, info.value.error_code) == (400, "ELB.1011")
    with pytest.raises(ClientRequestException) as info:
        v2.show_listener(sdk.ShowListenerRequest(listener_id="nope"))
    assert info.value.status_code == 404 and info.value.request_id
