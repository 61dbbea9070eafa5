"""Independent checks of what the emulator holds after a round: duplicates and orphans.

Works on `emulator.control.admin.state()` dumps and the spec *document*, not on the product's
own observe/diff, so a bug there cannot hide itself. Names follow the documented scheme
(`<stack>-<name>`, monitors `<stack>-<pool>-hm`).

- duplicate: two owned resources of one kind with the same name, two members with the same
  address:port in one pool, two listeners on one load balancer port;
- orphan: an owned resource the spec does not ask for, a pool without an existing listener,
  a monitor or member whose pool is gone, a member not in its pool's spec;
- missing: something the spec asks for that is not there (the final plan would show it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

Doc = dict[str, Any]
KINDS = ("certificates", "listeners", "pools", "healthmonitors")


@dataclass
class Findings:
    duplicates: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.orphans or self.missing)


@dataclass(frozen=True)
class Expected:
    names: dict[str, set[str]]  # kind -> cloud names
    members: dict[str, set[tuple[str, int]]]  # pool cloud name -> address:port


def expected(doc: Doc | None, stack: str) -> Expected:
    """What a spec document asks for; None means nothing (after destroy)."""
    names: dict[str, set[str]] = {kind: set() for kind in KINDS}
    members: dict[str, set[tuple[str, int]]] = {}
    for listener in (doc or {}).get("listeners", []):
        names["certificates"].add(f"{stack}-{listener['server_certificate']}")
        client_ca = listener.get("client_ca")
        if client_ca:
            bundle = client_ca if isinstance(client_ca, str) else "+".join(client_ca)
            names["certificates"].add(f"{stack}-{bundle}")
        names["listeners"].add(f"{stack}-{listener['name']}")
        pool = listener["pool"]
        pool_name = f"{stack}-{pool.get('name', listener['name'])}"
        names["pools"].add(pool_name)
        if pool.get("health_monitor"):
            names["healthmonitors"].add(f"{pool_name}-hm")
        members[pool_name] = {(m["address"], int(m["port"])) for m in pool.get("members", [])}
    return Expected(names, members)


def audit(dump: dict[str, Any], doc: Doc | None, stack: str) -> Findings:
    want = expected(doc, stack)
    found = Findings()
    owned = {
        kind: [r for r in dump[kind] if str(r.get("name") or "").startswith(f"{stack}-")]
        for kind in KINDS
    }
    for kind in KINDS:
        for name, count in Counter(r["name"] for r in owned[kind]).items():
            if count > 1:
                found.duplicates.append(f"{count} {kind} named {name}")
        present = {r["name"] for r in owned[kind]}
        found.orphans += [f"{kind[:-1]} {n}" for n in sorted(present - want.names[kind])]
        found.missing += [f"{kind[:-1]} {n}" for n in sorted(want.names[kind] - present)]
    ports = Counter((r["loadbalancer_id"], r["protocol_port"]) for r in dump["listeners"])
    found.duplicates += [f"{n} listeners on {lb}:{p}" for (lb, p), n in ports.items() if n > 1]
    _relations(dump, owned, want, found)
    return found


def _relations(
    dump: dict[str, Any], owned: dict[str, list[Any]], want: Expected, found: Findings
) -> None:
    listener_ids = {r["id"] for r in dump["listeners"]}
    # A pool is bound at create (listener_id) or by a listener's default_pool_id.
    bound = {r.get("default_pool_id") for r in dump["listeners"]}
    pools = {r["id"]: r for r in dump["pools"]}
    for pool in owned["pools"]:
        if pool.get("listener_id") not in listener_ids and pool["id"] not in bound:
            found.orphans.append(f"pool {pool['name']} without a listener")
    for monitor in dump["healthmonitors"]:
        if monitor.get("pool_id") not in pools:
            found.orphans.append(f"healthmonitor {monitor['name']} of a deleted pool")
    by_pool: dict[str, list[Any]] = {}
    for member in dump["members"]:
        by_pool.setdefault(str(member.get("pool_id")), []).append(member)
    for pool_id, members in by_pool.items():
        pool = pools.get(pool_id)
        if pool is None:
            found.orphans += [f"member {m['name']} of a deleted pool" for m in members]
            continue
        addresses = Counter((m["address"], int(m["protocol_port"])) for m in members)
        found.duplicates += [
            f"{n} members {a}:{p} in pool {pool['name']}"
            for (a, p), n in addresses.items()
            if n > 1
        ]
        wanted = want.members.get(str(pool.get("name")))
        if wanted is None:
            continue  # the pool itself is counted above (orphan or foreign)
        found.orphans += [
            f"member {a}:{p} of pool {pool['name']}" for (a, p) in sorted(set(addresses) - wanted)
        ]
        found.missing += [
            f"member {a}:{p} of pool {pool['name']}" for (a, p) in sorted(wanted - set(addresses))
        ]
