"""Every rule violation reaches the SDK as ClientRequestException with Huawei's fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cp_helpers import DEDICATED, SHARED, ca_cert, https_listener, member, pool, server_cert
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkelb import v3 as sdk

MISSING = "00000000-0000-0000-0000-000000000000"


def fails(call: Callable[[], Any], status: int, code: str) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as info:
        call()
    error = info.value
    assert (error.status_code, error.error_code) == (status, code), error.error_msg
    assert error.request_id and len(error.request_id) == 32  # from the X-Request-Id header
    return error


def create_cert(v3: Any, **fields: Any) -> Any:
    body = sdk.CreateCertificateRequestBody(certificate=sdk.CreateCertificateOption(**fields))
    return v3.create_certificate(sdk.CreateCertificateRequest(body=body))


def create_listener(v3: Any, **fields: Any) -> Any:
    fields.setdefault("loadbalancer_id", DEDICATED)
    body = sdk.CreateListenerRequestBody(listener=sdk.CreateListenerOption(**fields))
    return v3.create_listener(sdk.CreateListenerRequest(body=body))


def update_listener(v3: Any, listener_id: str, body: Any) -> Any:
    return v3.update_listener(sdk.UpdateListenerRequest(listener_id=listener_id, body=body))


# --------------------------------------------------------------------------- 400


def test_invalid_pem_is_400(v3: Any, pki: Any) -> None:
    error = fails(
        lambda: create_cert(v3, certificate="not a pem", private_key="x"), 400, "ELB.1011"
    )
    assert "PEM" in error.error_msg


def test_key_not_matching_certificate_is_400(v3: Any, pki: Any) -> None:
    call = lambda: create_cert(v3, certificate=pki.server_cert_pem, private_key=pki.other_key_pem)  # noqa: E731
    assert "does not match" in fails(call, 400, "ELB.1011").error_msg


def test_server_certificate_needs_a_key(v3: Any, pki: Any) -> None:
    fails(lambda: create_cert(v3, certificate=pki.server_cert_pem), 400, "ELB.1011")


def test_server_cert_required_in_default_ref(v3: Any, pki: Any) -> None:
    ca = ca_cert(v3, pki)
    call = lambda: create_listener(  # noqa: E731
        v3, protocol="HTTPS", protocol_port=443, default_tls_container_ref=ca.id
    )
    fails(call, 400, "ELB.8902")


def test_client_type_required_in_ca_ref(v3: Any, pki: Any) -> None:
    cert = server_cert(v3, pki)
    call = lambda: https_listener(v3, cert.id, ca_cert_id=cert.id)  # noqa: E731
    assert "client" in fails(call, 400, "ELB.8902").error_msg


def test_mutual_auth_needs_https(v3: Any, pki: Any) -> None:
    ca = ca_cert(v3, pki)
    call = lambda: create_listener(  # noqa: E731
        v3, protocol="HTTP", protocol_port=80, client_ca_tls_container_ref=ca.id
    )
    fails(call, 400, "ELB.8902")


def test_https_needs_a_server_certificate(v3: Any) -> None:
    fails(lambda: create_listener(v3, protocol="HTTPS", protocol_port=443), 400, "ELB.8902")


@pytest.mark.parametrize(
    ("field", "value"),
    [("protocol", "HTTP"), ("protocol_port", 8443), ("loadbalancer_id", SHARED)],
)
def test_listener_immutable_fields(v3: Any, pki: Any, field: str, value: Any) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    body = {"listener": {field: value}}
    error = fails(lambda: update_listener(v3, listener.id, body), 400, "ELB.8902")
    assert field in error.error_msg


def test_pool_immutable_fields(v3: Any) -> None:
    p = pool(v3, lb_id=DEDICATED)
    request = sdk.UpdatePoolRequest(pool_id=p.id, body={"pool": {"protocol": "TCP"}})
    fails(lambda: v3.update_pool(request), 400, "ELB.8902")


def test_member_immutable_fields(v3: Any) -> None:
    p = pool(v3, lb_id=DEDICATED)
    m = member(v3, p.id)
    for body in ({"member": {"address": "10.0.0.99"}}, {"member": {"subnet_cidr_id": "x"}}):
        request = sdk.UpdateMemberRequest(pool_id=p.id, member_id=m.id, body=body)
        fails(lambda request=request: v3.update_member(request), 400, "ELB.8902")


def test_certificate_type_is_immutable(v3: Any, pki: Any) -> None:
    cert = server_cert(v3, pki)
    request = sdk.UpdateCertificateRequest(
        certificate_id=cert.id, body={"certificate": {"type": "client"}}
    )
    fails(lambda: v3.update_certificate(request), 400, "ELB.8902")


def test_pool_protocol_must_suit_the_listener(v3: Any, pki: Any) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    fails(lambda: pool(v3, listener_id=listener.id, protocol="TCP"), 400, "ELB.8902")


def test_unknown_body_field_is_400(v3: Any) -> None:
    request = sdk.CreatePoolRequest(body={"pool": {"protocol": "HTTP", "colour": "red"}})
    assert "colour" in fails(lambda: v3.create_pool(request), 400, "ELB.8902").error_msg


def test_empty_body_is_400(v3: Any) -> None:
    fails(lambda: v3.create_pool(sdk.CreatePoolRequest(body={})), 400, "ELB.8902")


# --------------------------------------------------------------------------- 404


def test_missing_ids_are_404(v3: Any) -> None:
    fails(lambda: v3.show_listener(sdk.ShowListenerRequest(listener_id=MISSING)), 404, "ELB.8904")
    fails(lambda: v3.show_pool(sdk.ShowPoolRequest(pool_id=MISSING)), 404, "ELB.8904")
    fails(
        lambda: v3.show_certificate(sdk.ShowCertificateRequest(certificate_id="f" * 32)),
        404,
        "ELB.8904",
    )
    fails(
        lambda: v3.delete_member(sdk.DeleteMemberRequest(pool_id=MISSING, member_id=MISSING)),
        404,
        "ELB.8904",
    )
    fails(
        lambda: v3.show_load_balancer(sdk.ShowLoadBalancerRequest(loadbalancer_id=MISSING)),
        404,
        "ELB.8904",
    )


def test_dangling_references_are_404(v3: Any, pki: Any) -> None:
    cert = server_cert(v3, pki)
    fails(lambda: https_listener(v3, "f" * 32), 404, "ELB.8904")
    fails(lambda: https_listener(v3, cert.id, ca_cert_id="e" * 32), 404, "ELB.8904")
    fails(lambda: https_listener(v3, cert.id, lb_id=MISSING), 404, "ELB.8904")
    fails(lambda: pool(v3, listener_id=MISSING), 404, "ELB.8904")
    option = sdk.CreateHealthMonitorOption(
        pool_id=MISSING, type="TCP", delay=5, timeout=3, max_retries=3
    )
    request = sdk.CreateHealthMonitorRequest(
        body=sdk.CreateHealthMonitorRequestBody(healthmonitor=option)
    )
    fails(lambda: v3.create_health_monitor(request), 404, "ELB.8904")


# --------------------------------------------------------------------------- 409


def test_certificate_bound_to_a_listener_cannot_be_deleted(v3: Any, pki: Any) -> None:
    cert, ca = server_cert(v3, pki), ca_cert(v3, pki)
    https_listener(v3, cert.id, ca.id)
    for cid in (cert.id, ca.id):
        request = sdk.DeleteCertificateRequest(certificate_id=cid)
        fails(lambda request=request: v3.delete_certificate(request), 409, "ELB.8907")


def test_protocol_port_is_shared_by_tcp_http_https(v3: Any, pki: Any) -> None:
    https_listener(v3, server_cert(v3, pki).id, port=443)
    call = lambda: create_listener(v3, protocol="TCP", protocol_port=443)  # noqa: E731
    fails(call, 409, "ELB.8907")
    create_listener(v3, protocol="UDP", protocol_port=443)  # UDP has its own port space
    create_listener(v3, protocol="TCP", protocol_port=443, loadbalancer_id=SHARED)


def test_duplicate_member_is_409(v3: Any) -> None:
    p = pool(v3, lb_id=DEDICATED)
    member(v3, p.id, "10.0.0.5", 80)
    fails(lambda: member(v3, p.id, "10.0.0.5", 80), 409, "ELB.8907")
    member(v3, p.id, "10.0.0.5", 81)


def test_listener_with_a_pool_cannot_be_deleted(v3: Any, pki: Any) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    pool(v3, listener_id=listener.id)
    request = sdk.DeleteListenerRequest(listener_id=listener.id)
    fails(lambda: v3.delete_listener(request), 409, "ELB.8907")


def test_pool_with_members_or_monitor_cannot_be_deleted(v3: Any) -> None:
    p = pool(v3, lb_id=DEDICATED)
    m = member(v3, p.id)
    request = sdk.DeletePoolRequest(pool_id=p.id)
    fails(lambda: v3.delete_pool(request), 409, "ELB.8907")
    v3.delete_member(sdk.DeleteMemberRequest(pool_id=p.id, member_id=m.id))
    option = sdk.CreateHealthMonitorOption(
        pool_id=p.id, type="TCP", delay=5, timeout=3, max_retries=3
    )
    hm_request = sdk.CreateHealthMonitorRequest(
        body=sdk.CreateHealthMonitorRequestBody(healthmonitor=option)
    )
    v3.create_health_monitor(hm_request)
    fails(lambda: v3.delete_pool(request), 409, "ELB.8907")
    fails(lambda: v3.create_health_monitor(hm_request), 409, "ELB.8907")  # one per pool
