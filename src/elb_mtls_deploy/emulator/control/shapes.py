"""Per-version wire shapes of the emulated resources (docs/api-notes.md §2 for v3, §3 for v2).

One ``Shape`` row per resource kind: pure functions from an expanded model record to the
JSON object the real API returns. The field lists mirror the SDK 3.1.219 response models, so
every key the SDK knows is present (``None`` when unset) and nothing else leaks (e.g. a v3
listener has no ``loadbalancer_id``, docs/api-notes.md §2.1). The order of each list is the
order of the keys on the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .models import CERT, LB, LISTENER, MEMBER, MONITOR, POOL
from .store import Record


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _no_v2_values(record: Record) -> Record:
    return {}


@dataclass(frozen=True)
class Shape:
    """One kind's wire object in each API version."""

    v3_fields: tuple[str, ...]
    v2_fields: tuple[str, ...]
    # Values only the v2 object has, computed from the (v3-vocabulary) record.
    v2_values: Callable[[Record], Record] = _no_v2_values

    def v3(self, record: Record, fields: Sequence[str] | None = None) -> dict[str, Any]:
        return {name: record.get(name) for name in fields or self.v3_fields}

    def v2(self, record: Record) -> dict[str, Any]:
        source = {**record, "tenant_id": record.get("project_id"), **self.v2_values(record)}
        return {name: source.get(name) for name in self.v2_fields}

    def render(self, version: str, record: Record) -> dict[str, Any]:
        return self.v3(record) if version == "v3" else self.v2(record)


def v2_time(value: str | None) -> str | None:
    """v2 certificate times are ``yyyy-MM-dd HH:mm:ss`` UTC (docs/api-notes.md §3.2)."""
    if not value:
        return value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").strftime("%Y-%m-%d %H:%M:%S")


def _v2_certificate(record: Record) -> Record:
    return {
        "create_time": v2_time(record.get("created_at")),
        "update_time": v2_time(record.get("updated_at")),
        "expire_time": v2_time(record.get("expire_time")),
    }


def _v2_listener(record: Record) -> Record:
    return {"tags": []}  # v2 tags are plain strings; v3 Tag objects do not translate


def _v2_member(record: Record) -> Record:
    return {"subnet_id": record.get("subnet_cidr_id")}  # the v2 name (docs/api-notes.md §3.3)


def _v2_loadbalancer(record: Record) -> Record:
    return {"vip_subnet_id": record.get("vip_subnet_cidr_id"), "tags": []}  # as listeners


SHAPES: dict[str, Shape] = {
    CERT: Shape(
        _names(
            "admin_state_up certificate description domain id name private_key type created_at "
            "updated_at expire_time project_id enc_certificate enc_private_key scm_certificate_id "
            "common_name fingerprint subject_alternative_names source protection_status "
            "protection_reason enterprise_project_id"
        ),
        _names(
            "id tenant_id admin_state_up name description type domain private_key certificate "
            "expire_time create_time update_time source protection_status protection_reason"
        ),
        _v2_certificate,
    ),
    LISTENER: Shape(
        _names(
            "admin_state_up client_ca_tls_container_ref connection_limit created_at "
            "default_pool_id default_tls_container_ref description http2_enable id insert_headers "
            "loadbalancers name project_id enterprise_project_id protocol protocol_port "
            "sni_container_refs sni_match_algo tags updated_at tls_ciphers_policy "
            "security_policy_id enable_member_retry keepalive_timeout client_timeout "
            "member_timeout ipgroup transparent_client_ip_enable proxy_protocol_enable "
            "enhance_l7policy_enable quic_config protection_status protection_reason gzip_enable "
            "port_ranges ssl_early_data_enable cps connection nat64_enable"
        ),
        _names(
            "id tenant_id name description admin_state_up loadbalancers connection_limit "
            "http2_enable protocol protocol_port default_pool_id default_tls_container_ref "
            "client_ca_tls_container_ref sni_container_refs tags created_at updated_at "
            "insert_headers project_id tls_ciphers_policy protection_status protection_reason"
        ),
        _v2_listener,
    ),
    POOL: Shape(
        _names(
            "admin_state_up az_affinity description healthmonitor_id id lb_algorithm listeners "
            "loadbalancers members name project_id protocol session_persistence ip_version "
            "slow_start member_deletion_protection_enable created_at updated_at vpc_id type "
            "protection_status protection_reason any_port_enable connection_drain "
            "enterprise_project_id pool_health public_border_group quic_cid_hash_strategy"
        ),
        _names(
            "id project_id tenant_id name description admin_state_up loadbalancers listeners "
            "members healthmonitor_id session_persistence protocol lb_algorithm protection_status "
            "protection_reason"
        ),
    ),
    # ``reason`` says why a member is abnormal; nothing is probed, so it is always null.
    MEMBER: Shape(
        _names(
            "id availability_zone name project_id admin_state_up subnet_cidr_id protocol_port "
            "weight address ip_version operating_status status created_at updated_at member_type "
            "instance_id reason"
        ),
        _names(
            "id project_id tenant_id name admin_state_up protocol_port subnet_id address weight "
            "operating_status"
        ),
        _v2_member,
    ),
    MONITOR: Shape(
        _names(
            "admin_state_up delay domain_name expected_codes http_method id max_retries "
            "max_retries_down monitor_port name pools project_id timeout type url_path created_at "
            "updated_at"
        ),
        _names(
            "id project_id tenant_id name admin_state_up monitor_port timeout type expected_codes "
            "domain_name url_path http_method delay max_retries pools max_retries_down"
        ),
    ),
    # The whole SDK 3.1.219 LoadBalancer model, ipv6_vip_virsubnet_id onwards included
    # (docs/api-notes.md §10.2).
    LB: Shape(
        _names(
            "id description provisioning_status admin_state_up provider pools listeners "
            "operating_status name project_id vip_subnet_cidr_id vip_address vip_port_id tags "
            "created_at updated_at guaranteed vpc_id eips ipv6_vip_address availability_zone_list "
            "enterprise_project_id billing_info l4_flavor_id l7_flavor_id loadbalancer_type "
            "publicips elb_virsubnet_ids ip_target_enable deletion_protection_enable charge_mode "
            "protection_status protection_reason ipv6_vip_virsubnet_id ipv6_vip_port_id "
            "l4_scale_flavor_id l7_scale_flavor_id gw_flavor_id global_eips elb_virsubnet_type "
            "frozen_scene autoscaling public_border_group service_lb_mode instance_type "
            "instance_id proxy_protocol_extensions waf_failure_action log_group_id log_topic_id "
            "custom_qos_limit"
        ),
        _names(
            "id tenant_id name description vip_subnet_id vip_port_id vip_address listeners pools "
            "provider operating_status provisioning_status admin_state_up created_at updated_at "
            "enterprise_project_id project_id tags publicips charge_mode billing_info "
            "frozen_scene protection_status protection_reason"
        ),
        _v2_loadbalancer,
    ),
}
# list_all_members items also carry their pool and load balancer (docs/api-notes.md §2.2).
ALL_MEMBERS_FIELDS = (*SHAPES[MEMBER].v3_fields, "pool_id", "loadbalancer_id")
