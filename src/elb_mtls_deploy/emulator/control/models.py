"""The emulated ELB resources and their invariants, over one SQLite transaction.

Records are plain dicts in the v3 vocabulary (``subnet_cidr_id``, ``created_at`` ISO-8601 Z,
a listener's ``loadbalancer_id``); the per-version wire shapes live in ``shapes`` and
``handlers``. Every rule here raises an ``exceptions`` class; nothing here knows HTTP.
Derived fields (reference lists such as a pool's ``members``) are computed on read by
``expand`` so they can never go stale.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from . import insert_headers, pem
from .exceptions import (
    Conflict,
    DuplicatePort,
    ImmutableField,
    InUse,
    InvalidCertificate,
    InvalidParameter,
    IpTargetDisabled,
    NotFound,
    QuotaExceeded,
)
from .provisioning import LbGuard
from .store import Record, Tx

CERT, LISTENER, POOL, MEMBER, MONITOR, LB = (
    "certificate",
    "listener",
    "pool",
    "member",
    "healthmonitor",
    "loadbalancer",
)

HTTPS_PROTOCOLS = frozenset({"HTTPS", "TERMINATED_HTTPS"})
TLS_PROTOCOLS = frozenset({"HTTPS", "TERMINATED_HTTPS", "TLS", "QUIC"})
LISTENER_PROTOCOLS = {
    "v3": frozenset({"TCP", "UDP", "HTTP", "HTTPS", "TERMINATED_HTTPS", "QUIC", "TLS", "IP"}),
    "v2": frozenset({"TCP", "UDP", "HTTP", "TERMINATED_HTTPS"}),
}
# TCP/HTTP/HTTPS (and TLS) listeners on one LB share a port space (docs/api-notes.md §2.4).
_PORT_SPACE = {"TCP": "tcp", "HTTP": "tcp", "HTTPS": "tcp", "TERMINATED_HTTPS": "tcp"}
_PORT_SPACE |= {"TLS": "tcp", "UDP": "udp", "QUIC": "udp", "IP": "ip"}
# Which pool protocols a listener protocol accepts (docs/api-notes.md §2.5, §3.3).
POOLS_FOR_LISTENER = {
    "HTTPS": frozenset({"HTTP", "HTTPS", "GRPC"}),
    "TERMINATED_HTTPS": frozenset({"HTTP"}),
    "HTTP": frozenset({"HTTP", "GRPC"}),
    "TCP": frozenset({"TCP"}),
    "UDP": frozenset({"UDP"}),
    "TLS": frozenset({"TLS", "TCP"}),
    "QUIC": frozenset({"UDP", "QUIC"}),
    "IP": frozenset({"IP"}),
}
POOL_PROTOCOLS = {
    "v3": frozenset({"TCP", "UDP", "HTTP", "HTTPS", "GRPC", "QUIC", "TLS", "IP"}),
    "v2": frozenset({"TCP", "UDP", "HTTP"}),  # v2 CreatePoolReq.protocol (§10.2)
}
LB_ALGORITHMS = frozenset(
    {"ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "QUIC_CID"}
    | {"2_TUPLE_HASH", "3_TUPLE_HASH", "5_TUPLE_HASH"}
)
MONITOR_TYPES = frozenset({"TCP", "UDP_CONNECT", "HTTP", "HTTPS", "TLS", "GRPC", "PING"})
# Shared load balancers check only these (docs/api-notes.md §10.2 "Shared limits").
SHARED_MONITOR_TYPES = frozenset({"TCP", "UDP_CONNECT", "HTTP"})
# Monitor types each pool protocol admits (SDK v3 create_health_monitor_option.py, `type`).
_L7_MONITORS = frozenset({"TCP", "HTTP", "HTTPS", "TLS", "GRPC"})
MONITORS_FOR_POOL = {
    "QUIC": frozenset({"UDP_CONNECT"}),
    "UDP": frozenset({"UDP_CONNECT"}),
    "TCP": frozenset({"TCP", "HTTP", "HTTPS"}),
    "IP": frozenset({"TCP", "HTTP", "HTTPS"}),
    **dict.fromkeys(("HTTP", "HTTPS", "GRPC", "TLS"), _L7_MONITORS),
}
WEB_LISTENERS = frozenset({"HTTP", "HTTPS", "TERMINATED_HTTPS"})
# Pools whose persistence_timeout defaults to 1440 minutes; the rest get 1 (§10.2).
# GRPC is grouped with HTTP/HTTPS on our reading (unverified).
WEB_POOLS = frozenset({"HTTP", "HTTPS", "GRPC"})
PERSISTENCE_TYPES = frozenset({"SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"})
# Private IPv4 ranges an IP-type member may use (RFC 1918); loopback is the emulator's
# addition so demo backends on 127.0.0.1 work (docs/emulator.md).
PRIVATE_IPV4 = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8")
)
CERT_TYPES = frozenset({"server", "client", "server_sm"})
SERVER_CERT_TYPES = frozenset({"server", "server_sm"})

IMMUTABLE = {
    CERT: ("type", "enterprise_project_id"),
    LISTENER: ("protocol", "protocol_port", "loadbalancer_id", "port_ranges"),
    POOL: ("protocol", "listener_id", "loadbalancer_id", "ip_version"),
    MEMBER: ("address", "subnet_cidr_id"),
    MONITOR: ("pool_id",),
}
_LABEL = {
    CERT: "Certificate",
    LISTENER: "Listener",
    POOL: "Pool",
    MEMBER: "Member",
    MONITOR: "Healthmonitor",
    LB: "Loadbalancer",
}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(kind: str) -> str:
    # Certificates have 32 lowercase hex ids, the rest UUIDs (docs/api-notes.md §2.3).
    return uuid.uuid4().hex if kind == CERT else str(uuid.uuid4())


def _require(fields: dict[str, Any], *names: str) -> None:
    for name in names:
        if fields.get(name) in (None, ""):
            raise InvalidParameter(f"Invalid parameter: '{name}' is required")


def _int_in(fields: dict[str, Any], name: str, low: int, high: int) -> None:
    value = fields.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(f"Invalid parameter: '{name}' must be an integer {low}-{high}")


def _one_of(fields: dict[str, Any], name: str, allowed: Iterable[str]) -> None:
    value = fields.get(name)
    if value is not None and value not in allowed:
        raise InvalidParameter(f"Invalid parameter: '{name}' {value!r} is not one of the allowed")


def _name_fits(fields: dict[str, Any]) -> None:
    # "0-255 characters" for names (SDK v3 create_*_option.py docstrings)
    name = fields.get("name")
    if isinstance(name, str) and len(name) > 255:
        raise InvalidParameter("Invalid parameter: 'name' is longer than 255 characters")


def _check_listener_timeouts(record: Record) -> None:
    """Ranges from the SDK's create_listener_option.py docstrings."""
    web = record["protocol"] in WEB_LISTENERS
    _int_in(record, "keepalive_timeout", 0 if web else 10, 4000)
    _int_in(record, "client_timeout", 1, 300)
    _int_in(record, "member_timeout", 1, 300)


