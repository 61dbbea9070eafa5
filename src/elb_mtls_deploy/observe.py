"""Observed state: what this stack owns in the cloud, read with one list call per kind.

`observe` does the (few) calls through a `CloudApi`; `to_state` is the pure part that
decides ownership (name prefix + marker description, inherited by health monitors and
members through their pool), maps cloud ids back to record keys, and keeps foreign
listeners only for port-conflict checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elb_mtls_deploy.certinfo import identify
from elb_mtls_deploy.cloud.base import CloudApi, Observed
from elb_mtls_deploy.state import ForeignListener, Kind, Record, State, key, marker


@dataclass(frozen=True)
class Snapshot:
    """Raw list results, before ownership and key mapping."""

    certificates: tuple[Observed, ...]
    listeners: tuple[Observed, ...]
    pools: tuple[Observed, ...]
    healthmonitors: tuple[Observed, ...]
    members: tuple[Observed, ...]


def observe(cloud: CloudApi, stack: str, loadbalancer_ids: Sequence[str]) -> Snapshot:
    """Five list calls (plus pages): cost grows with pages, not with resources."""
    description = marker(stack)
    certificates = cloud.list_certificates(description)
    listeners = cloud.list_listeners(loadbalancer_ids)
    pools = [p for p in cloud.list_pools(description) if _owned(p, stack)]
    hm_ids = sorted(
        {str(p.fields["healthmonitor_id"]) for p in pools if p.fields.get("healthmonitor_id")}
    )
    healthmonitors = cloud.list_healthmonitors(hm_ids) if hm_ids else []
    members = cloud.list_members([p.id for p in pools]) if pools else []
    return Snapshot(
        tuple(certificates), tuple(listeners), tuple(pools), tuple(healthmonitors), tuple(members)
    )


def to_state(snapshot: Snapshot, stack: str) -> State:
    """Owned records keyed like the desired state; foreign listeners kept aside."""
    records: dict[str, Record] = {}
    duplicates: list[Record] = []
    ids: dict[str, str] = {}

    def add(record: Record) -> None:
        if record.key in records:
            duplicates.append(record)
        else:
            records[record.key] = record
            if record.id:
                ids[record.id] = record.key

    in_use = _referenced_ids(snapshot.listeners, stack)
    # When another writer left two certificates under one name, the one a listener
    # uses is the one to keep (deleting the other cannot break anything).
    owned_certs = sorted(
        (c for c in snapshot.certificates if _owned(c, stack)), key=lambda c: c.id not in in_use
    )
    for cert in owned_certs:
        add(_certificate(cert, stack))
    foreign: list[ForeignListener] = []
    for listener in snapshot.listeners:
        if _owned(listener, stack):
            add(_record("listener", listener, stack, listener.fields))
        else:
            foreign.append(
                ForeignListener(
                    listener.id,
                    listener.name,
                    str(listener.fields.get("loadbalancer_id")),
                    int(listener.fields.get("protocol_port") or 0),
                )
            )
    for record in [r for r in records.values() if r.kind == "listener"]:
        records[record.key] = _with_refs(record, ids)
    pool_keys = _add_pools(snapshot.pools, stack, ids, add)
    _add_children(snapshot, stack, pool_keys, add)
    return State(records=records, foreign_listeners=tuple(foreign), duplicates=tuple(duplicates))


def digest_source(state: State) -> list[Any]:
    """The canonical content a saved plan's digest is taken over (ids and managed fields)."""
    rows = [[r.key, r.id, _jsonable(dict(r.fields))] for r in state.records.values()]
    rows += [["duplicate", r.key, r.id] for r in state.duplicates]
    rows += [["foreign", f.id, f.loadbalancer_id, f.protocol_port] for f in state.foreign_listeners]
    return sorted(rows, key=repr)


def _referenced_ids(listeners: Sequence[Observed], stack: str) -> set[str]:
    refs = ("default_tls_container_ref", "client_ca_tls_container_ref")
    return {
        str(item.fields[r])
        for item in listeners
        if _owned(item, stack)
        for r in refs
        if item.fields.get(r)
    }


def _owned(item: Observed, stack: str) -> bool:
    return item.description == marker(stack) and item.name.startswith(f"{stack}-")


def _local(item: Observed, stack: str) -> str:
    return item.name[len(stack) + 1 :]


def _certificate(cert: Observed, stack: str) -> Record:
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
    return Record(
        "certificate", key("certificate", _local(cert, stack)), cert.name, fields, cert.id
    )


def _record(kind: Kind, item: Observed, stack: str, fields: Mapping[str, Any]) -> Record:
    return Record(kind, key(kind, _local(item, stack)), item.name, dict(fields), item.id)


def _with_refs(listener: Record, ids: Mapping[str, str]) -> Record:
    fields = dict(listener.fields)
    for name in ("default_tls_container_ref", "client_ca_tls_container_ref"):
        value = fields.get(name)
        fields[name] = _ref(value, ids)
    fields.pop("default_pool_id", None)
    return Record(listener.kind, listener.key, listener.name, fields, listener.id)


def _ref(value: Any, ids: Mapping[str, str]) -> str | None:
    if not value:
        return None
    return ids.get(str(value), f"id:{value}")


def _add_pools(
    pools: Sequence[Observed], stack: str, ids: Mapping[str, str], add: Any
) -> dict[str, str]:
    pool_keys: dict[str, str] = {}
    for pool in pools:
        fields = dict(pool.fields)
        fields["listener"] = _ref(fields.pop("listener_id", None), ids)
        for drop in ("healthmonitor_id", "loadbalancer_id"):
            fields.pop(drop, None)
        record = _record("pool", pool, stack, fields)
        pool_keys[pool.id] = record.key
        add(record)
    return pool_keys


def _add_children(snapshot: Snapshot, stack: str, pool_keys: Mapping[str, str], add: Any) -> None:
    hm_pool = {str(p.fields.get("healthmonitor_id")): p.id for p in snapshot.pools}
    for hm in snapshot.healthmonitors:
        pool_id = str(hm.fields.get("pool_id") or hm_pool.get(hm.id, ""))
        pool_key = pool_keys.get(pool_id)
        if pool_key is None:
            continue
        fields = {k: v for k, v in hm.fields.items() if k != "pool_id"} | {"pool": pool_key}
        local = pool_key.split(":", 1)[1]
        add(Record("healthmonitor", key("healthmonitor", local), hm.name, fields, hm.id))
    for member in snapshot.members:
        pool_key = pool_keys.get(str(member.fields.get("pool_id")))
        if pool_key is None:
            continue
        fields = {k: v for k, v in member.fields.items() if k != "pool_id"} | {"pool": pool_key}
        local = f"{pool_key.split(':', 1)[1]}:{fields.get('address')}:{fields.get('protocol_port')}"
        add(Record("member", key("member", local), member.name, fields, member.id))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
