"""Documented limits: shared vs dedicated, v2 rules, IP-type members, SNI domains, LB keys.

Sources: docs/api-notes.md §10.2.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import huaweicloudsdkelb
import pytest
from cp_helpers import DEDICATED, SHARED, SUBNET_ONLY, member, pool, server_cert
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkelb import v2 as sdk2
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import DEMO_PROJECT_ID

SUBNET = "6f0d4e59-2b1a-4c4d-9a7e-0000000000f1"


def refused(call: Any, status: int = 400, code: str = "ELB.8902") -> ClientRequestException:
    with pytest.raises(ClientRequestException) as info:
        call()
    assert (info.value.status_code, info.value.error_code) == (status, code), info.value.error_msg
    return info.value


def listener_option(lb_id: str, **fields: Any) -> Any:
    return sdk.CreateListenerRequest(
        body=sdk.CreateListenerRequestBody(
            listener=sdk.CreateListenerOption(loadbalancer_id=lb_id, **fields)
        )
    )


# --------------------------------------------------------------------------- v3 on shared


def test_v3_tls_policies_apply_only_to_dedicated_listeners(v3: Any, pki: Any) -> None:
    cert = server_cert(v3, pki)
    fields = {
        "protocol": "HTTPS",
        "protocol_port": 443,
        "default_tls_container_ref": cert.id,
        "tls_ciphers_policy": "tls-1-2-strict",
        "security_policy_id": "9d1b5a2e-0000-4000-8000-00000000beef",
    }
    dedicated = v3.create_listener(listener_option(DEDICATED, **fields)).listener
    assert dedicated.protocol == "HTTPS"
    assert dedicated.security_policy_id == fields["security_policy_id"]
    shared = v3.create_listener(listener_option(SHARED, **fields)).listener
    assert shared.protocol == "TERMINATED_HTTPS"
    assert shared.tls_ciphers_policy != "tls-1-2-strict" and shared.security_policy_id is None


# --------------------------------------------------------------------------- v2 limits


def v2_pool(v2: Any, protocol: str) -> Any:
    option = sdk2.CreatePoolReq(
        lb_algorithm="ROUND_ROBIN", protocol=protocol, loadbalancer_id=SHARED
    )
    return v2.create_pool(sdk2.CreatePoolRequest(body=sdk2.CreatePoolRequestBody(pool=option)))


def test_v2_pools_are_tcp_udp_or_http(v2: Any) -> None:
    refused(lambda: v2_pool(v2, "HTTPS"))
    assert v2_pool(v2, "HTTP").pool.protocol == "HTTP"


def test_shared_health_monitors_are_tcp_udp_connect_or_http(v2: Any, v3: Any) -> None:
    pool_id = v2_pool(v2, "HTTP").pool.id

    def monitor(kind: str) -> Any:
        option = sdk2.CreateHealthmonitorReq(
            pool_id=pool_id, type=kind, delay=5, timeout=3, max_retries=3
        )
        body = sdk2.CreateHealthmonitorRequestBody(healthmonitor=option)
        return v2.create_healthmonitor(sdk2.CreateHealthmonitorRequest(body=body))

    refused(lambda: monitor("HTTPS"))
    option = sdk.CreateHealthMonitorOption(
        pool_id=pool_id, type="TLS", delay=5, timeout=3, max_retries=3
    )
    request = sdk.CreateHealthMonitorRequest(
        body=sdk.CreateHealthMonitorRequestBody(healthmonitor=option)
    )
    refused(lambda: v3.create_health_monitor(request))  # a shared LB, whichever API
    assert monitor("HTTP").healthmonitor.type == "HTTP"


def test_v2_members_need_a_subnet(v2: Any) -> None:
    pool_id = v2_pool(v2, "HTTP").pool.id

    def add(**fields: Any) -> Any:
        option = sdk2.CreateMemberReq(address="10.0.0.8", protocol_port=80, **fields)
        body = sdk2.CreateMemberRequestBody(member=option)
        return v2.create_member(sdk2.CreateMemberRequest(pool_id=pool_id, body=body))

    refused(add)
    assert add(subnet_id=SUBNET).member.subnet_id == SUBNET


def test_v2_terminated_https_listeners_take_http_pools_only(v2: Any, pki: Any) -> None:
    cert = v2.create_certificate(
        sdk2.CreateCertificateRequest(
            body=sdk2.CreateCertificateRequestBody(
                name="s", certificate=pki.server_cert_pem, private_key=pki.server_key_pem
            )
        )
    )
    option = sdk2.CreateListenerReq(
        loadbalancer_id=SHARED,
        protocol="TERMINATED_HTTPS",
        protocol_port=443,
        default_tls_container_ref=cert.id,
    )
    listener = v2.create_listener(
        sdk2.CreateListenerRequest(body=sdk2.CreateListenerRequestBody(listener=option))
    ).listener
    tcp = sdk2.CreatePoolReq(lb_algorithm="ROUND_ROBIN", protocol="TCP", listener_id=listener.id)
    refused(
        lambda: v2.create_pool(sdk2.CreatePoolRequest(body=sdk2.CreatePoolRequestBody(pool=tcp)))
    )


# --------------------------------------------------------------------------- IP-type members


def test_a_member_without_subnet_needs_ip_target_enable(v3: Any) -> None:
    p = pool(v3, lb_id=SUBNET_ONLY)
    error = refused(lambda: member(v3, p.id, "10.0.0.10"), 400, "ELB.8939")
    assert error.error_msg == "The loadbalancer's ip_target_enable must be true when add ip member."
    option = sdk.CreateMemberOption(address="10.0.0.10", protocol_port=80, subnet_cidr_id=SUBNET)
    body = sdk.CreateMemberRequestBody(member=option)
    added = v3.create_member(sdk.CreateMemberRequest(pool_id=p.id, body=body)).member
    assert added.member_type == "instance"


def test_a_member_without_subnet_needs_a_private_ipv4_address(v3: Any) -> None:
    p = pool(v3, lb_id=DEDICATED)
    refused(lambda: member(v3, p.id, "8.8.8.8"))
    refused(lambda: member(v3, p.id, "fd00::10"))
    assert member(v3, p.id, "192.168.1.4").member_type == "ip"
    assert member(v3, p.id, "127.0.0.1").member_type == "ip"  # the emulator's loopback backends


def test_shared_load_balancers_have_no_ip_type_members(v3: Any) -> None:
    p = pool(v3, lb_id=SHARED)
    refused(lambda: member(v3, p.id, "10.0.0.10"), 400, "ELB.8939")


# --------------------------------------------------------------------------- certificates


def test_the_domain_of_an_sni_certificate_cannot_be_cleared(v3: Any, pki: Any) -> None:
    default = server_cert(v3, pki, name="default")
    option = sdk.CreateCertificateOption(
        name="sni",
        certificate=pki.server_cert_pem,
        private_key=pki.server_key_pem,
        domain="svc.example.com",
    )
    sni = v3.create_certificate(
        sdk.CreateCertificateRequest(body=sdk.CreateCertificateRequestBody(certificate=option))
    ).certificate
    fields = {
        "protocol": "HTTPS",
        "protocol_port": 443,
        "default_tls_container_ref": default.id,
        "sni_container_refs": [sni.id],
    }
    v3.create_listener(listener_option(DEDICATED, **fields))
    clear = sdk.UpdateCertificateRequest(
        certificate_id=sni.id,
        body=sdk.UpdateCertificateRequestBody(certificate=sdk.UpdateCertificateOption(domain="")),
    )
    refused(lambda: v3.update_certificate(clear), 409, "ELB.8907")
    no_domain = {**fields, "protocol_port": 8443, "sni_container_refs": [default.id]}
    refused(lambda: v3.create_listener(listener_option(DEDICATED, **no_domain)))


# --------------------------------------------------------------------------- load balancer keys


def _model_keys(relative: str) -> set[str]:
    source = (Path(huaweicloudsdkelb.__file__).parent / relative).read_text()
    block = re.search(r"attribute_map = \{(.*?)\}", source, re.S)
    assert block is not None
    return set(re.findall(r"'\w+': '(\w+)'", block.group(1)))


def test_every_documented_load_balancer_key_is_returned(v3: Any, v2: Any) -> None:
    shown = v3.show_load_balancer(sdk.ShowLoadBalancerRequest(loadbalancer_id=DEDICATED))
    raw = json.loads(shown.raw_content)["loadbalancer"]
    assert _model_keys("v3/model/load_balancer.py") <= set(raw)
    assert raw["ip_target_enable"] is True and raw["l7_flavor_id"]
    assert raw["provisioning_status"] == "ACTIVE" and raw["operating_status"] == "ONLINE"
    assert raw["enterprise_project_id"] == "0"
    shown2 = v2.show_loadbalancer(sdk2.ShowLoadbalancerRequest(loadbalancer_id=SHARED))
    raw2 = json.loads(shown2.raw_content)["loadbalancer"]
    assert _model_keys("v2/model/loadbalancer_resp.py") <= set(raw2)
    subnet_only = v3.show_load_balancer(sdk.ShowLoadBalancerRequest(loadbalancer_id=SUBNET_ONLY))
    assert subnet_only.loadbalancer.ip_target_enable is False


# --------------------------------------------------------------------------- SDK docstring rules


def test_insert_headers_keys_are_the_sdks_and_tls_ones_need_a_tls_listener(
    v3: Any, v2: Any
) -> None:
    http = sdk.CreateListenerOption(
        loadbalancer_id=DEDICATED,
        protocol="HTTP",
        protocol_port=80,
        insert_headers=sdk.ListenerInsertHeaders(x_forwarded_clientcert_subjectdn_enable=True),
    )
    request = sdk.CreateListenerRequest(body=sdk.CreateListenerRequestBody(listener=http))
    refused(lambda: v3.create_listener(request))
    typo = {"listener": {"loadbalancer_id": DEDICATED, "protocol": "HTTP", "protocol_port": 81,
                         "insert_headers": {"X-Forwarded-Hots": True}}}  # fmt: skip
    refused(lambda: v3.create_listener(sdk.CreateListenerRequest(body=typo)))
    v2_only = sdk2.CreateListenerReq(
        loadbalancer_id=SHARED,
        protocol="HTTP",
        protocol_port=82,
        insert_headers=sdk2.InsertHeader(x_forwarded_elb_ip=True),
    )
    body = sdk2.CreateListenerRequestBody(listener=v2_only)
    created = v2.create_listener(sdk2.CreateListenerRequest(body=body)).listener
    assert created.insert_headers.x_forwarded_elb_ip is True


def test_monitor_types_follow_the_pool_protocol(v3: Any) -> None:
    udp = pool(v3, lb_id=DEDICATED, protocol="UDP")

    def monitor(kind: str) -> Any:
        option = sdk.CreateHealthMonitorOption(
            pool_id=udp.id, type=kind, delay=5, timeout=3, max_retries=3
        )
        body = sdk.CreateHealthMonitorRequestBody(healthmonitor=option)
        return v3.create_health_monitor(sdk.CreateHealthMonitorRequest(body=body))

    refused(lambda: monitor("HTTP"))
    assert monitor("UDP_CONNECT").healthmonitor.type == "UDP_CONNECT"


def test_pools_are_always_admin_up(v3: Any) -> None:
    option = sdk.CreatePoolOption(
        lb_algorithm="ROUND_ROBIN", protocol="HTTP", loadbalancer_id=DEDICATED, admin_state_up=False
    )
    request = sdk.CreatePoolRequest(body=sdk.CreatePoolRequestBody(pool=option))
    refused(lambda: v3.create_pool(request))


def test_listener_timeouts_and_names_have_the_documented_ranges(v3: Any) -> None:
    def tcp(**fields: Any) -> Any:
        return v3.create_listener(listener_option(DEDICATED, protocol="TCP", **fields))

    refused(lambda: tcp(protocol_port=7001, keepalive_timeout=5))  # 10-4000 s for TCP
    refused(lambda: tcp(protocol_port=7002, name="x" * 256))
    http = listener_option(DEDICATED, protocol="HTTP", protocol_port=7003, member_timeout=301)
    refused(lambda: v3.create_listener(http))
    assert tcp(protocol_port=7004, keepalive_timeout=10).listener.keepalive_timeout == 10


def test_a_dedicated_lb_without_an_l7_flavor_takes_no_https_listener(
    server: Any, v3: Any, pki: Any
) -> None:
    with server.emulator.store.transaction(write=True) as tx:  # an L4-only dedicated LB
        lb = tx.get("loadbalancer", DEDICATED, DEMO_PROJECT_ID)
        lb.update(id="6f0d4e59-2b1a-4c4d-9a7e-0000000000l4", name="l4-only", l7_flavor_id=None)
        tx.insert("loadbalancer", lb)
    cert = server_cert(v3, pki)
    https = {"protocol": "HTTPS", "protocol_port": 443, "default_tls_container_ref": cert.id}
    refused(lambda: v3.create_listener(listener_option(lb["id"], **https)))
    tcp = v3.create_listener(listener_option(lb["id"], protocol="TCP", protocol_port=443))
    assert tcp.listener.protocol == "TCP"


@pytest.mark.parametrize(
    ("model", "show"),
    [
        ("v3/model/listener.py", "listener"),
        ("v3/model/pool.py", "pool"),
        ("v3/model/member.py", "member"),
        ("v3/model/health_monitor.py", "healthmonitor"),
        ("v3/model/certificate_info.py", "certificate"),
    ],
)
def test_every_v3_model_key_is_returned(v3: Any, pki: Any, model: str, show: str) -> None:
    cert = server_cert(v3, pki)
    listener = v3.create_listener(
        listener_option(
            DEDICATED, protocol="HTTPS", protocol_port=443, default_tls_container_ref=cert.id
        )
    ).listener
    p = pool(v3, listener_id=listener.id)
    m = member(v3, p.id, "10.0.0.10")
    option = sdk.CreateHealthMonitorOption(
        pool_id=p.id, type="TCP", delay=5, timeout=3, max_retries=3
    )
    hm = v3.create_health_monitor(
        sdk.CreateHealthMonitorRequest(
            body=sdk.CreateHealthMonitorRequestBody(healthmonitor=option)
        )
    ).healthmonitor
    replies = {
        "listener": lambda: v3.show_listener(sdk.ShowListenerRequest(listener_id=listener.id)),
        "pool": lambda: v3.show_pool(sdk.ShowPoolRequest(pool_id=p.id)),
        "member": lambda: v3.show_member(sdk.ShowMemberRequest(pool_id=p.id, member_id=m.id)),
        "healthmonitor": lambda: v3.show_health_monitor(
            sdk.ShowHealthMonitorRequest(healthmonitor_id=hm.id)
        ),
        "certificate": lambda: v3.show_certificate(
            sdk.ShowCertificateRequest(certificate_id=cert.id)
        ),
    }
    raw = json.loads(replies[show]().raw_content)[show]
    assert _model_keys(model) <= set(raw), _model_keys(model) - set(raw)
