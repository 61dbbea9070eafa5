"""Per-version wire shapes of the emulated resources (docs/api-notes.md §2 for v3, §3 for v2).

Pure functions from an expanded model record to the JSON object the real API returns:
the field lists mirror the SDK 3.1.219 response models, so every key the SDK knows is
present (``None`` when unset) and nothing else leaks (e.g. a v3 listener has no
``loadbalancer_id``, docs/api-notes.md §2.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .db import Record
from .models import CERT, LB, LISTENER, MEMBER, MONITOR, POOL

_V3_FIELDS: dict[str, list[str]] = {
    CERT: [
        "admin_state_up",
        "certificate",
        "description",
        "domain",
        "id",
        "name",
        "private_key",
        "type",
        "created_at",
        "updated_at",
        "expire_time",
        "project_id",
        "enc_certificate",
        "enc_private_key",
        "scm_certificate_id",
        "common_name",
        "fingerprint",
        "subject_alternative_names",
        "source",
        "protection_status",
        "protection_reason",
        "enterprise_project_id",
    ],
    LISTENER: [
        "admin_state_up",
        "client_ca_tls_container_ref",
        "connection_limit",
        "created_at",
        "default_pool_id",
        "default_tls_container_ref",
        "description",
        "http2_enable",
        "id",
        "insert_headers",
        "loadbalancers",
        "name",
        "project_id",
        "enterprise_project_id",
        "protocol",
        "protocol_port",
        "sni_container_refs",
        "sni_match_algo",
        "tags",
        "updated_at",
        "tls_ciphers_policy",
        "security_policy_id",
        "enable_member_retry",
        "keepalive_timeout",
        "client_timeout",
        "member_timeout",
        "ipgroup",
        "transparent_client_ip_enable",
        "proxy_protocol_enable",
        "enhance_l7policy_enable",
        "quic_config",
        "protection_status",
        "protection_reason",
        "gzip_enable",
        "port_ranges",
        "ssl_early_data_enable",
        "cps",
        "connection",
        "nat64_enable",
    ],
    POOL: [
        "admin_state_up",
        "az_affinity",
        "description",
        "healthmonitor_id",
        "id",
        "lb_algorithm",
        "listeners",
        "loadbalancers",
        "members",
        "name",
        "project_id",
        "protocol",
        "session_persistence",
        "ip_version",
        "slow_start",
        "member_deletion_protection_enable",
        "created_at",
        "updated_at",
        "vpc_id",
        "type",
        "protection_status",
        "protection_reason",
        "any_port_enable",
        "connection_drain",
        "enterprise_project_id",
        "pool_health",
        "public_border_group",
        "quic_cid_hash_strategy",
    ],
    MEMBER: [
        "id",
        "availability_zone",
        "name",
        "project_id",
        "admin_state_up",
        "subnet_cidr_id",
        "protocol_port",
        "weight",
        "address",
        "ip_version",
        "operating_status",
        "status",
        "created_at",
        "updated_at",
        "member_type",
        "instance_id",
    ],
    MONITOR: [
        "admin_state_up",
        "delay",
        "domain_name",
        "expected_codes",
        "http_method",
        "id",
        "max_retries",
        "max_retries_down",
        "monitor_port",
        "name",
        "pools",
        "project_id",
        "timeout",
        "type",
        "url_path",
        "created_at",
        "updated_at",
    ],
    LB: [
        "id",
        "description",
        "provisioning_status",
        "admin_state_up",
        "provider",
        "pools",
        "listeners",
        "operating_status",
        "name",
        "project_id",
        "vip_subnet_cidr_id",
        "vip_address",
        "vip_port_id",
        "tags",
        "created_at",
        "updated_at",
        "guaranteed",
        "vpc_id",
        "eips",
        "ipv6_vip_address",
        "availability_zone_list",
        "enterprise_project_id",
        "billing_info",
        "l4_flavor_id",
        "l7_flavor_id",
        "loadbalancer_type",
        "publicips",
        "elb_virsubnet_ids",
        "ip_target_enable",
        "deletion_protection_enable",
        "charge_mode",
        "protection_status",
        "protection_reason",
    ],
}
# list_all_members items also carry their pool and load balancer (docs/api-notes.md §2.2).
ALL_MEMBERS_FIELDS = (*_V3_FIELDS[MEMBER], "pool_id", "loadbalancer_id")

_V2_FIELDS: dict[str, list[str]] = {
    CERT: [
        "id",
        "tenant_id",
        "admin_state_up",
        "name",
        "description",
        "type",
        "domain",
        "private_key",
        "certificate",
        "expire_time",
        "create_time",
        "update_time",
        "source",
        "protection_status",
        "protection_reason",
    ],
    LISTENER: [
        "id",
        "tenant_id",
        "name",
        "description",
        "admin_state_up",
        "loadbalancers",
        "connection_limit",
        "http2_enable",
        "protocol",
        "protocol_port",
        "default_pool_id",
        "default_tls_container_ref",
        "client_ca_tls_container_ref",
        "sni_container_refs",
        "tags",
        "created_at",
        "updated_at",
        "insert_headers",
        "project_id",
        "tls_ciphers_policy",
        "protection_status",
        "protection_reason",
    ],
    POOL: [
        "id",
        "project_id",
        "tenant_id",
        "name",
        "description",
        "admin_state_up",
        "loadbalancers",
        "listeners",
        "members",
        "healthmonitor_id",
        "session_persistence",
        "protocol",
        "lb_algorithm",
        "protection_status",
        "protection_reason",
    ],
    MEMBER: [
        "id",
        "project_id",
        "tenant_id",
        "name",
        "admin_state_up",
        "protocol_port",
        "subnet_id",
        "address",
        "weight",
        "operating_status",
    ],
    MONITOR: [
        "id",
        "project_id",
        "tenant_id",
        "name",
        "admin_state_up",
        "monitor_port",
        "timeout",
        "type",
        "expected_codes",
        "domain_name",
        "url_path",
        "http_method",
        "delay",
        "max_retries",
        "pools",
        "max_retries_down",
    ],
    LB: [
        "id",
        "tenant_id",
        "name",
        "description",
        "vip_subnet_id",
        "vip_port_id",
        "vip_address",
        "listeners",
        "pools",
        "provider",
        "operating_status",
        "provisioning_status",
        "admin_state_up",
        "created_at",
        "updated_at",
        "enterprise_project_id",
        "project_id",
        "tags",
        "publicips",
        "charge_mode",
        "billing_info",
        "frozen_scene",
        "protection_status",
        "protection_reason",
    ],
}


def v2_time(value: str | None) -> str | None:
    """v2 certificate times are ``yyyy-MM-dd HH:mm:ss`` UTC (docs/api-notes.md §3.2)."""
    if not value:
        return value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").strftime("%Y-%m-%d %H:%M:%S")


def v3(kind: str, record: Record, fields: Sequence[str] | None = None) -> dict[str, Any]:
    return {name: record.get(name) for name in fields or _V3_FIELDS[kind]}


def v2(kind: str, record: Record) -> dict[str, Any]:
    source = dict(record)
    source["tenant_id"] = record.get("project_id")
    if kind == CERT:
        source["create_time"] = v2_time(record.get("created_at"))
        source["update_time"] = v2_time(record.get("updated_at"))
        source["expire_time"] = v2_time(record.get("expire_time"))
    elif kind == MEMBER:
        source["subnet_id"] = record.get("subnet_cidr_id")  # v2 name (docs/api-notes.md §3.3)
    elif kind == LB:
        source["vip_subnet_id"] = record.get("vip_subnet_cidr_id")
    if kind in (LISTENER, LB):
        source["tags"] = []  # v2 tags are plain strings; v3 Tag objects do not translate
    return {name: source.get(name) for name in _V2_FIELDS[kind]}


def render(version: str, kind: str, record: Record) -> dict[str, Any]:
    return v3(kind, record) if version == "v3" else v2(kind, record)
