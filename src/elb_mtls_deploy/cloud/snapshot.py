"""Read what a stack may own: one list call per resource kind, in two parallel steps.

The I/O half of observing (the pure half is `elb_mtls_deploy.observe`): it asks a
`CloudApi` for the stack's certificates, the listeners of its load balancers, its pools
and their monitors and members, and returns the raw results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from elb_mtls_deploy.cloud.base import CloudApi, Observed, Query, Snapshot
from elb_mtls_deploy.state import Kind, marker


def take(
    cloud: CloudApi,
    stack: str,
    loadbalancer_ids: Sequence[str],
    adopted: Mapping[Kind, Sequence[str]] | None = None,
) -> Snapshot:
    """Five list calls (plus pages), in two parallel steps: certificates, listeners and
    pools first, then the pools' monitors and members. Cost grows with pages and the
    dependency depth (2 round trips), not with the number of resources. `adopted`
    certificates and pools (docs/import.md) are read by id as well: they carry no marker yet."""
    description = marker(stack)
    with ThreadPoolExecutor(max_workers=3) as pool:
        certificates = pool.submit(
            lambda: cloud.read(Query("certificate", description=description))
        )
        listeners = pool.submit(lambda: cloud.read(Query("listener", within=loadbalancer_ids)))
        extra = {kind: ids for kind, ids in (adopted or {}).items() if ids}
        adopted_certs = (
            pool.submit(lambda: cloud.read(Query("certificate", ids=extra["certificate"])))
            if "certificate" in extra
            else None
        )
        pools = [
            p
            for p in cloud.read(Query("pool", description=description))
            if _owned_by_name(p, stack)
        ]
        if "pool" in extra:
            pools = _union(pools, cloud.read(Query("pool", ids=extra["pool"])))
        hm_ids = sorted(
            {str(p.fields["healthmonitor_id"]) for p in pools if p.fields.get("healthmonitor_id")}
        )
        monitors = (
            pool.submit(lambda: cloud.read(Query("healthmonitor", ids=hm_ids))) if hm_ids else None
        )
        members = cloud.read(Query("member", within=[p.id for p in pools])) if pools else []
        return Snapshot(
            tuple(_union(certificates.result(), adopted_certs.result() if adopted_certs else [])),
            tuple(listeners.result()),
            tuple(pools),
            tuple(monitors.result() if monitors else ()),
            tuple(members),
        )


def _owned_by_name(item: Observed, stack: str) -> bool:
    # Only this stack's pools have members and monitors worth listing.
    return item.description == marker(stack) and item.name.startswith(f"{stack}-")


def _union(items: Sequence[Observed], more: Sequence[Observed]) -> list[Observed]:
    seen = {item.id for item in items}
    return [*items, *(item for item in more if item.id not in seen)]
