"""Compare desired and observed state into a plan: set algebra over record keys.

desired-only -> create; observed-only -> delete; both -> field compare, where a changed
immutable field (or a replaced parent an immutable field points at) means replace. Only
the fields the desired record carries are compared, so server-side extras never show up
as drift. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from elb_mtls_deploy.order import order
from elb_mtls_deploy.plan import Action, Change, Plan
from elb_mtls_deploy.state import IMMUTABLE, Flavour, Record, State, changed_fields


def diff(
    desired: State, observed: State, stack: str, flavour: Flavour, observed_digest: str = ""
) -> Plan:
    replaced = _replaced_keys(desired, observed)
    actions: list[Action] = []
    for record_key, want in desired.records.items():
        have = observed.records.get(record_key)
        if have is None:
            actions.append(_create(want))
        elif record_key in replaced:
            reason = replaced[record_key]
            actions.append(_create(want, replacement=True, reason=reason))
            actions.append(_delete(have, observed, replacement=True, reason=reason))
        else:
            changes = _changes(want, have)
            if changes:
                actions.append(_update(want, have, changes, observed))
    for record_key, have in observed.records.items():
        if record_key not in desired.records:
            actions.append(_delete(have, observed, reason="not in the spec"))
    for dup in observed.duplicates:
        actions.append(
            _delete(
                dup, observed, reason="duplicate of an owned resource (left by an interrupted run)"
            )
        )
    conflicts = tuple(_port_conflicts(desired, observed, actions))
    ordered, waves = order(actions, observed)
    return Plan(stack, flavour, tuple(ordered), waves, conflicts, observed_digest)


def _changes(want: Record, have: Record) -> tuple[Change, ...]:
    return tuple(
        Change(name, have.fields.get(name), want.fields[name])
        for name in changed_fields(want, have)
    )


def _replaced_keys(desired: State, observed: State) -> dict[str, str]:
    """Keys to replace: an immutable field changed, or a parent they are bound to is replaced."""
    replaced: dict[str, str] = {}
    for record_key, want in desired.records.items():
        have = observed.records.get(record_key)
        if have is None:
            continue
        forced = [c for c in _changes(want, have) if c.field in IMMUTABLE[want.kind]]
        if forced:
            replaced[record_key] = (
                ", ".join(f"{c.field}: {_show(c.old)} -> {_show(c.new)}" for c in forced)
                + " forces replacement"
            )
    grew = True
    while grew:  # cascade to children whose binding to a replaced parent is immutable
        grew = False
        for record_key, want in desired.records.items():
            if record_key in replaced or record_key not in observed.records:
                continue
            parents = [
                str(want.fields[f]) for f in IMMUTABLE[want.kind] if want.fields.get(f) in replaced
            ]
            if parents:
                replaced[record_key] = f"its {parents[0].split(':')[0]} is replaced"
                grew = True
    return replaced


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _create(want: Record, replacement: bool = False, reason: str = "") -> Action:
    return Action(
        "create",
        want.kind,
        want.key,
        want.name,
        None,
        None,
        want.fields,
        replacement=replacement,
        reason=reason,
        payload=want.payload,
    )


def _update(want: Record, have: Record, changes: tuple[Change, ...], observed: State) -> Action:
    return Action(
        "update",
        want.kind,
        want.key,
        want.name,
        have.id,
        _parent_id(have, observed),
        {c.field: c.new for c in changes},
        changes,
        payload=want.payload,
    )


def _delete(have: Record, observed: State, replacement: bool = False, reason: str = "") -> Action:
    return Action(
        "delete",
        have.kind,
        have.key,
        have.name,
        have.id,
        _parent_id(have, observed),
        have.fields,
        replacement=replacement,
        reason=reason,
    )


def _parent_id(have: Record, observed: State) -> str | None:
    """Members and health monitors are addressed through the pool they are in *now*."""
    if have.kind not in ("member", "healthmonitor"):
        return None
    if have.parent_id:
        return have.parent_id
    pool = observed.records.get(str(have.fields.get("pool")))
    return pool.id if pool else None


def _port_conflicts(desired: State, observed: State, actions: Iterable[Action]) -> list[str]:
    """A listener we would create on a port a foreign listener already holds."""
    foreign = {(f.loadbalancer_id, f.protocol_port): f for f in observed.foreign_listeners}
    problems = []
    for action in actions:
        if action.kind != "listener" or action.op != "create":
            continue
        spot = (
            str(action.fields.get("loadbalancer_id")),
            int(action.fields.get("protocol_port", 0)),
        )
        other = foreign.get(spot)
        if other is not None:
            name = action.key.split(":", 1)[1]
            problems.append(
                f"listener {name}: port {spot[1]} on load balancer {spot[0]} "
                f"is taken by listener {other.name!r} ({other.id}), which this stack does not own; "
                "choose another port or remove that listener"
            )
    return problems