def _only_true(fields: dict[str, Any], name: str) -> None:
    # "only true is supported" (SDK v3 create_pool_option.py / update_pool_option.py)
    if fields.get(name) is False:
        raise InvalidParameter(f"Invalid parameter: '{name}' can only be true")


def _reject_immutable(kind: str, changes: dict[str, Any]) -> None:
    for name in IMMUTABLE.get(kind, ()):
        if name in changes:
            raise ImmutableField(f"Invalid parameter: '{name}' cannot be updated")


def ref_list(ids: Iterable[str]) -> list[dict[str, str]]:
    return [{"id": i} for i in ids]


def _tls_policy_fields(fields: dict[str, Any], lb: Record, version: str) -> dict[str, Any]:
    """Through v3, TLS policies apply only to dedicated load balancers (§10.2 "Listeners").

    On a shared one the v3 API ignores them (our reading of "only effective for dedicated";
    unverified whether it refuses instead); the v2 API keeps its own tls_ciphers_policy.
    """
    if version != "v3" or lb["guaranteed"]:
        return fields
    ignored = ("tls_ciphers_policy", "security_policy_id")
    return {k: v for k, v in fields.items() if k not in ignored}


def _persistence(value: Any, pool_protocol: str) -> dict[str, Any] | None:
    """Session persistence with the server-filled defaults (docs/api-notes.md §10.2 "Pools")."""
    if value is None:
        return None
    sp = dict(_as_object(value, "session_persistence"))
    _require(sp, "type")
    _one_of(sp, "type", PERSISTENCE_TYPES)
    if sp.get("cookie_name") and sp["type"] != "APP_COOKIE":
        raise InvalidParameter("Invalid parameter: 'cookie_name' is only for APP_COOKIE")
    web = pool_protocol in WEB_POOLS
    _int_in(sp, "persistence_timeout", 1, 1440 if web else 60)
    if sp.get("persistence_timeout") is None:
        sp["persistence_timeout"] = 1440 if web else 1
    if sp.get("cookie_name") is None:
        sp["cookie_name"] = ""
    return sp


def _as_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParameter(f"Invalid parameter: '{name}' must be an object")
    return value


