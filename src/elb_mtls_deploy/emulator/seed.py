"""First-open seeding: one dedicated and one shared load balancer per known project.

The demo project gets the documented constant ids; any other configured project gets ids
derived from its project id (stable across restarts). Idempotent and safe to race.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .constants import (
    DEMO_PROJECT_ID,
    SEEDED_DEDICATED_LB_ID,
    SEEDED_DEDICATED_LB_NAME,
    SEEDED_DEDICATED_LB_VIP,
    SEEDED_SHARED_LB_ID,
    SEEDED_SHARED_LB_NAME,
    SEEDED_SHARED_LB_VIP,
    SEEDED_SUBNET_ID,
    SEEDED_VPC_ID,
)
from .db import Store
from .models import LB, iso

_NAMESPACE = uuid.UUID("6f0d4e59-2b1a-4c4d-9a7e-0000000000aa")


def _lb(project_id: str, lb_id: str, name: str, vip: str, dedicated: bool, now: str) -> Any:
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
        "ip_target_enable": dedicated,
        "deletion_protection_enable": False,
        "charge_mode": "flavor" if dedicated else None,
        "billing_info": "",
        "protection_status": "nonProtection",
        "protection_reason": "",
        "created_at": now,
        "updated_at": now,
    }


def seed_ids(project_id: str) -> tuple[str, str]:
    """(dedicated LB id, shared LB id) for a project."""
    if project_id == DEMO_PROJECT_ID:
        return SEEDED_DEDICATED_LB_ID, SEEDED_SHARED_LB_ID
    return (
        str(uuid.uuid5(_NAMESPACE, project_id + "/dedicated")),
        str(uuid.uuid5(_NAMESPACE, project_id + "/shared")),
    )


def seed(store: Store, project_ids: Iterable[str], now: datetime) -> None:
    stamp = iso(now)
    with store.transaction(write=True) as tx:
        for project_id in project_ids:
            dedicated_id, shared_id = seed_ids(project_id)
            wanted = [
                (dedicated_id, SEEDED_DEDICATED_LB_NAME, SEEDED_DEDICATED_LB_VIP, True),
                (shared_id, SEEDED_SHARED_LB_NAME, SEEDED_SHARED_LB_VIP, False),
            ]
            for lb_id, name, vip, dedicated in wanted:
                if tx.get(LB, lb_id, project_id) is None:
                    tx.insert(LB, _lb(project_id, lb_id, name, vip, dedicated, stamp))
