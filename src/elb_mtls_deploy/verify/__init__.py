"""`deploy verify`: prove with real TLS handshakes that each listener accepts the right
clients and refuses the rest.

    target.py     where each listener answers (emulator data plane, ELB address, --address)
    handshake.py  one TLS connection + HTTP request, classified accepted/refused/unreachable
    matrix.py     the checks, over an address and the spec's certificate material
    junit.py      the JUnit XML report

`verify_listeners` wires them; it never prints (the CLI renders the results).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from elb_mtls_deploy.cloud.base import LoadBalancerInfo
from elb_mtls_deploy.pki import Bundle
from elb_mtls_deploy.spec.model import LoadBalancerRef, Spec
from elb_mtls_deploy.verify.handshake import ClientIdentity, attempt
from elb_mtls_deploy.verify.matrix import Connect, Result, failed, material_for, run_matrix
from elb_mtls_deploy.verify.target import Where, resolve, select

__all__ = ["Options", "Result", "Where", "failed", "verify_listeners"]


@dataclass(frozen=True)
class Options:
    address: str | None = None
    server_name: str | None = None
    listeners: Sequence[str] = ()
    clients: Sequence[str] = ()
    revoked: Sequence[ClientIdentity] = ()  # revoked clients' certificates, to be refused


def verify_listeners(
    spec: Spec,
    bundles: Mapping[str, Bundle],
    loadbalancers: Mapping[LoadBalancerRef, LoadBalancerInfo],
    embedded_endpoint: str | None,
    options: Options,
    now: datetime,
    connect: Connect = attempt,
) -> list[tuple[Where, list[Result]]]:
    names = select(spec, options.listeners)
    unknown = [c for c in options.clients if c not in {x.name for x in spec.certificates.clients}]
    if unknown:
        from elb_mtls_deploy.errors import DeployError

        raise DeployError(
            f"--client {unknown[0]!r} is not a client certificate of this spec",
            hint="name an entry of certificates.clients",
        )
    targets = resolve(spec, names, loadbalancers, embedded_endpoint, options.address)
    report = []
    for where in targets:
        listener = next(item for item in spec.listeners if item.name == where.listener)
        material = material_for(
            spec,
            listener,
            bundles,
            now,
            server_name=options.server_name,
            only_clients=options.clients,
            revoked=options.revoked,
        )
        report.append((where, run_matrix(where, material, connect)))
    return report
