"""Execute a plan against a `CloudApi`: wave by wave, bounded parallelism, members in batches.

Owns the ordering guarantees at run time and the stop rule: on a failure (the cloud
wrapper in `resilient.py` has already spent its retries) or on Ctrl-C, no new work
starts, work in flight finishes, and the report says what was done, what failed and what
was not started. Re-running continues from where the cloud is, because the next plan is
computed from the cloud itself.

A load balancer takes one change at a time: after a change it is PENDING_UPDATE and
refuses the next one until it is ACTIVE again (docs/api-notes.md §10.3). So changes to
the resources of one load balancer run one after another, each after a bounded wait for
ACTIVE, while certificates and other load balancers proceed in parallel.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from elb_mtls_deploy.cloud.base import CloudApi, Query
from elb_mtls_deploy.errors import CloudError, PermanentError, TransientError
from elb_mtls_deploy.plan import Action, Plan
from elb_mtls_deploy.state import Record, Ref, marker

Status = Literal["done", "failed", "not started"]

# Waiting for a load balancer to be ACTIVE: first poll soon, then back off, bounded.
POLL_FIRST = 0.025
POLL_GROWTH = 1.25
POLL_MAX = 2.0
ACTIVE_TIMEOUT = 300.0


@dataclass
class Outcome:
    action: Action
    status: Status
    seconds: float = 0.0
    error: CloudError | None = None
    id: str | None = None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


Listener = Callable[[Outcome], None]


@dataclass
class Engine:
    cloud: CloudApi
    stack: str
    ids: MutableMapping[Ref, str]  # record ref -> cloud id, updated as creates land
    workers: int = 8
    on_outcome: Listener = lambda outcome: None
    stop: threading.Event = field(default_factory=threading.Event)
    # record ref -> id of the load balancer its changes occupy (none for certificates)
    placement: Mapping[Ref, str] = field(default_factory=dict)
    active_timeout: float = ACTIVE_TIMEOUT
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _lb_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _dirty: set[str] = field(default_factory=set)  # changed by us: wait for ACTIVE first

    def run(self, plan: Plan) -> Report:
        report = Report()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for wave in plan.waves:
                actions = [plan.actions[i] for i in wave]
                if self.stop.is_set():
                    report.outcomes += [Outcome(a, "not started") for a in actions]
                    continue
                futures = [pool.submit(self._unit, unit) for unit in _units(actions)]
                pending = list(futures)
                while pending:
                    try:
                        report.outcomes += pending[0].result()
                        pending.pop(0)
                    except KeyboardInterrupt:
                        # Ctrl-C: queued units see `stop` and report "not started"; calls
                        # already on the wire finish, so the report tells the truth.
                        self.stop.set()
                        report.interrupted = True
        return report

    def _unit(self, unit: list[Action]) -> list[Outcome]:
        if self.stop.is_set():
            return [Outcome(a, "not started") for a in unit]
        started = time.monotonic()
        try:
            new_ids = self._execute(unit)
        except CloudError as exc:
            self.stop.set()  # retries are spent: no new work starts, in-flight work finishes
            outcomes = [Outcome(a, "failed", time.monotonic() - started, exc) for a in unit]
        else:
            elapsed = time.monotonic() - started
            outcomes = [
                Outcome(a, "done", elapsed, None, i) for a, i in zip(unit, new_ids, strict=True)
            ]
        for outcome in outcomes:
            self.on_outcome(outcome)
        return outcomes

    def _execute(self, unit: list[Action]) -> list[str | None]:
        first = unit[0]
        lb = self.placement.get(first.key)
        if lb is None:
            return self._dispatch(unit)
        with self._lb_lock(lb):
            self._wait_active(lb)
            try:
                return self._dispatch(unit)
            finally:
                with self._lock:
                    self._dirty.add(lb)

    def _dispatch(self, unit: list[Action]) -> list[str | None]:
        first = unit[0]
        if first.kind == "member" and first.op != "update":
            return self._members(unit)
        return [self._single(first)]

    def _lb_lock(self, lb: str) -> threading.Lock:
        with self._lock:
            return self._lb_locks.setdefault(lb, threading.Lock())

    def _wait_active(self, lb: str) -> None:
        """After our own change, poll until the load balancer is ACTIVE again (bounded).
        The first change to a load balancer is sent without a poll: a busy answer is
        retried by the cloud wrapper."""
        with self._lock:
            if lb not in self._dirty:
                return
            self._dirty.discard(lb)
        deadline = time.monotonic() + self.active_timeout
        delay = POLL_FIRST
        while True:
            status = self.cloud.provisioning_status(lb)
            if status == "ACTIVE":
                return
            if status == "ERROR":
                raise PermanentError(
                    f"load balancer {lb} is in provisioning status ERROR",
                    hint="check the load balancer in the console; nothing more was changed",
                )
            if time.monotonic() + delay > deadline or self.stop.is_set():
                raise TransientError(
                    f"load balancer {lb} stayed {status} for {self.active_timeout:.0f} s",
                    hint="another change may be running on it; re-run apply later",
                )
            time.sleep(delay)
            delay = min(delay * POLL_GROWTH, POLL_MAX)

    def _single(self, action: Action) -> str | None:
        # Retries and adoption live in the cloud wrapper (resilient.py), not here.
        cloud, kind = self.cloud, action.kind
        if action.op == "delete":
            cloud.delete(kind, _must(action.id), action.parent_id)
            return action.id
        fields = self._api_fields(action)
        if action.op == "update":
            own_id = action.id or self.ids[action.key]
            listener_id = fields.pop("listener", None)
            if fields or action.payload:
                cloud.update(kind, own_id, fields, action.payload, action.parent_id)
                self._check_unbound(action, own_id)
            if kind == "pool" and listener_id is not None:
                # One pool per listener: the switch-over is the listener's update.
                cloud.update("listener", listener_id, {"default_pool_id": own_id}, {}, None)
            return own_id
        description = marker(self.stack) if kind in ("certificate", "listener", "pool") else None
        new_id = cloud.create(kind, action.name, description, fields, action.payload)
        self._remember(action.key, new_id)
        return new_id

    def _check_unbound(self, action: Action, listener_id: str) -> None:
        """Switching mutual TLS off is re-read: whether every API version honours the
        empty reference is unverified (docs/api-notes.md §10.3), and a listener that
        still trusts the old CA must not be reported as changed."""
        if action.kind != "listener" or "client_ca_tls_container_ref" not in action.fields:
            return
        if action.fields["client_ca_tls_container_ref"] is not None:
            return
        lb = self.placement.get(action.key)
        if lb is None:
            return
        for listener in self.cloud.read(Query("listener", within=[lb])):
            if listener.id == listener_id and listener.fields.get("client_ca_tls_container_ref"):
                raise PermanentError(
                    f"update listener {action.name}: mutual TLS is still on after the "
                    "update asked to switch it off (the API kept the CA certificate)",
                    hint="switch two-way authentication off in the console, then re-run",
                )

    def _members(self, unit: list[Action]) -> list[str | None]:
        first = unit[0]
        if first.op == "delete":
            ids = [_must(a.id) for a in unit]
            self.cloud.delete_members(_must(first.parent_id), ids)
            return list(ids)
        pool_id = self.ids[first.fields["pool"]]  # the new pool's id after its create
        items = [{**self._api_fields(a), "name": a.name} for a in unit]
        new_ids = self.cloud.create_members(pool_id, items)
        for action, new_id in zip(unit, new_ids, strict=True):
            self._remember(action.key, new_id)
        return list(new_ids)

    def _api_fields(self, action: Action) -> dict[str, Any]:
        """The action's record fields with references resolved to cloud ids (the wire
        names are `cloud/wire.py`'s business)."""
        return {
            name: self.ids[value] if isinstance(value, Ref) else value
            for name, value in action.fields.items()
        }

    def _remember(self, record_key: Ref, new_id: str) -> None:
        with self._lock:
            self.ids[record_key] = new_id


def _units(actions: list[Action]) -> list[list[Action]]:
    """Members of one pool and one op form one batch; everything else runs alone."""
    batches: dict[tuple[str, object], list[Action]] = defaultdict(list)
    units: list[list[Action]] = []
    for action in actions:
        if action.kind == "member" and action.op in ("create", "delete"):
            pool = action.parent_id if action.op == "delete" else action.fields.get("pool")
            batches[(action.op, pool)].append(action)
        else:
            units.append([action])
    return units + list(batches.values())


def _must(value: str | None) -> str:
    if value is None:
        raise ValueError("action without an id")
    return value


def initial_ids(observed_records: Mapping[Ref, Record]) -> dict[Ref, str]:
    return {k: r.id for k, r in observed_records.items() if r.id}
