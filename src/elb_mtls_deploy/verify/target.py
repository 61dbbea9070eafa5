"""Where each listener of the spec answers: the address and port `verify` connects to.

- `target: embedded`: the emulator's data-plane port, from its private endpoint
  `GET /_emulator/dataplane`, matched by the listener's cloud name `{stack}-{listener}` on
  the spec's load balancer;
- Huawei Cloud: the load balancer's public address (else its private VIP) and the listener
  port from the spec;
- `--address HOST:PORT` replaces both, for exactly one listener (choose it with
  `--listener` when the spec has several): one address cannot serve two ports.

A listener that cannot be located is returned with a `problem` instead of failing the
whole run, so the other listeners are still verified.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elb_mtls_deploy.cloud.base import LoadBalancerInfo
from elb_mtls_deploy.errors import DeployError
from elb_mtls_deploy.spec.model import LoadBalancerRef, Spec
from elb_mtls_deploy.state import cloud_name


@dataclass(frozen=True)
class Where:
    listener: str
    host: str
    port: int
    source: str  # how it was found, for the report
    problem: str | None = None  # set when the listener cannot be reached at all

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(value: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT`; a DeployError with the expected form otherwise."""
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DeployError(
            f"--address {value!r} is not HOST:PORT", hint="e.g. --address 127.0.0.1:8443"
        )
    return host, int(port)


def select(spec: Spec, names: Sequence[str]) -> list[str]:
    """The listeners to verify: all, or those named with --listener (checked)."""
    known = [listener.name for listener in spec.listeners]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DeployError(
            f"--listener {unknown[0]!r} is not a listener of this spec",
            hint=f"choose one of: {', '.join(known)}",
        )
    return [n for n in known if not names or n in names]


def resolve(
    spec: Spec,
    names: Sequence[str],
    loadbalancers: Mapping[LoadBalancerRef, LoadBalancerInfo],
    embedded_endpoint: str | None,
    address: str | None,
) -> list[Where]:
    if address is not None:
        if len(names) != 1:
            raise DeployError(
                f"--address names one endpoint but {len(names)} listeners are selected",
                hint="pick the listener it belongs to with --listener NAME",
            )
        host, port = parse_address(address)
        return [Where(names[0], host, port, "--address")]
    if embedded_endpoint is not None:
        served = dataplane(embedded_endpoint)
        return [_embedded(spec, n, loadbalancers, served) for n in names]
    return [_cloud(spec, n, loadbalancers) for n in names]


def dataplane(endpoint: str) -> list[dict[str, Any]]:
    """The emulator's served listeners (loopback only; proxies are never used)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = endpoint.rstrip("/") + "/_emulator/dataplane"
    try:
        with opener.open(url, timeout=10) as response:
            body = json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise DeployError(
            f"cannot read the emulator's data plane at {url}: {exc}",
            hint="is `deploy emulator serve` still running? stop it and run verify again",
        ) from None
    return list(body.get("listeners") or [])


def _listener(spec: Spec, name: str) -> Any:
    return next(listener for listener in spec.listeners if listener.name == name)


def _embedded(
    spec: Spec,
    name: str,
    loadbalancers: Mapping[LoadBalancerRef, LoadBalancerInfo],
    served: Sequence[Mapping[str, Any]],
) -> Where:
    listener = _listener(spec, name)
    lb = loadbalancers[listener.loadbalancer]
    wanted = cloud_name(spec.stack, "listener", name)
    adopted = spec.adopt.listeners.get(name)  # before its adoption is applied: by id
    for item in served:
        if item.get("loadbalancer_id") != lb.id:
            continue
        if item.get("name") == wanted or (adopted is not None and item.get("id") == adopted):
            return Where(name, str(item["address"]), int(item["port"]), "emulator data plane")
    return Where(
        name,
        "127.0.0.1",
        0,
        "emulator data plane",
        problem=f"the emulator serves no listener {wanted!r} on {lb.name}: "
        "it is not deployed, or its certificate could not be loaded; "
        "run `deploy apply SPEC` (and `deploy emulator state` to look)",
    )


def _cloud(
    spec: Spec, name: str, loadbalancers: Mapping[LoadBalancerRef, LoadBalancerInfo]
) -> Where:
    listener = _listener(spec, name)
    lb = loadbalancers[listener.loadbalancer]
    if lb.public_address:
        return Where(name, lb.public_address, listener.port, f"public address of {lb.name}")
    if lb.vip_address:
        return Where(name, lb.vip_address, listener.port, f"private address (VIP) of {lb.name}")
    return Where(
        name,
        "",
        listener.port,
        lb.name,
        problem=f"load balancer {lb.name} has neither a public nor a private address; "
        "pass --address HOST:PORT",
    )
