"""Desired state: what each kind of load balancer accepts, and the values the API fills in.

Pure: a spec literal and load balancer facts in, records out (docs/api-notes.md §10.3).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import trustme

from elb_mtls_deploy.cloud.base import LoadBalancerInfo
from elb_mtls_deploy.desired import UploadCert, build_desired
from elb_mtls_deploy.errors import SpecError
from elb_mtls_deploy.spec.load import load_spec
from elb_mtls_deploy.spec.model import Spec
from elb_mtls_deploy.state import Flavour, Record, Ref, State, changed_fields

DEDICATED = LoadBalancerInfo(
    "lb-d", "dedicated", True, "10.0.0.2", ip_target_enable=True, l7_flavor_id="l7"
)
SHARED = LoadBalancerInfo("lb-s", "shared", False, "10.0.0.3")
SUBNET = "6f0d4e59-2b1a-4c4d-9a7e-0000000000f1"


def spec(tmp_path: Path, listener: str = "", pool: str = "", target: str = "") -> Spec:
    text = textwrap.dedent(
        """\
        stack: st
        target: {target}
        certificates:
          cas: [{{name: ca, subject: {{common_name: CA}}}}]
          servers: [{{name: www, issuer: ca, subject: {{common_name: a.test}},
                      dns_names: [a.test]}}]
        listeners:
          - name: www
            loadbalancer: {{name: lb}}
            server_certificate: www
            client_ca: ca
        {listener}
            pool:
        {pool}
        """
    ).format(
        target=target or "{kind: embedded}",
        listener=textwrap.indent(textwrap.dedent(listener), "    "),
        pool=textwrap.indent(
            textwrap.dedent(pool) or "members: [{address: 10.0.0.9, port: 80}]", "      "
        ),
    )
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return load_spec(path, {})


_CA = trustme.CA()
UPLOADS = {
    "www": UploadCert("server", _CA.issue_cert("a.test").cert_chain_pems[0].bytes().decode(), "K"),
    "ca": UploadCert("client", _CA.cert_pem.bytes().decode()),
}


def build(s: Spec, lb: LoadBalancerInfo, flavour: Flavour = "v3") -> State:
    return build_desired(s, UPLOADS, flavour, {s.listeners[0].loadbalancer: lb})


def listener_fields(state: State) -> dict[str, Any]:
    return dict(state.records[Ref("listener", "www")].fields)


def test_https_is_stored_as_terminated_https_on_a_shared_lb_even_through_v3(
    tmp_path: Path,
) -> None:
    s = spec(tmp_path, pool=f"members: [{{address: 10.0.0.9, port: 80, subnet_id: {SUBNET}}}]")
    assert listener_fields(build(s, DEDICATED))["protocol"] == "HTTPS"
    shared_v3 = listener_fields(build(s, SHARED, "v3"))
    assert shared_v3["protocol"] == "TERMINATED_HTTPS"
    # v3 applies a TLS policy only on dedicated load balancers: not sent, not compared.
    assert "tls_ciphers_policy" not in shared_v3
    assert listener_fields(build(s, SHARED, "v2"))["tls_ciphers_policy"] == "tls-1-2"


def test_a_tls_policy_on_a_shared_lb_through_v3_is_refused_with_the_fix(tmp_path: Path) -> None:
    s = spec(
        tmp_path,
        listener="tls_policy: tls-1-2-strict",
        pool=f"members: [{{address: 10.0.0.9, port: 80, subnet_id: {SUBNET}}}]",
    )
    with pytest.raises(SpecError, match="only on dedicated") as err:
        build(s, SHARED, "v3")
    assert "v2" in (err.value.hint or "")
    assert listener_fields(build(s, SHARED, "v2"))["tls_ciphers_policy"] == "tls-1-2-strict"


def test_header_switches_are_explicit_and_x_forwarded_host_defaults_on(tmp_path: Path) -> None:
    s = spec(tmp_path, listener="insert_headers: {forwarded_port: true, client_cert_serial: true}")
    headers = listener_fields(build(s, DEDICATED))["insert_headers"]
    assert headers["X-Forwarded-Host"] is True  # the API's default, modelled
    assert headers["X-Forwarded-Port"] is True
    assert headers["X-Forwarded-ELB-IP"] is False  # explicit false, not omitted
    assert headers["X-Forwarded-Clientcert-serialnumber-enable"] is True
    # client-certificate headers are sent only when on (feature-gated accounts)
    assert "X-Forwarded-Clientcert-subjectdn-enable" not in headers
    assert len(headers) == 11


def test_forwarded_host_can_be_switched_off(tmp_path: Path) -> None:
    s = spec(tmp_path, listener="insert_headers: {forwarded_host: false}")
    assert listener_fields(build(s, DEDICATED))["insert_headers"]["X-Forwarded-Host"] is False


def test_cookie_persistence_carries_the_timeout_the_api_fills_in(tmp_path: Path) -> None:
    s = spec(
        tmp_path,
        pool="""\
        session_persistence: {type: HTTP_COOKIE}
        members: [{address: 10.0.0.9, port: 80}]""",
    )
    pool = build(s, DEDICATED).records[Ref("pool", "www")]
    assert pool.fields["session_persistence"] == {
        "type": "HTTP_COOKIE",
        "persistence_timeout": 1440,
    }
    assert pool.fields["loadbalancer_id"] == "lb-d"
    # what the API reports back (ListPools example) is not drift
    observed = Record(
        "pool",
        Ref("pool", "www"),
        "s-www",
        {
            **pool.fields,
            "session_persistence": {
                "type": "HTTP_COOKIE",
                "cookie_name": "",
                "persistence_timeout": 1440,
            },
        },
        "p1",
    )
    assert changed_fields(pool, observed) == []


@pytest.mark.parametrize(
    ("pool", "match"),
    [
        (
            "protocol: HTTPS\nmembers: [{address: 10.0.0.9, port: 80, subnet_id: X}]",
            "pool protocol HTTPS",
        ),
        (
            "health_monitor: {type: HTTPS}\nmembers: [{address: 10.0.0.9, port: 80, subnet_id: X}]",
            "health monitor type HTTPS",
        ),
        ("members: [{address: 10.0.0.9, port: 80}]", "needs a subnet_id"),
    ],
)
def test_shared_lb_limits_are_refused_before_any_change(
    tmp_path: Path, pool: str, match: str
) -> None:
    with pytest.raises(SpecError, match=match):
        build(spec(tmp_path, pool=pool), SHARED, "v2")


def test_shared_lb_refuses_client_certificate_headers(tmp_path: Path) -> None:
    s = spec(
        tmp_path,
        listener="insert_headers: {client_cert_subject_dn: true}",
        pool=f"members: [{{address: 10.0.0.9, port: 80, subnet_id: {SUBNET}}}]",
    )
    with pytest.raises(SpecError, match="client_cert_subject_dn"):
        build(s, SHARED, "v3")


def test_ip_members_need_ip_target_enable_and_a_private_ipv4(tmp_path: Path) -> None:
    no_ip_targets = LoadBalancerInfo(
        "lb-d", "d", True, None, ip_target_enable=False, l7_flavor_id="l7"
    )
    with pytest.raises(SpecError, match="ip_target_enable"):
        build(spec(tmp_path), no_ip_targets)
    public = spec(tmp_path, pool="members: [{address: 8.8.8.8, port: 80}]")
    with pytest.raises(SpecError, match="private IPv4"):
        build(public, DEDICATED)
    with_subnet = spec(tmp_path, pool="members: [{address: 8.8.8.8, port: 80, subnet_id: X}]")
    assert build(with_subnet, no_ip_targets).by_kind("member")


def test_https_needs_a_layer7_flavour(tmp_path: Path) -> None:
    l4_only = LoadBalancerInfo("lb-d", "d", True, None, ip_target_enable=True, l7_flavor_id="")
    with pytest.raises(SpecError, match="layer-7"):
        build(spec(tmp_path), l4_only)
    unknown = LoadBalancerInfo("lb-d", "d", True, None)  # field not reported: not checked
    assert build(spec(tmp_path), unknown).records[Ref("listener", "www")]


def test_european_regions_offer_only_four_tls_policies(tmp_path: Path) -> None:
    target = "{kind: huaweicloud, region: eu-west-101, project_id: " + "a" * 32 + "}"
    s = spec(tmp_path, listener="tls_policy: tls-1-2-fs", target=target)
    with pytest.raises(SpecError, match="eu-west-101"):
        build(s, DEDICATED)


def test_client_certificate_headers_on_the_real_cloud_come_with_a_note(tmp_path: Path) -> None:
    from elb_mtls_deploy.workflow.notes import feature_notes

    target = "{kind: huaweicloud, region: cn-north-4, project_id: " + "a" * 32 + "}"
    with_headers = spec(
        tmp_path, listener="insert_headers: {client_cert_serial: true}", target=target
    )
    [note] = feature_notes(with_headers)
    assert "service ticket" in note and "listener www" in note
    assert feature_notes(spec(tmp_path, target=target)) == []
