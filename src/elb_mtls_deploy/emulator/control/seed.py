"""First-open seeding: the demo load balancers of every known project.

Per project: a dedicated load balancer with IP-type backends on (``ip_target_enable``, so
the quick start's subnet-less loopback members are accepted), a second dedicated one with
them off (members need a subnet there, ELB.8939) and a shared one. The demo project gets
the documented constant ids; any other configured project gets ids derived from its
project id (stable across restarts). Idempotent and safe to race. Every key of the SDK's
v3 ``LoadBalancer`` and v2 ``LoadbalancerResp`` models is filled (docs/api-notes.md §10.2).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..constants import (
    DEMO_PROJECT_ID,
    SEEDED_DEDICATED_LB_ID,
    SEEDED_DEDICATED_LB_NAME,
    SEEDED_DEDICATED_LB_VIP,
    SEEDED_NO_IP_TARGET_LB_ID,
    SEEDED_NO_IP_TARGET_LB_NAME,
    SEEDED_NO_IP_TARGET_LB_VIP,
    SEEDED_SHARED_LB_ID,
    SEEDED_SHARED_LB_NAME,
    SEEDED_SHARED_LB_VIP,
    SEEDED_SUBNET_ID,
    SEEDED_VPC_ID,
)
from .models import LB, iso
from .store import Store

_NAMESPACE = uuid.UUID("6f0d4e59-2b1a-4c4d-9a7e-0000000000aa")


def _lb(
    project_id: str, lb_id: str, name: str, vip: str, dedicated: bool, ip_target: bool, now: str
) -> Any:
    return {
        "id": lb_id,
        "name": name,
        "description": "Seeded by the ELB emulator",
        "project_id": project_id,
        "provisioning_status": "ACTIVE",
        "operating_status": "ONLINE",
        "admin_state_up": True,
        "provider": "vlb",
        "guaranteed": dedicated,
        "vip_address": vip,
        "vip_subnet_cidr_id": SEEDED_SUBNET_ID,
        "vip_port_id": str(uuid.uuid5(_NAMESPACE, lb_id + "/port")),
        "vpc_id": SEEDED_VPC_ID,
        "eips": [],
        "publicips": [],
        "tags": [],
        "availability_zone_list": ["emulator-az1"] if dedicated else [],
        "enterprise_project_id": "0",
        "l4_flavor_id": "emulator-l4" if dedicated else None,
        "l7_flavor_id": "emulator-l7" if dedicated else None,
        "loadbalancer_type": "dedicated" if dedicated else "shared",
        "elb_virsubnet_ids": [SEEDED_SUBNET_ID] if dedicated else [],
        "ip_target_enable": ip_target,
        "deletion_protection_enable": False,
        "charge_mode": "flavor" if dedicated else None,
        "billing_info": "",
        "protection_status": "nonProtection",
        "protection_reason": "",
        "ipv6_vip_address": None,
        "ipv6_vip_virsubnet_id": None,
        "ipv6_vip_port_id": None,
        "l4_scale_flavor_id": None,
        "l7_scale_flavor_id": None,
        "gw_flavor_id": None,
        "global_eips": [],
        "elb_virsubnet_type": "dualstack" if dedicated else None,
        "frozen_scene": None,
        "autoscaling": {"enable": False, "min_l7_flavor_id": ""} if dedicated else None,
        "public_border_group": "center",
        "service_lb_mode": None,
        "instance_type": None,
        "instance_id": None,
        "proxy_protocol_extensions": None,
        "waf_failure_action": "discard" if dedicated else None,
        "log_group_id": "",
        "log_topic_id": "",
        "custom_qos_limit": None,
        "created_at": now,
        "updated_at": now,
    }


def seed_ids(project_id: str) -> tuple[str, str, str]:
    """(dedicated LB id, shared LB id, subnet-only dedicated LB id) for a project."""
    if project_id == DEMO_PROJECT_ID:
        return SEEDED_DEDICATED_LB_ID, SEEDED_SHARED_LB_ID, SEEDED_NO_IP_TARGET_LB_ID
    return (
        str(uuid.uuid5(_NAMESPACE, project_id + "/dedicated")),
        str(uuid.uuid5(_NAMESPACE, project_id + "/shared")),
        str(uuid.uuid5(_NAMESPACE, project_id + "/dedicated-subnet-only")),
    )


def seed(store: Store, project_ids: Iterable[str], now: datetime) -> None:
    stamp = iso(now)
    with store.transaction(write=True) as tx:
        for project_id in project_ids:
            dedicated_id, shared_id, subnet_only_id = seed_ids(project_id)
            wanted = [
                (dedicated_id, SEEDED_DEDICATED_LB_NAME, SEEDED_DEDICATED_LB_VIP, True, True),
                (shared_id, SEEDED_SHARED_LB_NAME, SEEDED_SHARED_LB_VIP, False, False),
                (
                    subnet_only_id,
                    SEEDED_NO_IP_TARGET_LB_NAME,
                    SEEDED_NO_IP_TARGET_LB_VIP,
                    True,
                    False,
                ),
            ]
            for lb_id, name, vip, dedicated, ip_target in wanted:
                if tx.get(LB, lb_id, project_id) is None:
                    record = _lb(project_id, lb_id, name, vip, dedicated, ip_target, stamp)
                    tx.insert(LB, record)
