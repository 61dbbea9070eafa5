"""The probe's throwaway stack on one load balancer: what it made, and how it is removed.

Owns the probe marker (every resource's description is `managed-by=elb-mtls-deploy-probe;
run=<id>`, names start with `elbprobe-<id>-`), waiting for the load balancer to be ACTIVE
before each change (docs/api-notes.md §10.3 row 11), the record of what this run created,
its removal (children first: members, pools, listeners, certificates) and the sweep of
what earlier runs left behind (anything under the probe marker, whatever the run id).
Nothing here decides what a probe means.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from elb_mtls_deploy.cloud.base import Observed, Query
from elb_mtls_deploy.cloud.sdk import SdkCloud
from elb_mtls_deploy.errors import ConflictError, DeployError, NotFoundError, TransientError
from elb_mtls_deploy.state import Kind

T = TypeVar("T")

MARKER_PREFIX = "managed-by=elb-mtls-deploy-probe;run="
NAME_PREFIX = "elbprobe-"
PORTS = range(40000, 61000)  # "a free high port": away from 80/443/8080-style service ports
SETTLE_SECONDS = 300.0  # the apply engine's bound on waiting for ACTIVE (§10.3 row 11)
_DELETE_ORDER: tuple[Kind, ...] = ("member", "healthmonitor", "pool", "listener", "certificate")


def marker(run_id: str) -> str:
    return MARKER_PREFIX + run_id


def name(run_id: str, role: str) -> str:
    return f"{NAME_PREFIX}{run_id}-{role}"


def is_probe(description: str | None) -> bool:
    return bool(description) and str(description).startswith(MARKER_PREFIX)


@dataclass(frozen=True)
class Made:
    kind: Kind
    id: str
    label: str
    parent_id: str | None = None  # a member's pool


@dataclass
class Balancer:
    """One load balancer's changes, one at a time, each after it is ACTIVE again."""

    cloud: SdkCloud
    id: str
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def status(self) -> str:
        return self.cloud.provisioning_status(self.id)

    def settle(self) -> None:
        """Poll until ACTIVE (25 ms, x1.25, at most 1 s apart); an error after 300 s."""
        deadline, wait = self.clock() + SETTLE_SECONDS, 0.025
        while (status := self.status()) != "ACTIVE":
            if self.clock() > deadline:
                raise DeployError(
                    f"load balancer {self.id} stayed {status} for {SETTLE_SECONDS:.0f} s",
                    hint="run `deploy probe` again later; it removes what this run left",
                )
            self.sleep(wait)
            wait = min(wait * 1.25, 1.0)

    def change(self, call: Callable[[], T]) -> T:
        """`call` once the load balancer is ACTIVE; a busy 409 (another writer) waits again."""
        for _ in range(20):
            self.settle()
            try:
                return call()
            except ConflictError as exc:
                if not exc.busy:
                    raise
        return call()


@dataclass
class Scratch:
    """What this run created, newest last; `remove` deletes it all, children first."""

    made: list[Made] = field(default_factory=list)

    def add(self, kind: Kind, id: str, label: str, parent_id: str | None = None) -> None:
        self.made.append(Made(kind, id, label, parent_id))

    def remove(self, lb: Balancer) -> tuple[list[str], list[str]]:
        """(removed, left behind with the reason); never raises for one failed delete."""
        removed, left = delete_all(lb, self.made)
        self.made = [m for m in self.made if f"{m.kind} {m.label} ({m.id})" not in removed]
        return removed, left


def delete_all(lb: Balancer, items: Sequence[Made]) -> tuple[list[str], list[str]]:
    removed: list[str] = []
    left: list[str] = []
    for kind in _DELETE_ORDER:
        for item in reversed([m for m in items if m.kind == kind]):
            label = f"{item.kind} {item.label} ({item.id})"
            try:
                _delete_retrying(lb, item)
            except NotFoundError:
                pass  # already gone: removed all the same
            except DeployError as exc:  # refused, or the load balancer never settled
                left.append(f"{label}: {exc.message}")
                continue
            removed.append(label)
    return removed, left


def _delete_retrying(lb: Balancer, item: Made, attempts: int = 3) -> None:
    """A throttled or failed delete is tried again (deletes are idempotent: 404 = done)."""
    for attempt in range(1, attempts + 1):
        try:
            _delete(lb, item)
            return
        except TransientError:
            if attempt == attempts:
                raise
            lb.sleep(attempt)


def _delete(lb: Balancer, item: Made) -> None:
    if item.kind == "certificate":  # certificates belong to no load balancer: never busy
        lb.cloud.delete("certificate", item.id, None)
    elif item.kind == "member" and lb.cloud.flavour == "v3" and item.parent_id:
        lb.change(lambda: lb.cloud.delete_members(str(item.parent_id), [item.id]))
    else:
        lb.change(lambda: lb.cloud.delete(item.kind, item.id, item.parent_id))


def leftovers(lb: Balancer) -> list[Made]:
    """Everything under the probe marker: listeners on this load balancer, pools (and their
    members) and certificates anywhere in the project (the probe makes them only here)."""
    cloud = lb.cloud
    found = [
        _made(o) for o in cloud.read(Query("listener", within=[lb.id])) if is_probe(o.description)
    ]
    pools = [_made(o) for o in list_all(cloud, "pool") if is_probe(o.description)]
    members = [
        Made("member", m.id, m.name or m.id, m.fields.get("pool"))
        for m in (cloud.read(Query("member", within=[p.id for p in pools])) if pools else [])
    ]
    certificates = [_made(o) for o in list_all(cloud, "certificate") if is_probe(o.description)]
    return [*members, *pools, *found, *certificates]


def list_all(cloud: SdkCloud, kind: Kind) -> list[Observed]:
    """Every resource of a kind, unfiltered: the list filters match descriptions exactly,
    and a leftover's run id is not known in advance."""
    return cloud.read(Query(kind))


def _made(observed: Observed) -> Made:
    return Made(observed.kind, observed.id, observed.name or observed.id)


def free_port(used: Sequence[int], rng: random.Random) -> int:
    """A high port no listener of the load balancer uses (listener ports share one space
    for TCP/HTTP/HTTPS: docs/emulator.md)."""
    taken = set(used)
    candidates = [p for p in rng.sample(PORTS, 64) if p not in taken]
    if not candidates:
        raise DeployError("no free high port (40000-60999) on the load balancer")
    return candidates[0]
