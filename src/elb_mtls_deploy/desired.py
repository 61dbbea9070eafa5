"""Desired state: the records a spec asks for, given its certificates and load balancers.

Pure: takes the spec, the certificate identities/PEMs and the resolved load balancers,
returns a `State`. Knows what each kind of load balancer and API version accepts, and fills
in the values the API would fill itself (server defaults), so that a converged stack
compares equal to what the API reports back (docs/api-notes.md §10.3). Everything refused
here is refused before any change is sent to the cloud.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from elb_mtls_deploy.certinfo import identify
from elb_mtls_deploy.cloud.base import LoadBalancerInfo
from elb_mtls_deploy.errors import SpecError
from elb_mtls_deploy.spec.model import (
    INSERT_HEADER_KEYS,
    HuaweiCloudTarget,
    Listener,
    LoadBalancerRef,
    Pool,
    Spec,
)
from elb_mtls_deploy.state import (
    DEFAULT_PERSISTENCE_MINUTES,
    Flavour,
    Record,
    Ref,
    State,
    cloud_name,
)

# Shared load balancers (any API version) offer only these TLS policies and inserted
# headers (docs/api-notes.md §3.3, §10.3); the European/G42 regions offer only the four
# oldest policies on any load balancer (api-notes §10.3; the region list is unverified).
SHARED_TLS_POLICIES = frozenset({"tls-1-0", "tls-1-1", "tls-1-2", "tls-1-2-strict"})
SHARED_INSERT_HEADERS = ("elb_ip", "forwarded_host")
RESTRICTED_POLICY_REGIONS = frozenset({"eu-west-0", "eu-west-101", "ae-ad-1"})
DEFAULT_TLS_POLICY = "tls-1-2"
# Client-certificate headers are sent only when switched on (or being switched off): on
# accounts without the feature even an explicit `false` might be refused (unverified).
CLIENT_CERT_HEADERS = tuple(k for k in INSERT_HEADER_KEYS if k.startswith("client_cert_"))
# Shared load balancers: health monitor types and the pool protocol behind
# TERMINATED_HTTPS (docs/api-notes.md §10.3).
SHARED_MONITOR_TYPES = frozenset({"TCP", "UDP_CONNECT", "HTTP"})


# What a certificate record carries instead of a fingerprint when apply must issue it
# first (Terraform's wording); the reason follows after a colon.
KNOWN_AFTER_APPLY = "(known after apply"


def known_after_apply(reason: str) -> str:
    return f"{KNOWN_AFTER_APPLY}: {reason})"


def is_known_after_apply(value: object) -> bool:
    return isinstance(value, str) and value.startswith(KNOWN_AFTER_APPLY)


@dataclass(frozen=True)
class UploadCert:
    """A certificate to upload: its PEM (leaf + chain) and, for servers, the private key.

    `pem` is None when apply must issue it first (`pending` says why); the record then
    carries "(known after apply: ...)" markers, and the public key fingerprint when the
    key is kept (a CA renewed for expiry)."""

    role: str  # "server" or "client" (the API's name for a CA used for mutual TLS)
    pem: str | None
    private_key: str | None = field(default=None, repr=False)
    pending: str | None = None
    public_key_fingerprint: str | None = None


def build_desired(
    spec: Spec,
    uploads: Mapping[str, UploadCert],
    flavour: Flavour,
    loadbalancers: Mapping[LoadBalancerRef, LoadBalancerInfo],
) -> State:
    """All records for the spec; `uploads` maps certificate name to what gets uploaded."""
    records: list[Record] = []
    for name, parts in sorted(_referenced_certificates(spec).items()):
        records.append(_certificate(spec.stack, name, _upload(parts, uploads)))
    region = spec.target.region if isinstance(spec.target, HuaweiCloudTarget) else None
    for index, listener in enumerate(spec.listeners):
        lb = loadbalancers[listener.loadbalancer]
        _check_listener(listener, flavour, lb, region, f"listeners[{index}] ({listener.name})")
        records.append(_listener(spec.stack, listener, flavour, lb))
        records.extend(_pool_records(spec.stack, listener, lb, flavour))
    return State.of(records)


def _referenced_certificates(spec: Spec) -> dict[str, tuple[str, ...]]:
    """Local name of each certificate record -> the certificates it uploads (several for a
    client-CA bundle)."""
    names: dict[str, tuple[str, ...]] = {
        listener.server_certificate: (listener.server_certificate,) for listener in spec.listeners
    }
    for listener in spec.listeners:
        if listener.client_ca_bundle:
            names[listener.client_ca_bundle] = listener.client_cas
    return names


def _upload(
    parts: tuple[str, ...], uploads: Mapping[str, UploadCert]
) -> UploadCert | list[UploadCert]:
    """A single certificate, or the parts of a CA bundle ("old+new") for a rollover.

    Whether ELB trusts every CA of a concatenated client-CA certificate is not stated in
    the public docs (docs/api-notes.md §9); the emulator does, and `deploy verify` checks it.
    """
    if len(parts) == 1:
        return uploads[parts[0]]
    return [uploads[part] for part in parts]


def _certificate(stack: str, name: str, upload: UploadCert | list[UploadCert]) -> Record:
    parts = upload if isinstance(upload, list) else [upload]
    identities = [_identity(part) for part in parts]
    payload: dict[str, str] = {}
    if all(part.pem is not None for part in parts):
        payload["certificate"] = "".join(
            str(p.pem) if str(p.pem).endswith("\n") else f"{p.pem}\n" for p in parts
        )
    if len(parts) == 1 and parts[0].private_key is not None:
        payload["private_key"] = str(parts[0].private_key)
    chain = [*identities[0][2], *(i[0] for i in identities[1:])]
    return Record(
        kind="certificate",
        key=Ref("certificate", name),
        name=cloud_name(stack, "certificate", name),
        fields={
            "type": parts[0].role,
            "fingerprint": identities[0][0],
            "public_key_fingerprint": identities[0][1],
            "chain": tuple(chain),
        },
        payload=payload,
    )


def _identity(upload: UploadCert) -> tuple[str, str, tuple[str, ...]]:
    """(fingerprint, public key fingerprint, chain) of one upload, or markers when pending."""
    if upload.pem is None:
        marker = known_after_apply(upload.pending or "issued at apply")
        return marker, upload.public_key_fingerprint or marker, ()
    identity = identify(upload.pem)
    return identity.fingerprint, identity.public_key_fingerprint, identity.chain


def _listener(stack: str, listener: Listener, flavour: Flavour, lb: LoadBalancerInfo) -> Record:
    # The API stores HTTPS as TERMINATED_HTTPS on shared load balancers and the reverse on
    # dedicated ones, whatever the API version (docs/api-notes.md §10.3): ask for what it
    # stores, or every plan would "replace" the listener.
    fields: dict[str, Any] = {
        "loadbalancer_id": lb.id,
        "protocol": "HTTPS" if lb.guaranteed else "TERMINATED_HTTPS",
        "protocol_port": listener.port,
        "default_tls_container_ref": Ref("certificate", listener.server_certificate),
        "client_ca_tls_container_ref": (
            Ref("certificate", listener.client_ca_bundle) if listener.client_ca_bundle else None
        ),
        "http2_enable": listener.http2,
        "insert_headers": insert_headers(listener, lb.guaranteed),
    }
    # v3 applies a TLS policy to dedicated load balancers only; v2 to shared ones.
    if lb.guaranteed or flavour == "v2":
        fields["tls_ciphers_policy"] = listener.tls_policy
    if flavour == "v3":
        fields |= {
            "keepalive_timeout": listener.idle_timeout,
            "client_timeout": listener.client_timeout,
            "member_timeout": listener.member_timeout,
        }
    return Record(
        "listener",
        Ref("listener", listener.name),
        cloud_name(stack, "listener", listener.name),
        fields,
    )


def insert_headers(listener: Listener, dedicated: bool) -> dict[str, bool]:
    """Explicit true/false for every header the spec manages, so that an update switches a
    header off whether the API replaces or merges the object (api-notes §10.3)."""
    values = listener.insert_headers.model_dump()
    managed = [
        name
        for name in INSERT_HEADER_KEYS
        if (name not in CLIENT_CERT_HEADERS or values[name])
        and (dedicated or name in SHARED_INSERT_HEADERS)
    ]
    return {INSERT_HEADER_KEYS[name]: bool(values[name]) for name in managed}


def _pool_records(
    stack: str, listener: Listener, lb: LoadBalancerInfo, flavour: Flavour
) -> list[Record]:
    pool = listener.pool
    pool_name = listener.pool_name
    pool_key = Ref("pool", pool_name)
    records = [
        Record(
            "pool",
            pool_key,
            cloud_name(stack, "pool", pool_name),
            {
                "listener": Ref("listener", listener.name),
                "loadbalancer_id": lb.id,
                "protocol": pool.protocol,
                "lb_algorithm": pool.algorithm,
                "session_persistence": _persistence(pool),
            },
        )
    ]
    if pool.health_monitor is not None:
        records.append(_health_monitor(stack, pool_name, pool_key, pool.health_monitor))
    for member in pool.members:
        ref = Ref.member(pool_name, member.address, member.port)
        records.append(
            Record(
                "member",
                ref,
                cloud_name(stack, "member", ref.name),
                {
                    "pool": pool_key,
                    "address": member.address,
                    "protocol_port": member.port,
                    "weight": member.weight,
                    "subnet_id": member.subnet_id,
                },
            )
        )
    return records


def _persistence(pool: Pool) -> dict[str, Any] | None:
    """Session persistence as the API reports it back: the timeout it fills in for cookie
    persistence when none is sent, no timeout for APP_COOKIE (ignored there)."""
    sp = pool.session_persistence
    if sp is None:
        return None
    if sp.type == "APP_COOKIE":
        return {"type": sp.type, "cookie_name": sp.cookie_name}
    return {
        "type": sp.type,
        "persistence_timeout": sp.timeout_minutes or DEFAULT_PERSISTENCE_MINUTES,
    }


def _health_monitor(stack: str, pool_name: str, pool_key: Ref, hm: Any) -> Record:
    fields: dict[str, Any] = {
        "pool": pool_key,
        "type": hm.type,
        "delay": hm.delay,
        "timeout": hm.timeout,
        "max_retries": hm.max_retries,
        "monitor_port": hm.monitor_port,
    }
    if hm.type != "TCP":
        fields |= {
            "url_path": hm.url_path,
            "expected_codes": hm.expected_codes,
            "http_method": hm.http_method,
        }
    return Record(
        "healthmonitor",
        Ref("healthmonitor", pool_name),
        cloud_name(stack, "healthmonitor", pool_name),
        fields,
    )


def _check_listener(
    listener: Listener, flavour: Flavour, lb: LoadBalancerInfo, region: str | None, where: str
) -> None:
    """What the API would refuse (or silently not do) for this load balancer, refused here
    with the fix, before any change is sent (docs/api-notes.md §10.3)."""
    if lb.guaranteed:
        _check_dedicated(listener, lb, region, where)
    else:
        _check_shared(listener, flavour, where)
    if flavour == "v3" and lb.guaranteed:
        _check_ip_members(listener, lb, where)


def _check_dedicated(
    listener: Listener, lb: LoadBalancerInfo, region: str | None, where: str
) -> None:
    if lb.l7_flavor_id == "":
        raise SpecError(
            f"{where}: load balancer {lb.name or lb.id} has no layer-7 flavour, and an HTTPS "
            "listener needs one",
            hint="add an application (layer-7) flavour to the load balancer in the console, "
            "or use another load balancer",
        )
    if region in RESTRICTED_POLICY_REGIONS and listener.tls_policy not in SHARED_TLS_POLICIES:
        raise SpecError(
            f"{where}: tls_policy {listener.tls_policy!r} is not offered in region {region}",
            hint=f"use one of {', '.join(sorted(SHARED_TLS_POLICIES))}",
        )


def _check_shared(listener: Listener, flavour: Flavour, where: str) -> None:
    kind = "shared load balancers"
    if listener.tls_policy not in SHARED_TLS_POLICIES:
        raise SpecError(
            f"{where}: tls_policy {listener.tls_policy!r} is not offered on {kind}",
            hint=f"use one of {', '.join(sorted(SHARED_TLS_POLICIES))}",
        )
    if flavour == "v3" and listener.tls_policy != DEFAULT_TLS_POLICY:
        raise SpecError(
            f"{where}: the v3 API applies tls_policy only on dedicated load balancers",
            hint="set target.api to v2 (or auto) for a shared load balancer, or keep tls-1-2",
        )
    on = listener.insert_headers.model_dump()
    extra = sorted(n for n, v in on.items() if v and n not in SHARED_INSERT_HEADERS)
    if extra:
        raise SpecError(
            f"{where}: insert_headers {', '.join(extra)} are not offered on {kind}",
            hint="keep only elb_ip and forwarded_host, or use a dedicated load balancer",
        )
    pool = listener.pool
    if pool.protocol != "HTTP":
        raise SpecError(
            f"{where}: pool protocol {pool.protocol} is not offered behind TERMINATED_HTTPS "
            f"on {kind}",
            hint="use protocol: HTTP for the pool",
        )
    monitor = pool.health_monitor
    if monitor is not None and monitor.type not in SHARED_MONITOR_TYPES:
        raise SpecError(
            f"{where}: health monitor type {monitor.type} is not offered on {kind}",
            hint="use type HTTP or TCP",
        )
    for index, member in enumerate(pool.members):
        if member.subnet_id is None:
            raise SpecError(
                f"{where}: pool.members[{index}] ({member.key}) needs a subnet_id on {kind}",
                hint="set subnet_id to the member's subnet (the VPC subnet's neutron id)",
            )


def _check_ip_members(listener: Listener, lb: LoadBalancerInfo, where: str) -> None:
    """v3 members without a subnet are IP-type members (api-notes §10.3, ELB.8939)."""
    for index, member in enumerate(listener.pool.members):
        if member.subnet_id is not None:
            continue
        at = f"{where}: pool.members[{index}] ({member.key})"
        if lb.ip_target_enable is False:
            raise SpecError(
                f"{at} has no subnet_id, which needs cross-VPC backends (ip_target_enable) on "
                f"load balancer {lb.name or lb.id}",
                hint="set the member's subnet_id, or enable IP as a backend on the load balancer",
            )
        address = ipaddress.ip_address(member.address)
        if address.version != 4 or not address.is_private:
            raise SpecError(
                f"{at}: a member without subnet_id must have a private IPv4 address",
                hint="use the backend's private IPv4 address, or set subnet_id",
            )
