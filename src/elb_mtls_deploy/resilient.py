"""A `CloudApi` that survives a misbehaving API: retries, lost responses, other writers.

Wraps any `CloudApi`. Reads, updates and deletes are repeated on transient failures (they
are idempotent; a delete answered 404 was already done). A create is never blindly
re-sent: when its outcome is unknown (lost response, server error) or it collides with an
existing resource (409: port taken, pool already bound, monitor already present), the
resource is looked up by its stack-owned name and adopted if it is there; only when it is
not there is the create sent again. That is how a killed or concurrent apply converges
without duplicates.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from elb_mtls_deploy.cloud.base import CloudApi, LoadBalancerInfo, Observed
from elb_mtls_deploy.errors import CloudError, ConflictError, NotFoundError, TransientError
from elb_mtls_deploy.retry import RetryPolicy, backoff, call_with_retry, should_retry
from elb_mtls_deploy.state import Flavour, Kind

T = TypeVar("T")


@dataclass
class ResilientCloud:
    inner: CloudApi
    marker: str  # the stack's ownership description, to find what a lost create made
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    stop: threading.Event | None = None
    adopted: list[str] = field(default_factory=list)  # "kind name" of resources adopted

    @property
    def flavour(self) -> Flavour:
        return self.inner.flavour

    def _safe(self, fn: Callable[[], T]) -> T:
        return call_with_retry(fn, self.policy, safe_to_repeat=True, stop=self.stop)

    def find_loadbalancers(
        self, ids: Sequence[str], names: Sequence[str]
    ) -> list[LoadBalancerInfo]:
        return self._safe(lambda: self.inner.find_loadbalancers(ids, names))

    def provisioning_status(self, loadbalancer_id: str) -> str:
        return self._safe(lambda: self.inner.provisioning_status(loadbalancer_id))

    def list_certificates(self, description: str) -> list[Observed]:
        return self._safe(lambda: self.inner.list_certificates(description))

    def list_listeners(self, loadbalancer_ids: Sequence[str]) -> list[Observed]:
        return self._safe(lambda: self.inner.list_listeners(loadbalancer_ids))

    def list_pools(self, description: str) -> list[Observed]:
        return self._safe(lambda: self.inner.list_pools(description))

    def list_healthmonitors(self, ids: Sequence[str]) -> list[Observed]:
        return self._safe(lambda: self.inner.list_healthmonitors(ids))

    def list_members(self, pool_ids: Sequence[str]) -> list[Observed]:
        return self._safe(lambda: self.inner.list_members(pool_ids))

    def update(
        self,
        kind: Kind,
        id: str,
        fields: Mapping[str, Any],
        payload: Mapping[str, str],
        parent_id: str | None,
    ) -> None:
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
        rng = random.Random(self.policy.seed)
        for attempt in range(1, self.policy.attempts + 1):
            try:
                return self.inner.create(kind, name, description, fields, payload)
            except CloudError as exc:
                if should_retry(exc, safe_to_repeat=False):  # throttled/busy: not processed
                    last: CloudError = exc
                elif isinstance(exc, TransientError | ConflictError):
                    found = self.find(kind, name, description, fields)
                    if found is not None:
                        self.adopted.append(f"{kind} {name}")
                        return found
                    if isinstance(exc, ConflictError):
                        raise
                    last = exc
                else:
                    raise
            if attempt == self.policy.attempts or (self.stop is not None and self.stop.is_set()):
                raise last
            time.sleep(backoff(attempt, self.policy, rng, last.retry_after))
        raise AssertionError("unreachable")

    def find(
        self, kind: Kind, name: str, description: str | None, fields: Mapping[str, Any]
    ) -> str | None:
        """The id of an owned resource this create would have made, if it exists."""
        if kind == "certificate" and description:
            matches = [c for c in self.list_certificates(description) if c.name == name]
        elif kind == "listener":
            lb = str(fields.get("loadbalancer_id"))
            matches = [
                item
                for item in self.list_listeners([lb])
                if item.name == name
                and item.description == description
                and item.fields.get("protocol_port") == fields.get("protocol_port")
            ]
        elif kind == "pool" and description:
            # Match the listener too: mid-replacement, the old pool has the same name.
            # An unbound create (a switch-over) matches only unbound pools: the old pool,
            # still bound and deleted by the same plan, must never be adopted.
            listener = fields.get("listener_id")
            matches = [
                p
                for p in self.list_pools(description)
                if p.name == name and p.fields.get("listener_id") == listener
            ]
        elif kind == "healthmonitor":
            return self._monitor_of(str(fields.get("pool_id")))
        else:
            return None
        return matches[0].id if matches else None

    def _monitor_of(self, pool_id: str) -> str | None:
        """A pool has at most one monitor; the pool's `healthmonitor_id` names it."""
        pools = [p for p in self.list_pools(self.marker) if p.id == pool_id]
        monitor = pools[0].fields.get("healthmonitor_id") if pools else None
        return str(monitor) if monitor else None
