"""Desired state: the records a spec asks for, given its certificates and load balancers.

Pure: takes the spec, the certificate identities/PEMs and the resolved load balancer ids,
returns a `State`. Knows the v3/v2 differences in what a listener can carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from elb_mtls_deploy.certinfo import identify
from elb_mtls_deploy.errors import SpecError
from elb_mtls_deploy.spec.model import Listener, LoadBalancerRef, Pool, Spec
from elb_mtls_deploy.state import Flavour, Record, State, cloud_name, key

# v2 (shared) listeners accept only these (docs/api-notes.md §3.3).
V2_TLS_POLICIES = frozenset({"tls-1-0", "tls-1-1", "tls-1-2", "tls-1-2-strict"})
V2_INSERT_HEADERS = frozenset({"X-Forwarded-ELB-IP", "X-Forwarded-Host"})


@dataclass(frozen=True)
class UploadCert:
    """A certificate to upload: its PEM (leaf + chain) and, for servers, the private key."""

    role: str  # "server" or "client" (the API's name for a CA used for mutual TLS)
    pem: str
    private_key: str | None = field(default=None, repr=False)


def build_desired(
    spec: Spec,
    uploads: Mapping[str, UploadCert],
    flavour: Flavour,
    loadbalancers: Mapping[LoadBalancerRef, str],
) -> State:
    """All records for the spec; `uploads` maps certificate name to what gets uploaded."""
    records: list[Record] = []
    for name in sorted(_referenced_certificates(spec)):
        records.append(_certificate(spec.stack, name, _upload(name, uploads)))
    for index, listener in enumerate(spec.listeners):
        _check_flavour(listener, flavour, index)
        lb_id = loadbalancers[listener.loadbalancer]
        records.append(_listener(spec.stack, listener, flavour, lb_id))
        records.extend(_pool_records(spec.stack, listener.name, listener.pool_name, listener.pool))
    return State.of(records)


def _referenced_certificates(spec: Spec) -> set[str]:
    names = {listener.server_certificate for listener in spec.listeners}
    names.update(filter(None, (listener.client_ca_bundle for listener in spec.listeners)))
    return names


def _upload(name: str, uploads: Mapping[str, UploadCert]) -> UploadCert:
    """A single certificate, or a CA bundle ("old+new") concatenated for a rollover.

    Whether ELB trusts every CA of a concatenated client-CA certificate is not stated in
    the public docs (docs/api-notes.md §9); the emulator does, and `deploy verify` checks it.
    """
    if "+" not in name:
        return uploads[name]
    parts = [uploads[part] for part in name.split("+")]
    return UploadCert(
        "client", "".join(p.pem if p.pem.endswith("\n") else p.pem + "\n" for p in parts)
    )


def _certificate(stack: str, name: str, upload: UploadCert) -> Record:
    identity = identify(upload.pem)
    payload = {"certificate": upload.pem}
    if upload.private_key is not None:
        payload["private_key"] = upload.private_key
    return Record(
        kind="certificate",
        key=key("certificate", name),
        name=cloud_name(stack, "certificate", name),
        fields={
            "type": upload.role,
            "fingerprint": identity.fingerprint,
            "public_key_fingerprint": identity.public_key_fingerprint,
            "chain": identity.chain,
        },
        payload=payload,
    )


def _listener(stack: str, listener: Listener, flavour: Flavour, lb_id: str) -> Record:
    fields: dict[str, Any] = {
        "loadbalancer_id": lb_id,
        "protocol": "HTTPS" if flavour == "v3" else "TERMINATED_HTTPS",
        "protocol_port": listener.port,
        "default_tls_container_ref": key("certificate", listener.server_certificate),
        "client_ca_tls_container_ref": (
            key("certificate", listener.client_ca_bundle) if listener.client_ca_bundle else None
        ),
        "tls_ciphers_policy": listener.tls_policy,
        "http2_enable": listener.http2,
        "insert_headers": listener.insert_headers.api_value(),
    }
    if flavour == "v3":
        fields |= {
            "keepalive_timeout": listener.idle_timeout,
            "client_timeout": listener.client_timeout,
            "member_timeout": listener.member_timeout,
        }
    return Record(
        "listener",
        key("listener", listener.name),
        cloud_name(stack, "listener", listener.name),
        fields,
    )


def _pool_records(stack: str, listener: str, pool_name: str, pool: Pool) -> list[Record]:
    pool_key = key("pool", pool_name)
    persistence: dict[str, Any] | None = None
    if pool.session_persistence is not None:
        sp = pool.session_persistence
        persistence = {"type": sp.type}
        if sp.cookie_name is not None:
            persistence["cookie_name"] = sp.cookie_name
        if sp.timeout_minutes is not None:
            persistence["persistence_timeout"] = sp.timeout_minutes
    records = [
        Record(
            "pool",
            pool_key,
            cloud_name(stack, "pool", pool_name),
            {
                "listener": key("listener", listener),
                "protocol": pool.protocol,
                "lb_algorithm": pool.algorithm,
                "session_persistence": persistence,
            },
        )
    ]
    if pool.health_monitor is not None:
        records.append(_health_monitor(stack, pool_name, pool_key, pool.health_monitor))
    for member in pool.members:
        local = f"{pool_name}:{member.address}:{member.port}"
        records.append(
            Record(
                "member",
                key("member", local),
                cloud_name(stack, "member", local),
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


def _health_monitor(stack: str, pool_name: str, pool_key: str, hm: Any) -> Record:
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
        key("healthmonitor", pool_name),
        cloud_name(stack, "healthmonitor", pool_name),
        fields,
    )


def _check_flavour(listener: Listener, flavour: Flavour, index: int) -> None:
    if flavour != "v2":
        return
    where = f"listeners[{index}] ({listener.name})"
    if listener.tls_policy not in V2_TLS_POLICIES:
        raise SpecError(
            f"{where}: tls_policy {listener.tls_policy!r} is not offered on shared (v2) load "
            "balancers",
            hint=f"use one of {', '.join(sorted(V2_TLS_POLICIES))}",
        )
    extra = set(listener.insert_headers.api_value()) - V2_INSERT_HEADERS
    if extra:
        raise SpecError(
            f"{where}: insert_headers {', '.join(sorted(extra))} are not offered on shared (v2) "
            "load balancers",
            hint="keep only elb_ip and forwarded_host, or use a dedicated (v3) load balancer",
        )
