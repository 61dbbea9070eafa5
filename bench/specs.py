"""The two specs every benchmark uses: the repository's example and a generated large one.

Both are written into a temp dir, with the emulator state dir made absolute so the
in-process emulator started by the benchmark (announced there) is the one `deploy` finds.
Certificates are issued at run time into that temp dir; no key material is committed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import yaml  # PyYAML is a dependency of the product
from common import REPO


@dataclass(frozen=True)
class SpecFile:
    label: str
    stack: str
    path: Path
    state_dir: Path
    listeners: int
    pools: int
    monitors: int
    members: int
    certificates: int  # uploaded to the load balancer

    @property
    def resources(self) -> int:
        return self.certificates + self.listeners + self.pools + self.monitors + self.members

    def describe(self) -> str:
        return (
            f"{self.label}: {self.certificates} certificates, {self.listeners} listeners, "
            f"{self.pools} pools, {self.monitors} health monitors, {self.members} members"
        )


def example_spec(root: Path) -> SpecFile:
    """config/example.yaml, unchanged except for an absolute emulator state dir."""
    document = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    state_dir = root / "example-state"
    document["target"]["state_dir"] = str(state_dir)
    path = root / "example" / "example.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    listeners = document["listeners"]
    return SpecFile(
        "example",
        document["stack"],
        path,
        state_dir,
        listeners=len(listeners),
        pools=len(listeners),
        monitors=sum(1 for li in listeners if li["pool"].get("health_monitor")),
        members=sum(len(li["pool"]["members"]) for li in listeners),
        certificates=len({li["server_certificate"] for li in listeners})
        + len({li["client_ca"] for li in listeners if li.get("client_ca")}),
    )


def large_spec(root: Path, *, listeners: int, members: int, seed: int) -> SpecFile:
    """One load balancer (the emulator's seeded dedicated LB), `listeners` HTTPS listeners
    with mutual auth, one pool + health monitor each, `members` members spread evenly over
    the pools at distinct loopback addresses, and 2 x `listeners` uploaded certificates (a
    server certificate and a client CA per listener; one extra server CA signs the servers
    and is not uploaded)."""
    from elb_mtls_deploy.emulator import SEEDED_DEDICATED_LB_NAME

    rng = random.Random(seed)
    addresses = _loopback_addresses(rng, members)
    state_dir = root / "large-state"
    cas = [{"name": "server-ca", "subject": {"common_name": "Bench Server CA"}}]
    cas += [
        {"name": f"client-ca-{i:02d}", "subject": {"common_name": f"Bench Client CA {i:02d}"}}
        for i in range(listeners)
    ]
    servers = [
        {
            "name": f"www-{i:02d}",
            "issuer": "server-ca",
            "subject": {"common_name": f"www{i:02d}.bench.test"},
            "dns_names": [f"www{i:02d}.bench.test"],
        }
        for i in range(listeners)
    ]
    document = {
        "version": 1,
        "stack": "bench",
        "target": {"kind": "embedded", "state_dir": str(state_dir)},
        "certificates": {"cas": cas, "servers": servers},
        "listeners": [
            _listener(i, SEEDED_DEDICATED_LB_NAME, addresses[i::listeners])
            for i in range(listeners)
        ],
    }
    path = root / "large" / "large.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return SpecFile(
        f"large ({listeners} listeners, {members} members)",
        "bench",
        path,
        state_dir,
        listeners=listeners,
        pools=listeners,
        monitors=listeners,
        members=members,
        certificates=2 * listeners,
    )


def _listener(index: int, lb_name: str, addresses: list[str]) -> dict[str, object]:
    return {
        "name": f"www-{index:02d}",
        "loadbalancer": {"name": lb_name},
        "port": 10443 + index,
        "server_certificate": f"www-{index:02d}",
        "client_ca": f"client-ca-{index:02d}",
        "insert_headers": {"client_cert_subject_dn": True, "client_cert_verify": True},
        "pool": {
            "health_monitor": {"type": "HTTP", "url_path": "/healthz"},
            "members": [{"address": a, "port": 8080, "weight": 10} for a in addresses],
        },
    }


def _loopback_addresses(rng: random.Random, count: int) -> list[str]:
    """`count` distinct addresses in 127.0.0.0/8 (nothing listens there: no data plane)."""
    chosen: set[int] = set()
    while len(chosen) < count:
        chosen.add(rng.randrange(1 << 8, 1 << 24))
    return [f"127.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in sorted(chosen)]
