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


def _upload(name: str, uploads: Mapping[str, UploadCert]) -> UploadCert | list[UploadCert]:
    """A single certificate, or the parts of a CA bundle ("old+new") for a rollover.

    Whether ELB trusts every CA of a concatenated client-CA certificate is not stated in
    the public docs (docs/api-notes.md §9); the emulator does, and `deploy verify` checks it.
    """
    if "+" not in name:
        return uploads[name]
    return [uploads[part] for part in name.split("+")]


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
        key=key("certificate", name),
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
