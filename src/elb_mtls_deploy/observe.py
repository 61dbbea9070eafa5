"""Observed state: which of the listed resources this stack owns, as records.

Pure: `to_state` takes a `Snapshot` (the list results `cloud.snapshot.take` read) and
decides ownership (name prefix + marker description, inherited by health monitors and
members through their pool), maps cloud ids back to record keys, and keeps foreign
listeners only for port-conflict checks. It does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from elb_mtls_deploy.certinfo import identify
from elb_mtls_deploy.cloud.base import Observed, Snapshot
from elb_mtls_deploy.state import (
    KINDS,
    REFERENCE_FIELDS,
    CloudRef,
    ForeignListener,
    Kind,
    Record,
    Ref,
    State,
    changed_fields,
    forces_replacement,
    marker,
)


def to_state(
    snapshot: Snapshot,
    stack: str,
    desired: State | None = None,
    adopted: Mapping[str, Ref] | None = None,
) -> State:
    """Owned records keyed like the desired state; foreign listeners kept aside.

    `adopted` (cloud id -> record ref, from the spec's `adopt:`) are this stack's records
    whatever their name and description; they carry those as fields (and their pool's
    monitor and members their names) so the plan renames and marks them in place.

    Several owned resources can share a key: an apply killed half-way through a
    replacement leaves the old and the new listener, pool and members; two writers can
    race to upload one certificate. Kind by kind (certificates first), the candidate
    closest to the desired record is kept and references are mapped to the kept ids, so
    the others, and everything hanging off them, become duplicates the plan deletes.
    """
    candidates = _candidates(snapshot, stack, adopted or {})
    want = desired or State()
    records: dict[Ref, Record] = {}
    duplicates: list[Record] = []
    ids: dict[str, Ref] = {}
    for kind in KINDS:
        chosen: list[tuple[Record, list[Record]]] = []
        for record_key, options in candidates[kind].items():
            mapped = [_map_refs(option, ids) for option in options]
            target = want.records.get(record_key)
            best = min(mapped, key=lambda r: _distance(r, target))
            chosen.append((best, [m for m in mapped if m is not best]))
            if best.id:
                ids[best.id] = record_key
        for best, others in chosen:
            records[best.key] = best
            duplicates.extend(others)
    return State(records, _foreign(snapshot, stack, adopted or {}), tuple(duplicates))


def _candidates(
    snapshot: Snapshot, stack: str, adopted: Mapping[str, Ref]
) -> dict[Kind, dict[Ref, list[Record]]]:
    """Every owned resource as a record whose reference fields still hold raw cloud ids."""
    found: dict[Kind, dict[Ref, list[Record]]] = {kind: {} for kind in KINDS}

    def add(record: Record) -> None:
        found[record.kind].setdefault(record.key, []).append(record)

    in_use = _referenced_ids(snapshot.listeners, stack, adopted)
    # A certificate a listener uses goes first: on a tie it is the one to keep.
    for cert in sorted(snapshot.certificates, key=lambda c: c.id not in in_use):
        if _owned(cert, stack) or cert.id in adopted:
            add(_adopting(_certificate(cert, stack, adopted), cert, adopted))
    for listener in snapshot.listeners:
        if _owned(listener, stack) or listener.id in adopted:
            fields = {k: v for k, v in listener.fields.items() if k != "default_pool_id"}
            add(_adopting(_record("listener", listener, stack, fields, adopted), listener, adopted))
    pool_names: dict[str, str] = {}
    listener_lb = {item.id: item.fields.get("loadbalancer_id") for item in snapshot.listeners}
    for pool in snapshot.pools:
        # The monitor's id is read only to list it (`cloud.snapshot`), not compared.
        fields = {k: v for k, v in pool.fields.items() if k != "healthmonitor_id"}
        listener_id = pool.fields.get("listener")
        # A response without `loadbalancers` still places a bound pool by its listener.
        fields["loadbalancer_id"] = fields.get("loadbalancer_id") or listener_lb.get(
            str(listener_id)
        )
        parent = str(listener_id or "") or None
        record = _record("pool", pool, stack, fields, adopted, parent_id=parent)
        add(_adopting(record, pool, adopted))
        pool_names[pool.id] = record.key.name
    for record in _children(snapshot, pool_names):
        add(_adopting(record, record, adopted, parent=record.parent_id))
    return found


def _adopting(
    record: Record, item: Observed | Record, adopted: Mapping[str, Ref], parent: str | None = None
) -> Record:
    """An adopted resource (or a monitor or member of an adopted pool) compares its name and
    description too: `adopt.mark_adopted` asks for the stack's (docs/import.md)."""
    if parent is not None and parent in adopted:
        return replace(record, fields={**record.fields, "name": item.name})
    if item.id is None or item.id not in adopted:
        return record
    description = item.description if isinstance(item, Observed) else None
    return replace(record, fields={**record.fields, "name": item.name, "description": description})


def _children(snapshot: Snapshot, pool_names: Mapping[str, str]) -> Iterator[Record]:
    monitor_pool = {str(p.fields.get("healthmonitor_id")): p.id for p in snapshot.pools}
    for hm in snapshot.healthmonitors:
        pool_id = str(hm.fields.get("pool") or monitor_pool.get(hm.id, ""))
        if pool_id in pool_names:
            fields = {**hm.fields, "pool": pool_id}
            local = pool_names[pool_id]
            yield Record(
                "healthmonitor",
                Ref("healthmonitor", local),
                hm.name,
                fields,
                hm.id,
                parent_id=pool_id,
            )
    for member in snapshot.members:
        pool_id = str(member.fields.get("pool"))
        if pool_id in pool_names:
            fields = dict(member.fields)
            ref = Ref.member(
                pool_names[pool_id], fields.get("address"), fields.get("protocol_port")
            )
            yield Record("member", ref, member.name, fields, member.id, parent_id=pool_id)


def _map_refs(record: Record, ids: Mapping[str, Ref]) -> Record:
    """Raw ids in reference fields become refs of kept records, or a `CloudRef` otherwise."""
    fields = dict(record.fields)
    for name in REFERENCE_FIELDS[record.kind]:
        value = fields.get(name)
        if isinstance(value, (Ref, CloudRef)):
            continue
        fields[name] = (ids.get(str(value)) or CloudRef(str(value))) if value else None
    return replace(record, fields=fields)


def _distance(record: Record, target: Record | None) -> tuple[int, int]:
    """How far a candidate is from the desired record: immutable differences first."""
    if target is None:
        return (0, 0)
    changed = changed_fields(target, record)
    forced = sum(
        1
        for f in changed
        if forces_replacement(record.kind, f, record.fields.get(f), target.fields.get(f))
    )
    return (forced, len(changed))


def _foreign(
    snapshot: Snapshot, stack: str, adopted: Mapping[str, Ref]
) -> tuple[ForeignListener, ...]:
    return tuple(
        ForeignListener(
            item.id,
            item.name,
            str(item.fields.get("loadbalancer_id")),
            int(item.fields.get("protocol_port") or 0),
        )
        for item in snapshot.listeners
        if not _owned(item, stack) and item.id not in adopted
    )


def digest_source(state: State) -> list[Any]:
    """The canonical content a saved plan's digest is taken over (ids and managed fields)."""
    rows = [[str(r.key), r.id, _jsonable(dict(r.fields))] for r in state.records.values()]
    rows += [["duplicate", str(r.key), r.id] for r in state.duplicates]
    rows += [["foreign", f.id, f.loadbalancer_id, f.protocol_port] for f in state.foreign_listeners]
    return sorted(rows, key=repr)


def _referenced_ids(
    listeners: Sequence[Observed], stack: str, adopted: Mapping[str, Ref]
) -> set[str]:
    refs = ("default_tls_container_ref", "client_ca_tls_container_ref")
    return {
        str(item.fields[r])
        for item in listeners
        if _owned(item, stack) or item.id in adopted
        for r in refs
        if item.fields.get(r)
    }


def _owned(item: Observed, stack: str) -> bool:
    return item.description == marker(stack) and item.name.startswith(f"{stack}-")


def _local(item: Observed, stack: str) -> str:
    return item.name[len(stack) + 1 :]


def _certificate(cert: Observed, stack: str, adopted: Mapping[str, Ref]) -> Record:
    pem = str(cert.fields.get("certificate") or "")
    try:
        identity = identify(pem)
        fields: dict[str, Any] = {
            "type": cert.fields.get("type"),
            "fingerprint": identity.fingerprint,
            "public_key_fingerprint": identity.public_key_fingerprint,
            "chain": identity.chain,
            # Not compared (desired records do not carry it): read by the expiry gate.
            "expire_time": cert.fields.get("expire_time"),
        }
    except ValueError:
        fields = {"type": cert.fields.get("type"), "fingerprint": "unreadable"}
    record_key = adopted.get(cert.id) or Ref("certificate", _local(cert, stack))
    return Record("certificate", record_key, cert.name, fields, cert.id)


def _record(
    kind: Kind,
    item: Observed,
    stack: str,
    fields: Mapping[str, Any],
    adopted: Mapping[str, Ref],
    parent_id: str | None = None,
) -> Record:
    record_key = adopted.get(item.id) or Ref(kind, _local(item, stack))
    return Record(kind, record_key, item.name, dict(fields), item.id, parent_id=parent_id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
