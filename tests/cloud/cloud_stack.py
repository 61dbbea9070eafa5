"""A small mTLS stack built through `SdkCloud`, shared by the in-process and loopback tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elb_mtls_deploy.cloud.base import Credentials
from elb_mtls_deploy.cloud.sdk import SdkCloud, connect
from elb_mtls_deploy.emulator import (
    DEMO_AK,
    DEMO_PROJECT_ID,
    DEMO_SK,
    SEEDED_DEDICATED_LB_ID,
    SEEDED_SHARED_LB_ID,
)
from elb_mtls_deploy.emulator.constants import SEEDED_SUBNET_ID
from elb_mtls_deploy.state import Flavour, marker

MARKER = marker("t")
SUBNET = SEEDED_SUBNET_ID
ENDPOINT = "http://127.0.0.1:9"  # for `responses`: never opened
DEMO = Credentials(access_key=DEMO_AK, secret_key=DEMO_SK, project_id=DEMO_PROJECT_ID)


def make_cloud(
    flavour: Flavour,
    *,
    endpoint: str = ENDPOINT,
    page_size: int = 2000,
    creds: Credentials = DEMO,
) -> SdkCloud:
    """Explicit AK/SK + project + loopback endpoint: never a region, IAM or metadata."""
    return connect(flavour, creds, endpoint, page_size=page_size)


@dataclass(frozen=True)
class Stack:
    lb_id: str
    server_id: str
    ca_id: str
    listener_id: str
    pool_id: str
    monitor_id: str
    member_ids: list[str]


def lb_for(cloud: SdkCloud) -> str:
    return SEEDED_DEDICATED_LB_ID if cloud.flavour == "v3" else SEEDED_SHARED_LB_ID


def https(cloud: SdkCloud) -> str:
    return "HTTPS" if cloud.flavour == "v3" else "TERMINATED_HTTPS"


def member(address: str, port: int = 8080, weight: int = 1) -> dict[str, Any]:
    return {
        "name": f"t-pool-{address}-{port}",
        "address": address,
        "protocol_port": port,
        "weight": weight,
        "subnet_id": SUBNET,
    }


def build(cloud: SdkCloud, pem: Any, port: int = 443) -> Stack:
    lb_id = lb_for(cloud)
    server_id = cloud.create(
        "certificate",
        "t-server",
        MARKER,
        {"type": "server", "domain": "svc.example.com"},
        {"certificate": pem.server_cert, "private_key": pem.server_key},
    )
    ca_id = cloud.create("certificate", "t-ca", MARKER, {"type": "client"}, {"certificate": pem.ca})
    listener_id = cloud.create(
        "listener",
        "t-web",
        MARKER,
        {
            "loadbalancer_id": lb_id,
            "protocol": https(cloud),
            "protocol_port": port,
            "default_tls_container_ref": server_id,
            "client_ca_tls_container_ref": ca_id,
            "tls_ciphers_policy": "tls-1-2",
            "http2_enable": False,
            "insert_headers": {"X-Forwarded-ELB-IP": True},
        },
        {},
    )
    pool_id = cloud.create(
        "pool",
        "t-pool",
        MARKER,
        {
            "listener": listener_id,
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "session_persistence": None,
        },
        {},
    )
    monitor_id = cloud.create(
        "healthmonitor",
        "t-pool-hm",
        MARKER,
        {
            "pool": pool_id,
            "type": "HTTP",
            "delay": 5,
            "timeout": 3,
            "max_retries": 3,
            "url_path": "/healthz",
            "expected_codes": "200",
            "http_method": "GET",
        },
        {},
    )
    member_ids = cloud.create_members(pool_id, [member("10.0.0.10"), member("10.0.0.11", weight=5)])
    return Stack(lb_id, server_id, ca_id, listener_id, pool_id, monitor_id, member_ids)
