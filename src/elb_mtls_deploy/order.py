"""Order actions into waves: a dependency graph, layered so each wave can run in parallel.

Rules: creates and updates follow references (certificate -> listener ->
pool -> health monitor / members); deletes run in reverse (children before parents), a
certificate is deleted only after every listener stopped using it, and deletes come after
all creates/updates (create before destroy) — except where the API forbids two at once:
a member re-created at the same address:port in the same pool, or a listener re-created
on a port an owned listener holds. Those deletes go first. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from elb_mtls_deploy.plan import Action
from elb_mtls_deploy.state import KINDS, REFERENCE_FIELDS, CloudRef, Ref, Reference, State

_RANK = {kind: i for i, kind in enumerate(KINDS)}


def order(
    actions: Sequence[Action], observed: State
) -> tuple[list[Action], tuple[tuple[int, ...], ...]]:
    deps = _dependencies(actions, observed)
    levels = _layers(len(actions), deps)
    ordered: list[Action] = []
    waves: list[tuple[int, ...]] = []
    for level in levels:
        level.sort(key=lambda i: _sort_key(actions[i]))
        waves.append(tuple(range(len(ordered), len(ordered) + len(level))))
        ordered.extend(actions[i] for i in level)
    return ordered, tuple(waves)


def _sort_key(action: Action) -> tuple[int, int, Ref]:
    op_rank = {"create": 0, "update": 1, "delete": 2}[action.op]
    kind_rank = _RANK[action.kind] if action.op != "delete" else -_RANK[action.kind]
    return (op_rank, kind_rank, action.key)


def _dependencies(actions: Sequence[Action], observed: State) -> list[set[int]]:
    deps: list[set[int]] = [set() for _ in actions]
    # A reference waits for the record's create where there is one (a switched-in pool
    # has a create and then a binding update under one key).
    writes = {a.key: i for i, a in enumerate(actions) if a.op == "update"}
    writes |= {a.key: i for i, a in enumerate(actions) if a.op == "create"}
    touches: dict[Ref, list[int]] = defaultdict(list)  # key -> update/delete actions on it
    for i, action in enumerate(actions):
        if action.op != "create":
            touches[action.key].append(i)
    for i, action in enumerate(actions):
        if action.op != "delete":
            for ref in _refs(action):
                if ref in writes and writes[ref] != i:
                    deps[i].add(writes[ref])
    for i, action in enumerate(actions):
        if is_binding(action):
            # Switch the listener over only once the pool is complete: created, with its
            # health monitor and members in it.
            deps[i].update(
                j
                for j, other in enumerate(actions)
                if j != i
                and other.op != "delete"
                and (other.key == action.key or action.key in _refs(other))
            )
    for i, action in enumerate(actions):
        if action.op == "delete":
            for holder in _holders(action, observed):
                deps[i].update(j for j in touches.get(holder, ()) if j != i)
    early = _early_deletes(actions, observed, deps)
    writers = [i for i, a in enumerate(actions) if a.op != "delete"]
    for i, action in enumerate(actions):
        if action.op == "delete" and i not in early:
            deps[i].update(writers)
    return deps


def is_binding(action: Action) -> bool:
    """An update that binds a pool to its listener (the listener's `default_pool_id`)."""
    return action.op == "update" and action.kind == "pool" and "listener" in action.fields


def _refs(action: Action) -> list[Ref]:
    return [v for v in action.fields.values() if isinstance(v, Ref)]


def _holders(action: Action, observed: State) -> list[Ref]:
    """Keys of observed records that reference the record this delete removes."""
    kept = observed.records.get(action.key)
    names: set[Reference]
    if action.id and kept is not None and action.id != kept.id:
        names = {CloudRef(action.id)}  # a duplicate: only its own family points at it by id
    else:
        names = {action.key}
    return [
        record.key
        for record in (*observed.records.values(), *observed.duplicates)
        if record.key != action.key
        and any(record.fields.get(f) in names for f in REFERENCE_FIELDS[record.kind])
    ]


def _early_deletes(actions: Sequence[Action], observed: State, deps: list[set[int]]) -> set[int]:
    """Deletes that must run before a create that would collide with what they remove."""
    early: set[int] = set()
    deletes = {a.key: i for i, a in enumerate(actions) if a.op == "delete"}
    ports = {
        (str(a.fields.get("loadbalancer_id")), a.fields.get("protocol_port")): i
        for i, a in enumerate(actions)
        if a.op == "delete" and a.kind == "listener"
    }
    for i, action in enumerate(actions):
        if action.op != "create":
            continue
        blocker = None
        if action.kind == "member" and action.key in deletes:
            pool = action.fields.get("pool")
            if not any(a.op == "create" and a.key == pool for a in actions):
                blocker = deletes[action.key]
        elif action.kind == "listener":
            spot = (str(action.fields.get("loadbalancer_id")), action.fields.get("protocol_port"))
            blocker = ports.get(spot)
        if blocker is not None:
            deps[i].add(blocker)
            early |= _closure(blocker, deps)
    return early


def _closure(start: int, deps: list[set[int]]) -> set[int]:
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(deps[node])
    return seen


def _layers(count: int, deps: list[set[int]]) -> list[list[int]]:
    """Kahn's algorithm by levels; a cycle is a bug in the rules above, so it raises."""
    remaining = {i: set(d) for i, d in enumerate(deps)}
    levels: list[list[int]] = []
    done: set[int] = set()
    while remaining:
        ready = [i for i, d in remaining.items() if d <= done]
        if not ready:
            raise RuntimeError(f"cyclic plan dependencies among actions {sorted(remaining)}")
        levels.append(ready)
        done.update(ready)
        for i in ready:
            del remaining[i]
    return levels if count else []
