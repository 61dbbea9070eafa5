"""Small builders for SDK requests used across the emulator tests."""

from __future__ import annotations

from typing import Any

from huaweicloudsdkelb import v2 as sdk2
from huaweicloudsdkelb import v3 as sdk3

from elb_mtls_deploy.emulator import (
    DEMO_AK,
    DEMO_PROJECT_ID,
    DEMO_SK,
    SEEDED_DEDICATED_LB_ID,
    SEEDED_NO_IP_TARGET_LB_ID,
    SEEDED_SHARED_LB_ID,
)


def sdk_client(
    version: str,
    endpoint: str,
    ak: str = DEMO_AK,
    sk: str = DEMO_SK,
    project_id: str = DEMO_PROJECT_ID,
) -> Any:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials

    if version == "v3":
        from huaweicloudsdkelb.v3 import ElbClient
    else:
        from huaweicloudsdkelb.v2 import ElbClient
    # Never with_region: it would append the real endpoint as a fallback (docs/api-notes.md §1.8).
    return (
        ElbClient.new_builder()
        .with_credentials(BasicCredentials(ak, sk, project_id))
        .with_endpoint(endpoint)
        .build()
    )


def server_cert(client: Any, pki: Any, name: str = "server") -> Any:
    option = sdk3.CreateCertificateOption(
        name=name, certificate=pki.server_cert_pem, private_key=pki.server_key_pem
    )
    body = sdk3.CreateCertificateRequestBody(certificate=option)
    return client.create_certificate(sdk3.CreateCertificateRequest(body=body)).certificate


def ca_cert(client: Any, pki: Any, name: str = "ca") -> Any:
    option = sdk3.CreateCertificateOption(name=name, type="client", certificate=pki.ca_pem)
    body = sdk3.CreateCertificateRequestBody(certificate=option)
    return client.create_certificate(sdk3.CreateCertificateRequest(body=body)).certificate


def https_listener(
    client: Any,
    server_cert_id: str,
    ca_cert_id: str | None = None,
    port: int = 443,
    lb_id: str = SEEDED_DEDICATED_LB_ID,
    name: str = "web",
) -> Any:
    option = sdk3.CreateListenerOption(
        loadbalancer_id=lb_id,
        protocol="HTTPS",
        protocol_port=port,
        name=name,
        default_tls_container_ref=server_cert_id,
        client_ca_tls_container_ref=ca_cert_id,
    )
    body = sdk3.CreateListenerRequestBody(listener=option)
    return client.create_listener(sdk3.CreateListenerRequest(body=body)).listener


def pool(
    client: Any,
    listener_id: str | None = None,
    lb_id: str | None = None,
    protocol: str = "HTTP",
    name: str = "backends",
) -> Any:
    option = sdk3.CreatePoolOption(
        lb_algorithm="ROUND_ROBIN",
        protocol=protocol,
        listener_id=listener_id,
        loadbalancer_id=lb_id,
        name=name,
    )
    return client.create_pool(
        sdk3.CreatePoolRequest(body=sdk3.CreatePoolRequestBody(pool=option))
    ).pool


def member(client: Any, pool_id: str, address: str = "10.0.0.10", port: int = 8080) -> Any:
    option = sdk3.CreateMemberOption(address=address, protocol_port=port, name=f"m-{address}")
    body = sdk3.CreateMemberRequestBody(member=option)
    return client.create_member(sdk3.CreateMemberRequest(pool_id=pool_id, body=body)).member


def v2_cert_body(pki: Any, name: str = "v2-server", **extra: Any) -> Any:
    return sdk2.CreateCertificateRequestBody(
        name=name, certificate=pki.server_cert_pem, private_key=pki.server_key_pem, **extra
    )


SHARED = SEEDED_SHARED_LB_ID
DEDICATED = SEEDED_DEDICATED_LB_ID
SUBNET_ONLY = SEEDED_NO_IP_TARGET_LB_ID  # dedicated, ip_target_enable false
