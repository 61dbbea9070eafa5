"""A `CloudApi` that survives a misbehaving API: retries, lost responses, other writers.

Wraps any `CloudApi`. Reads, updates and deletes are repeated on transient failures (they
are idempotent; a delete answered 404 was already done). A create is never blindly
re-sent: when its outcome is unknown (lost response, read timeout, server error) or it
collides with an existing resource (409: port taken, pool already bound, monitor already
present), the resource is looked up by its stack-owned name and adopted if it is there;
only when it is not there is the create sent again. That is how a killed or concurrent
apply converges without duplicates. Every call, creates included, has one deadline
(`RetryPolicy.total_seconds`) shared by its waits and look-ups.

A create that got no reply may still commit after the look-up missed and the create was
re-sent (certificate names are not unique, so nothing refuses the second one). Such a
create is remembered, and the next read through the public list methods (the post-apply
plan) first waits until `settle_seconds` have passed since it, so the late commit is seen
as a duplicate and removed by the next pass. A commit later than that stays a residual
risk (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from elb_mtls_deploy.cloud.base import CloudApi, LoadBalancerInfo, Observed, Query
from elb_mtls_deploy.errors import (
    CloudError,
    ConflictError,
    NotFoundError,
    TransientError,
    register_secret,
)
from elb_mtls_deploy.retry import Budget, RetryPolicy, call_with_retry, should_retry
from elb_mtls_deploy.state import Flavour, Kind

T = TypeVar("T")

# provisioning_status values that mean "a change is being applied" (docs/api-notes.md §10.1).
_PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")


@dataclass
class ResilientCloud:
    inner: CloudApi
    marker: str  # the stack's ownership description, to find what a lost create made
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    stop: threading.Event | None = None
    adopted: list[str] = field(default_factory=list)  # "kind name" of resources adopted
    in_doubt: list[str] = field(default_factory=list)  # "kind name" re-sent after no reply
    _settle_until: float = 0.0
    _settle_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def flavour(self) -> Flavour:
        return self.inner.flavour

    def _safe(self, fn: Callable[[], T], deadline: float | None = None) -> T:
        return call_with_retry(
            fn, self.policy, safe_to_repeat=True, stop=self.stop, deadline=deadline
        )

    def _read(self, fn: Callable[[], T]) -> T:
        self.settle()
        return self._safe(fn)

    def settle(self) -> None:
        """Wait out the settle window of creates re-sent after no reply (see the module
        docstring); a no-op when there were none. Ctrl-C (`stop`) ends the wait."""
        with self._settle_lock:
            wait = self._settle_until - time.monotonic()
            self._settle_until = 0.0
            if wait <= 0:
                return
            if self.stop is not None:
                self.stop.wait(wait)
            else:
                time.sleep(wait)

    def find_loadbalancers(
        self, ids: Sequence[str], names: Sequence[str]
    ) -> list[LoadBalancerInfo]:
        return self._read(lambda: self.inner.find_loadbalancers(ids, names))

    def read(self, query: Query) -> list[Observed]:
        return self._read(lambda: self.inner.read(query))

    def provisioning_status(self, loadbalancer_id: str) -> str:
        return self._safe(lambda: self.inner.provisioning_status(loadbalancer_id))

    def update(
        self,
        kind: Kind,
        id: str,
        fields: Mapping[str, Any],
        payload: Mapping[str, str],
        parent_id: str | None,
    ) -> None:
        register_secret(payload.get("private_key"))  # redacted from every later message
        self._safe(lambda: self.inner.update(kind, id, fields, payload, parent_id))

    def delete(self, kind: Kind, id: str, parent_id: str | None) -> None:
        # Already gone is done: a lost response to an earlier try, or another writer.
        with contextlib.suppress(NotFoundError):
            self._safe(lambda: self.inner.delete(kind, id, parent_id))

    def create_members(self, pool_id: str, members: Sequence[Mapping[str, Any]]) -> list[str]:
        # Batch add answers "existed" for a member already there, so repeating is safe.
        return self._safe(lambda: self.inner.create_members(pool_id, members))

    def delete_members(self, pool_id: str, ids: Sequence[str]) -> None:
        with contextlib.suppress(NotFoundError):
            self._safe(lambda: self.inner.delete_members(pool_id, ids))

    def close(self) -> None:
        self.inner.close()

    def create(
        self,
        kind: Kind,
        name: str,
        description: str | None,
        fields: Mapping[str, Any],
        payload: Mapping[str, str],
    ) -> str:
        register_secret(payload.get("private_key"))  # redacted from every later message
        budget = Budget(self.policy, self.stop)
        while True:
            try:
                return self.inner.create(kind, name, description, fields, payload)
            except CloudError as exc:
                if not should_retry(exc, safe_to_repeat=False):  # throttled/busy: not processed
                    found = self._resolve(exc, kind, name, description, fields, budget)
                    if found is not None:
                        self.adopted.append(f"{kind} {name}")
                        return found
                if not budget.pause(exc):
                    raise
                if exc.unanswered:
                    # A request with no reply may commit late: look again after the wait,
                    # right before re-sending, and remember it for the settle window.
                    found = self.find(kind, name, description, fields, budget.deadline)
                    if found is not None:
                        self.adopted.append(f"{kind} {name}")
                        return found
                    self._doubt(kind, name)

    def _resolve(
        self,
        exc: CloudError,
        kind: Kind,
        name: str,
        description: str | None,
        fields: Mapping[str, Any],
        budget: Budget,
    ) -> str | None:
        """After a create failed in a way that may have processed it (or collided): the
        id to adopt, or None to send it again; raises when re-sending cannot help."""
        if not isinstance(exc, TransientError | ConflictError):
            raise exc
        found = self.find(kind, name, description, fields, budget.deadline)
        if found is not None or isinstance(exc, TransientError):
            return found
        if self._loadbalancer_busy(fields.get("loadbalancer_id"), budget.deadline):
            return None  # a 409 worded unlike "busy" while the LB is PENDING_*: wait, re-send
        raise exc  # a plain conflict: the port is taken by someone else, for instance

    def _loadbalancer_busy(self, loadbalancer_id: Any, deadline: float) -> bool:
        if not loadbalancer_id:
            return False
        try:
            status = self._safe(
                lambda: self.inner.provisioning_status(str(loadbalancer_id)), deadline
            )
        except CloudError:
            return False  # cannot tell: report the conflict rather than re-send blindly
        return status.upper() in _PENDING

    def _doubt(self, kind: Kind, name: str) -> None:
        with self._settle_lock:
            self.in_doubt.append(f"{kind} {name}")
            self._settle_until = max(
                self._settle_until, time.monotonic() + self.policy.settle_seconds
            )

    def find(
        self,
        kind: Kind,
        name: str,
        description: str | None,
        fields: Mapping[str, Any],
        deadline: float | None = None,
    ) -> str | None:
        """The id of an owned resource this create would have made, if it exists. Reads
        go to the inner cloud (no settle wait) within the create's `deadline`."""
        inner = self.inner

        def read(fn: Callable[[], list[Observed]]) -> list[Observed]:
            return self._safe(fn, deadline)

        if kind == "certificate" and description:
            listed = read(lambda: inner.read(Query("certificate", description=description)))
            matches = [c for c in listed if c.name == name]
        elif kind == "listener":
            lb = str(fields.get("loadbalancer_id"))
            matches = [
                item
                for item in read(lambda: inner.read(Query("listener", within=[lb])))
                if item.name == name
                and item.description == description
                and item.fields.get("protocol_port") == fields.get("protocol_port")
            ]
        elif kind == "pool" and description:
            # Match the listener too: mid-replacement, the old pool has the same name.
            # An unbound create (a switch-over) matches only unbound pools: the old pool,
            # still bound and deleted by the same plan, must never be adopted.
            listener = fields.get("listener")
            matches = [
                p
                for p in read(lambda: inner.read(Query("pool", description=description)))
                if p.name == name and p.fields.get("listener") == listener
            ]
        elif kind == "healthmonitor":
            return self._monitor_of(str(fields.get("pool")), deadline)
        else:
            return None
        return matches[0].id if matches else None

    def _monitor_of(self, pool_id: str, deadline: float | None) -> str | None:
        """A pool has at most one monitor; the pool's `healthmonitor_id` names it."""
        listed = self._safe(
            lambda: self.inner.read(Query("pool", description=self.marker)), deadline
        )
        pools = [p for p in listed if p.id == pool_id]
        monitor = pools[0].fields.get("healthmonitor_id") if pools else None
        return str(monitor) if monitor else None
