"""Compare desired and observed state into a plan: set algebra over record keys.

desired-only -> create; observed-only -> delete; both -> field compare, where a changed
immutable field (or a replaced parent an immutable field points at) means replace. Only
the fields the desired record carries are compared, so server-side extras never show up
as drift. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from elb_mtls_deploy.order import order
from elb_mtls_deploy.plan import Action, Change, Plan
from elb_mtls_deploy.state import (
    IMMUTABLE,
    CloudRef,
    Flavour,
    Record,
    Ref,
    State,
    changed_fields,
    forces_replacement,
)


def diff(
    desired: State, observed: State, stack: str, flavour: Flavour, observed_digest: str = ""
) -> Plan:
    # Each record's changes are computed once: they decide both replacement and update.
    changed = {
        ref: _changes(want, observed.records[ref])
        for ref, want in desired.records.items()
        if ref in observed.records
    }
    replaced = _replaced_keys(desired, observed, changed)
    actions: list[Action] = []
    for record_key, want in desired.records.items():
        have = observed.records.get(record_key)
        if have is None:
            actions.extend(_creates(want, observed, replaced))
        elif record_key in replaced:
            reason = replaced[record_key]
            actions.extend(_creates(want, observed, replaced, reason=reason))
            actions.append(_delete(have, observed, replacement=True, reason=reason))
        elif changed[record_key]:
            actions.append(_update(want, have, changed[record_key], observed))
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
    notes = tuple(_policy_notes(desired, observed))
    return Plan(stack, flavour, tuple(ordered), waves, conflicts, observed_digest, notes)


def _creates(
    want: Record, observed: State, replaced: dict[Ref, str], reason: str = ""
) -> list[Action]:
    """The create of a record; for a pool of a listener that stays, the create-then-switch
    pair: a listener has one pool, so the new pool is made unbound (with its monitor and
    members) and then switched in by one listener update (docs/api-notes.md §10.3)."""
    listener = want.fields.get("listener") if want.kind == "pool" else None
    if listener is None or listener not in observed.records or listener in replaced:
        return [_create(want, replacement=bool(reason), reason=reason)]
    unbound = Record(want.kind, want.key, want.name, {**want.fields, "listener": None})
    unbound = replace(unbound, payload=want.payload)
    bind = Action(
        "update",
        "pool",
        want.key,
        want.name,
        None,
        None,
        {"listener": listener},
        (Change("listener", None, listener),),
        reason="switch the listener to the new pool",
    )
    return [_create(unbound, replacement=bool(reason), reason=reason), bind]


def _policy_notes(desired: State, observed: State) -> list[str]:
    """A custom security policy attached outside the tool overrides tls_ciphers_policy."""
    notes = []
    for record_key, have in sorted(observed.records.items()):
        policy = have.fields.get("security_policy_id")
        want = desired.records.get(record_key)
        if have.kind == "listener" and policy and want is not None:
            notes.append(
                f"listener {record_key.name}: custom security policy {policy} is "
                f"attached and overrides tls_policy {want.fields.get('tls_ciphers_policy')!r}; "
                "detach it in the console for the spec's policy to take effect"
            )
    return notes


def _changes(want: Record, have: Record) -> tuple[Change, ...]:
    return tuple(
        Change(name, have.fields.get(name), want.fields[name])
        for name in changed_fields(want, have)
    )


def _replaced_keys(
    desired: State, observed: State, changed: Mapping[Ref, tuple[Change, ...]]
) -> dict[Ref, str]:
    """Keys to replace: an immutable field changed, or a parent they are bound to is replaced."""
    replaced: dict[Ref, str] = {}
    for record_key, changes in changed.items():
        kind = desired.records[record_key].kind
        forced = [c for c in changes if forces_replacement(kind, c.field, c.old, c.new)]
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
                want.fields[f] for f in IMMUTABLE[want.kind] if want.fields.get(f) in replaced
            ]
            if parents:
                replaced[record_key] = f"its {parents[0].kind} is replaced"
                grew = True
    return replaced


def _show(value: Any) -> str:
    return repr(str(value)) if isinstance(value, (str, Ref, CloudRef)) else str(value)


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
        {c.field: _explicit(c) for c in changes},
        changes,
        payload=want.payload,
    )


def _explicit(change: Change) -> Any:
    """The value to send: header switches that are on now and not managed any more are
    sent as false, so they go off whether the API merges or replaces the object."""
    if change.field != "insert_headers" or not isinstance(change.old, dict):
        return change.new
    dropped = {name: False for name, on in change.old.items() if on and name not in change.new}
    return {**dropped, **change.new}


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
    ref = have.fields.get("pool")
    pool = observed.records.get(ref) if isinstance(ref, Ref) else None
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
            name = action.key.name
            problems.append(
                f"listener {name}: port {spot[1]} on load balancer {spot[0]} "
                f"is taken by listener {other.name!r} ({other.id}), which this stack does not own; "
                "choose another port or remove that listener"
            )
    return problems