class Models:
    """All resource operations for one project inside one transaction."""

    def __init__(
        self,
        tx: Tx,
        project_id: str,
        now: datetime,
        guard: LbGuard | None = None,
        quotas: Mapping[str, int] | None = None,
    ) -> None:
        self.tx = tx
        self.project_id = project_id
        self.now = iso(now)
        self.guard = guard or LbGuard()
        self.quotas = quotas or {}  # kind -> most records per project (ELB.8905 beyond)

    # ----------------------------------------------------------------- generic helpers

    def get(self, kind: str, resource_id: str) -> Record:
        record = self.tx.get(kind, resource_id, self.project_id)
        if record is None:
            raise NotFound(f"{_LABEL[kind]} {resource_id} could not be found.")
        return record

    def all(self, kind: str) -> list[Record]:
        return self.tx.all(kind, self.project_id)

    def _new(self, kind: str, defaults: dict[str, Any], fields: dict[str, Any]) -> Record:
        _name_fits(fields)
        record = {**defaults, **{k: v for k, v in fields.items() if v is not None}}
        record.update(
            id=new_id(kind), project_id=self.project_id, created_at=self.now, updated_at=self.now
        )
        return record

    def _insert(self, kind: str, record: Record) -> None:
        limit = self.quotas.get(kind)
        if limit is not None and self.tx.count(kind, self.project_id) >= limit:
            raise QuotaExceeded(f"Quota exceeded for resources: ['{kind}'].")
        self.tx.insert(kind, record)

    def _save(self, kind: str, record: Record) -> Record:
        record["updated_at"] = self.now
        self.tx.update(kind, record)
        return record

    # ----------------------------------------------------------------- certificates

    def _check_cert_content(self, record: Record) -> None:
        chain = pem.load_chain(record.get("certificate") or "")
        key = record.get("private_key") or ""
        if record["type"] in SERVER_CERT_TYPES:
            if not key:
                raise InvalidCertificate("A server certificate requires 'private_key'")
            pem.check_private_key(key, chain[0])
        elif key and "-----BEGIN" not in key:
            # "for other types ignored but must be PEM if given" (docs/api-notes.md §2.3)
            raise InvalidCertificate("Invalid private key: not PEM")
        facts = pem.facts(chain)
        record.update(
            expire_time=iso(facts.expire_time),
            common_name=facts.common_name,
            fingerprint=facts.fingerprint,
            subject_alternative_names=list(facts.subject_alternative_names),
        )

    def create_certificate(self, fields: dict[str, Any]) -> Record:
        _one_of(fields, "type", CERT_TYPES)
        if fields.get("enterprise_project_id") == "":
            raise InvalidParameter("Invalid parameter: 'enterprise_project_id' must not be ''")
        defaults = {
            "name": "",
            "description": "",
            "type": "server",
            "private_key": "",
            "domain": "",
            "admin_state_up": True,
            "enterprise_project_id": "0",
            "scm_certificate_id": "",
            "source": "",
            "protection_status": "nonProtection",
            "protection_reason": "",
            "enc_certificate": "",
            "enc_private_key": "",
        }
        record = self._new(CERT, defaults, fields)
        self._check_cert_content(record)
        self._insert(CERT, record)
        return record

    def update_certificate(self, cert_id: str, changes: dict[str, Any]) -> Record:
        record = self.get(CERT, cert_id)
        _reject_immutable(CERT, changes)
        if "domain" in changes and not changes["domain"]:
            # An SNI certificate is chosen by its domain; clearing it while a listener
            # uses it is refused (docs/api-notes.md §10.2 "Certificates", code a guess).
            for listener in self.all(LISTENER):
                if cert_id in (listener.get("sni_container_refs") or []):
                    raise InUse(
                        f"Certificate {cert_id} is used for SNI by listener "
                        f"{listener['id']}; its domain cannot be cleared."
                    )
        record.update({k: v for k, v in changes.items() if v is not None})
        if "certificate" in changes or "private_key" in changes:
            self._check_cert_content(record)
        return self._save(CERT, record)

    def delete_certificate(self, cert_id: str) -> None:
        self.get(CERT, cert_id)
        for listener in self.all(LISTENER):
            refs = [
                listener.get("default_tls_container_ref"),
                listener.get("client_ca_tls_container_ref"),
            ]
            if cert_id in refs or cert_id in (listener.get("sni_container_refs") or []):
                raise InUse(f"Certificate {cert_id} is in use by listener {listener['id']}.")
        self.tx.delete(CERT, cert_id)

    # ----------------------------------------------------------------- listeners

    def _cert_of_type(self, cert_id: str, types: frozenset[str], field: str) -> None:
        cert = self.get(CERT, cert_id)
        if cert["type"] not in types:
            wanted = " or ".join(sorted(types))
            raise InvalidParameter(
                f"Invalid parameter: '{field}' must reference a certificate of type {wanted}, "
                f"{cert_id} is {cert['type']}"
            )

    def _check_listener_tls(self, record: Record) -> None:
        protocol = record["protocol"]
        server_ref = record.get("default_tls_container_ref")
        ca_ref = record.get("client_ca_tls_container_ref")
        if protocol in TLS_PROTOCOLS:
            if not server_ref:
                raise InvalidParameter(
                    f"Invalid parameter: 'default_tls_container_ref' is required for {protocol}"
                )
            self._cert_of_type(server_ref, SERVER_CERT_TYPES, "default_tls_container_ref")
        elif server_ref:
            raise InvalidParameter(
                f"Invalid parameter: 'default_tls_container_ref' is not allowed for {protocol}"
            )
        if ca_ref:
            if protocol not in HTTPS_PROTOCOLS | {"TLS"}:
                raise InvalidParameter(
                    "Invalid parameter: mutual authentication ('client_ca_tls_container_ref') "
                    f"requires an HTTPS or TLS listener, not {protocol}"
                )
            self._cert_of_type(ca_ref, frozenset({"client"}), "client_ca_tls_container_ref")
        for sni in record.get("sni_container_refs") or []:
            self._cert_of_type(sni, SERVER_CERT_TYPES, "sni_container_refs")
            if not self.get(CERT, sni).get("domain"):
                raise InvalidParameter(f"Invalid parameter: SNI certificate {sni} has no 'domain'")

    def _check_default_pool(self, listener: Record, pool_id: str) -> None:
        pool = self.get(POOL, pool_id)
        if pool.get("loadbalancer_id") not in (None, listener["loadbalancer_id"]):
            raise InvalidParameter(
                f"Invalid parameter: pool {pool_id} belongs to another load balancer"
            )
        self._check_pool_protocol(listener, pool["protocol"])

    @staticmethod
    def _check_pool_protocol(listener: Record, pool_protocol: str) -> None:
        allowed = POOLS_FOR_LISTENER.get(listener["protocol"], frozenset())
        if pool_protocol not in allowed:
            raise InvalidParameter(
                f"Invalid parameter: a {listener['protocol']} listener cannot use a "
                f"{pool_protocol} pool (allowed: {', '.join(sorted(allowed))})"
            )

    def create_listener(self, fields: dict[str, Any], version: str) -> Record:
        _require(fields, "loadbalancer_id", "protocol")
        if fields.get("protocol_port") is None:
            raise InvalidParameter("Invalid parameter: 'protocol_port' is required")
        _one_of(fields, "protocol", LISTENER_PROTOCOLS[version])
        _int_in(fields, "protocol_port", 0 if version == "v3" else 1, 65535)
        lb = self.get(LB, fields["loadbalancer_id"])
        self.guard.change(lb["id"])
        protocol = str(fields["protocol"])
        # The v3 API converts the HTTPS name to the LB type's spelling (§10.2 "Listeners").
        if protocol in HTTPS_PROTOCOLS:
            protocol = "HTTPS" if lb["guaranteed"] else "TERMINATED_HTTPS"
        web = protocol in WEB_LISTENERS
        if web and lb["guaranteed"] and not lb.get("l7_flavor_id"):
            # A dedicated load balancer serves HTTP/HTTPS only with an L7 flavour (§10.2).
            raise InvalidParameter(
                f"Invalid parameter: load balancer {lb['id']} has no L7 flavor "
                f"(l7_flavor_id) for a {protocol} listener"
            )
        fields = _tls_policy_fields(fields, lb, version)
        defaults = {
            "name": "",
            "description": "",
            "admin_state_up": True,
            "default_pool_id": None,
            "default_tls_container_ref": None,
            "client_ca_tls_container_ref": None,
            "sni_container_refs": [],
            "sni_match_algo": "wildcard",
            "tls_ciphers_policy": ("tls-1-2" if version == "v3" else "tls-1-0")
            if protocol in TLS_PROTOCOLS
            else None,
            "security_policy_id": None,
            "http2_enable": False,
            "insert_headers": {},
            "connection_limit": -1,
            "keepalive_timeout": 60 if web else 300,
            "client_timeout": 60 if web else None,
            "member_timeout": 60 if web else None,
            "enable_member_retry": True,
            "tags": [],
            "enterprise_project_id": "0",
            "ipgroup": None,
            "transparent_client_ip_enable": not web,
            "proxy_protocol_enable": False,
            "enhance_l7policy_enable": False,
            "quic_config": None,
            "protection_status": "nonProtection",
            "protection_reason": "",
            "gzip_enable": False,
            "port_ranges": [],
            "ssl_early_data_enable": False,
            "cps": 0,
            "connection": 0,
            "nat64_enable": False,
        }
        record = self._new(LISTENER, defaults, fields)
        record["protocol"] = protocol
        record["insert_headers"] = insert_headers.merge(
            # X-Forwarded-Host is on unless switched off (docs/api-notes.md §10.2).
            {"X-Forwarded-Host": True} if web else {},
            fields.get("insert_headers"),
            protocol,
            version,
        )
        self._check_port_free(record)
        _check_listener_timeouts(record)
        self._check_listener_tls(record)
        if record.get("default_pool_id"):
            self._check_default_pool(record, record["default_pool_id"])
        self._insert(LISTENER, record)
        return record

    def _check_port_free(self, record: Record) -> None:
        port, space = record["protocol_port"], _PORT_SPACE.get(record["protocol"])
        if port == 0:
            return  # port-range mode (docs/api-notes.md §2.4)
        for other in self.all(LISTENER):
            if (
                other["loadbalancer_id"] == record["loadbalancer_id"]
                and other["protocol_port"] == port
                and _PORT_SPACE.get(other["protocol"]) == space
            ):
                raise DuplicatePort(record["loadbalancer_id"], port)

    def update_listener(
        self, listener_id: str, changes: dict[str, Any], version: str = "v3"
    ) -> Record:
        record = self.get(LISTENER, listener_id)
        _reject_immutable(LISTENER, changes)
        # UpdateListener is refused unless the load balancer is ACTIVE (§10.2).
        self.guard.change(record["loadbalancer_id"])
        lb = self.get(LB, record["loadbalancer_id"])
        changes = _tls_policy_fields(changes, lb, version)
        if "insert_headers" in changes:
            # Merged into the current switches, not replaced (unverified; §10.2).
            changes = dict(changes)
            record["insert_headers"] = insert_headers.merge(
                record.get("insert_headers") or {},
                changes.pop("insert_headers"),
                record["protocol"],
                version,
            )
        for name, value in changes.items():
            # "" or null unbinds the CA (mutual auth off) or the pool (docs/api-notes.md §2.4).
            if name in ("client_ca_tls_container_ref", "default_pool_id") and value in ("", None):
                record[name] = None
            elif value is not None:
                record[name] = value
            elif name in ("security_policy_id",):
                record[name] = None
        _name_fits(changes)
        _check_listener_timeouts(record)
        self._check_listener_tls(record)
        if changes.get("default_pool_id"):
            self._check_default_pool(record, changes["default_pool_id"])
        return self._save(LISTENER, record)

    def delete_listener(self, listener_id: str) -> None:
        record = self.get(LISTENER, listener_id)
        self.guard.change(record["loadbalancer_id"])
        # Guess (documented): like Octavia, a listener with a pool bound cannot be deleted;
        # the separate delete_listener_force API exists for the cascade (docs/api-notes.md §2.2).
        if record.get("default_pool_id"):
            raise InUse(f"Listener {listener_id} still has pool {record['default_pool_id']} bound.")
        self.tx.delete(LISTENER, listener_id)

    # ----------------------------------------------------------------- pools

    def create_pool(self, fields: dict[str, Any], version: str) -> Record:
        _require(fields, "lb_algorithm", "protocol")
        _one_of(fields, "lb_algorithm", LB_ALGORITHMS)
        _only_true(fields, "admin_state_up")
        _one_of(fields, "protocol", POOL_PROTOCOLS[version])
        listener_id, lb_id = fields.get("listener_id"), fields.get("loadbalancer_id")
        if not (listener_id or lb_id or (version == "v3" and fields.get("type"))):
            raise InvalidParameter(
                "Invalid parameter: one of 'listener_id', 'loadbalancer_id' or 'type' is required"
            )
        listener = self.get(LISTENER, listener_id) if listener_id else None
        if lb_id:
            self.get(LB, lb_id)
        if listener is not None:
            if lb_id and lb_id != listener["loadbalancer_id"]:
                raise InvalidParameter(
                    "Invalid parameter: 'loadbalancer_id' differs from the listener's"
                )
            lb_id = listener["loadbalancer_id"]
            self._check_pool_protocol(listener, fields["protocol"])
            if listener.get("default_pool_id"):
                # "the listener must not have a pool bound" (CreatePool; code a guess, §10.2)
                raise Conflict(
                    f"Listener {listener['id']} already has default pool "
                    f"{listener['default_pool_id']}; create the pool with loadbalancer_id "
                    "and switch the listener's default_pool_id instead."
                )
        self.guard.change(lb_id)
        defaults = {
            "name": "",
            "description": "",
            "admin_state_up": True,
            "session_persistence": None,
            "slow_start": {"enable": False, "duration": 30},
            "member_deletion_protection_enable": False,
            "vpc_id": "",
            "type": "",
            "ip_version": "v4",
            "any_port_enable": False,
            "connection_drain": {"enable": False, "timeout": 300},
            "pool_health": {"minimum_healthy_member_count": 0},
            "az_affinity": None,
            "quic_cid_hash_strategy": None,
            "public_border_group": "center",
            "enterprise_project_id": "0",
            "protection_status": "nonProtection",
            "protection_reason": "",
        }
        record = self._new(POOL, defaults, fields)
        record.pop("listener_id", None)  # the binding lives in the listener's default_pool_id
        record["loadbalancer_id"] = lb_id
        record["session_persistence"] = _persistence(
            record.get("session_persistence"), record["protocol"]
        )
        self._insert(POOL, record)
        if listener is not None:
            # Creating a pool with listener_id makes it the listener's default pool (Octavia
            # behaviour; docs/api-notes.md §9 marks it unverified for Huawei).
            listener["default_pool_id"] = record["id"]
            self._save(LISTENER, listener)
        return record

    def update_pool(self, pool_id: str, changes: dict[str, Any]) -> Record:
        record = self.get(POOL, pool_id)
        _reject_immutable(POOL, changes)
        _one_of(changes, "lb_algorithm", LB_ALGORITHMS)
        _only_true(changes, "admin_state_up")
        # "cannot update the pool unless its load balancer is ACTIVE" (UpdatePool, §10.2)
        self.guard.change(record.get("loadbalancer_id"))
        for name, value in changes.items():
            if name == "session_persistence":
                record[name] = _persistence(value, record["protocol"])
            elif value is not None:
                record[name] = value
        return self._save(POOL, record)

    def delete_pool(self, pool_id: str) -> None:
        record = self.get(POOL, pool_id)
        self.guard.change(record.get("loadbalancer_id"))
        # The real API keeps delete_pool_cascade for the non-empty case (docs/api-notes.md §2.2).
        if self.tx.in_pool(MEMBER, pool_id):
            raise InUse(f"Pool {pool_id} still has members.")
        if any(h["pool_id"] == pool_id for h in self.all(MONITOR)):
            raise InUse(f"Pool {pool_id} still has a health monitor.")
        for listener in self.all(LISTENER):
            if listener.get("default_pool_id") == pool_id:
                # DeletePool's blockers are members, monitor and policies, not a listener:
                # Terraform destroys a listener's pool before the listener with a plain
                # delete, so the binding is dropped (docs/api-notes.md §10.2 "Pools").
                listener["default_pool_id"] = None
                self._save(LISTENER, listener)
        self.tx.delete(POOL, pool_id)

    # ----------------------------------------------------------------- members

    def _check_member_fields(self, fields: dict[str, Any]) -> None:
        _int_in(fields, "protocol_port", 0, 65535)
        _int_in(fields, "weight", 0, 100)

    def _find_member(self, pool_id: str, address: str, port: int) -> Record | None:
        for member in self.tx.in_pool(MEMBER, pool_id):
            if (member["address"], member["protocol_port"]) == (address, port):
                return member
        return None

    def _pool_lb(self, pool: Record) -> Record | None:
        lb_id = pool.get("loadbalancer_id")
        return self.tx.get(LB, lb_id, self.project_id) if lb_id else None

    def _check_ip_member(
        self, pool: Record, address: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> None:
        """A member without a subnet is an IP-type backend (docs/api-notes.md §10.2 "Members")."""
        lb = self._pool_lb(pool)
        if lb is None or not lb.get("ip_target_enable"):
            raise IpTargetDisabled()
        if address.version != 4 or not any(address in net for net in PRIVATE_IPV4):
            raise InvalidParameter(
                f"Invalid parameter: 'address' {address} must be a private IPv4 address "
                "for a member without 'subnet_cidr_id'"
            )

    def create_member(self, pool_id: str, fields: dict[str, Any], version: str = "v3") -> Record:
        pool = self.get(POOL, pool_id)
        self.guard.change(pool.get("loadbalancer_id"))
        _require(fields, "address")
        if version == "v2" and not fields.get("subnet_cidr_id"):
            # Stored as subnet_cidr_id; the v2 API calls it subnet_id (required, §10.2).
            raise InvalidParameter("Invalid parameter: 'subnet_id' is required")
        if fields.get("protocol_port") is None:
            raise InvalidParameter("Invalid parameter: 'protocol_port' is required")
        self._check_member_fields(fields)
        try:
            address = ipaddress.ip_address(str(fields["address"]))
        except ValueError:
            raise InvalidParameter(
                f"Invalid parameter: 'address' {fields['address']!r} is not an IP address"
            ) from None
        if not fields.get("subnet_cidr_id"):
            self._check_ip_member(pool, address)
        if self._find_member(pool_id, str(fields["address"]), fields["protocol_port"]):
            raise Conflict(
                f"Member {fields['address']}:{fields['protocol_port']} already exists "
                f"in pool {pool_id}."
            )
        defaults = {
            "name": "",
            "weight": 1,
            "admin_state_up": True,
            "subnet_cidr_id": None,
            "availability_zone": "",
            "instance_id": "",
        }
        record = self._new(MEMBER, defaults, fields)
        record.update(
            pool_id=pool_id,
            ip_version=f"v{address.version}",
            member_type="instance" if record.get("subnet_cidr_id") else "ip",
        )
        self._insert(MEMBER, record)
        return record

    def get_member(self, pool_id: str, member_id: str) -> Record:
        self.get(POOL, pool_id)
        member = self.get(MEMBER, member_id)
        if member["pool_id"] != pool_id:
            raise NotFound(f"Member {member_id} could not be found in pool {pool_id}.")
        return member

    def update_member(self, pool_id: str, member_id: str, changes: dict[str, Any]) -> Record:
        record = self.get_member(pool_id, member_id)
        self.guard.change(self.get(POOL, pool_id).get("loadbalancer_id"))
        _reject_immutable(MEMBER, changes)
        self._check_member_fields(changes)
        port = changes.get("protocol_port")
        if (
            port is not None
            and port != record["protocol_port"]
            and self._find_member(pool_id, record["address"], port)
        ):
            raise Conflict(f"Member {record['address']}:{port} already exists.")
        record.update({k: v for k, v in changes.items() if v is not None})
        return self._save(MEMBER, record)

    def delete_member(self, pool_id: str, member_id: str) -> None:
        self.get_member(pool_id, member_id)
        self.guard.change(self.get(POOL, pool_id).get("loadbalancer_id"))
        self.tx.delete(MEMBER, member_id)

    def batch_add_members(
        self, pool_id: str, items: list[dict[str, Any]]
    ) -> list[tuple[Record, str]]:
        """Create each item; an address+port already present reports ``existed`` (§2.6)."""
        self.guard.change(self.get(POOL, pool_id).get("loadbalancer_id"))
        results: list[tuple[Record, str]] = []
        for item in items:
            existing = self._find_member(
                pool_id, str(item.get("address")), item.get("protocol_port", -1)
            )
            if existing is not None:
                results.append((existing, "existed"))
            else:
                results.append((self.create_member(pool_id, item), "successful"))
        return results

    def batch_delete_members(
        self, pool_id: str, items: list[dict[str, Any]]
    ) -> list[tuple[str | None, str]]:
        self.guard.change(self.get(POOL, pool_id).get("loadbalancer_id"))
        results: list[tuple[str | None, str]] = []
        for item in items:
            if item.get("id") and ("address" in item or "protocol_port" in item):
                raise InvalidParameter("Invalid parameter: give either 'id' or address+port")
            if item.get("id"):
                found = self.tx.get(MEMBER, item["id"], self.project_id)
                member = found if found and found["pool_id"] == pool_id else None
            else:
                _require(item, "address")
                member = self._find_member(pool_id, item["address"], item.get("protocol_port", -1))
            if member is None:
                results.append((item.get("id"), "not found"))
            else:
                self.tx.delete(MEMBER, member["id"])
                results.append((member["id"], "successful"))
        return results

    # ----------------------------------------------------------------- health monitors

    def create_healthmonitor(self, fields: dict[str, Any]) -> Record:
        _require(fields, "pool_id", "type")
        for name in ("delay", "timeout", "max_retries"):
            if fields.get(name) is None:
                raise InvalidParameter(f"Invalid parameter: '{name}' is required")
        pool = self.get(POOL, fields["pool_id"])
        self._check_monitor_fields(fields, pool, self._pool_lb(pool))
        self.guard.change(pool.get("loadbalancer_id"))
        for monitor in self.all(MONITOR):
            if monitor["pool_id"] == pool["id"]:
                raise Conflict(f"Pool {pool['id']} already has health monitor {monitor['id']}.")
        web = fields["type"] in {"HTTP", "HTTPS", "GRPC"}
        defaults = {
            "name": "",
            "admin_state_up": True,
            "max_retries_down": 3,
            "monitor_port": None,
            "url_path": "/" if web else None,
            "domain_name": None,
            "expected_codes": ("0" if fields["type"] == "GRPC" else "200") if web else None,
            "http_method": "GET" if web else None,
        }
        record = self._new(MONITOR, defaults, fields)
        self._insert(MONITOR, record)
        return record

    @staticmethod
    def _check_monitor_fields(fields: dict[str, Any], pool: Record, lb: Record | None) -> None:
        shared = lb is not None and not lb["guaranteed"]
        _one_of(fields, "type", SHARED_MONITOR_TYPES if shared else MONITOR_TYPES)
        allowed = MONITORS_FOR_POOL.get(pool["protocol"], MONITOR_TYPES)
        if fields.get("type") is not None and fields["type"] not in allowed:
            raise InvalidParameter(
                f"Invalid parameter: a {pool['protocol']} pool cannot use a {fields['type']} "
                f"health monitor (allowed: {', '.join(sorted(allowed))})"
            )
        _int_in(fields, "delay", 1, 50)
        _int_in(fields, "timeout", 1, 300)
        _int_in(fields, "max_retries", 1, 10)
        _int_in(fields, "max_retries_down", 1, 10)
        _int_in(fields, "monitor_port", 1, 65535)
        _one_of(fields, "http_method", ("GET", "HEAD", "POST"))

    def update_healthmonitor(self, monitor_id: str, changes: dict[str, Any]) -> Record:
        record = self.get(MONITOR, monitor_id)
        _reject_immutable(MONITOR, changes)
        pool = self.get(POOL, record["pool_id"])
        self._check_monitor_fields(changes, pool, self._pool_lb(pool))
        self.guard.change(pool.get("loadbalancer_id"))
        for name, value in changes.items():
            if value is not None or name == "monitor_port":
                record[name] = value
        return self._save(MONITOR, record)

    def delete_healthmonitor(self, monitor_id: str) -> None:
        record = self.get(MONITOR, monitor_id)
        pool = self.tx.get(POOL, record["pool_id"], self.project_id)
        self.guard.change(pool.get("loadbalancer_id") if pool else None)
        self.tx.delete(MONITOR, monitor_id)

    # ----------------------------------------------------------------- derived fields

    def expand(self, kind: str, record: Record) -> Record:
        """Add the reference lists and statuses the API computes (docs/api-notes.md §2.1)."""
        derive = _DERIVED.get(kind)
        return {**record, **derive(self, record)} if derive else dict(record)

    def _listener_derived(self, record: Record) -> Record:
        return {"loadbalancers": ref_list([record["loadbalancer_id"]])}

    def _pool_derived(self, record: Record) -> Record:
        listeners = [
            listener["id"]
            for listener in self.all(LISTENER)
            if listener.get("default_pool_id") == record["id"]
        ]
        monitors = [h["id"] for h in self.tx.in_pool(MONITOR, record["id"])]
        return {
            "listeners": ref_list(listeners),
            "loadbalancers": ref_list(
                [record["loadbalancer_id"]] if record.get("loadbalancer_id") else []
            ),
            "members": ref_list(m["id"] for m in self.tx.in_pool(MEMBER, record["id"])),
            "healthmonitor_id": monitors[0] if monitors else None,
        }

    def _member_derived(self, record: Record) -> Record:
        has_monitor = bool(self.tx.in_pool(MONITOR, record["pool_id"]))
        pool = self.tx.get(POOL, record["pool_id"], self.project_id)
        return {
            # The emulator probes nothing: monitored members are reported healthy.
            "operating_status": "ONLINE" if has_monitor else "NO_MONITOR",
            "loadbalancer_id": pool.get("loadbalancer_id") if pool else None,
            "status": [],
        }

    def _monitor_derived(self, record: Record) -> Record:
        return {"pools": ref_list([record["pool_id"]])}

    def _loadbalancer_derived(self, record: Record) -> Record:
        lb_id = record["id"]
        return {
            # Truthful, so a client can wait for ACTIVE (docs/api-notes.md §10.2).
            "provisioning_status": self.guard.status(lb_id),
            "listeners": ref_list(
                x["id"] for x in self.all(LISTENER) if x["loadbalancer_id"] == lb_id
            ),
            "pools": ref_list(p["id"] for p in self.all(POOL) if p.get("loadbalancer_id") == lb_id),
        }


# What each kind's expanded record adds to the stored one (certificates add nothing).
_DERIVED: dict[str, Callable[[Models, Record], Record]] = {
    LISTENER: Models._listener_derived,
    POOL: Models._pool_derived,
    MEMBER: Models._member_derived,
    MONITOR: Models._monitor_derived,
    LB: Models._loadbalancer_derived,
}
