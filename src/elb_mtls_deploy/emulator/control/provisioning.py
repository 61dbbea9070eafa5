"""The provisioning model: a load balancer is PENDING_UPDATE for a while after each change.

The real API refuses changes (UpdateListener, UpdatePool, ...) while the owning load
balancer's ``provisioning_status`` is not ACTIVE, and Terraform waits for ACTIVE around
every change (docs/api-notes.md §10.2 "Provisioning"). ``Provisioning`` holds, in memory,
until when each load balancer stays busy; ``LbGuard`` is the per-request view the models
use to refuse a change on a busy load balancer and to report what they changed. Off
(``busy_ms=0``) by default so the quick start never waits. Certificates belong to no load
balancer and are never busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from .exceptions import LoadBalancerBusy

ACTIVE, PENDING_UPDATE = "ACTIVE", "PENDING_UPDATE"


class Provisioning:
    """Busy windows per load balancer id; thread-safe, monotonic clock injectable."""

    def __init__(self, busy_ms: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        if busy_ms < 0:
            raise ValueError("provisioning busy time must be >= 0 ms")
        self._busy_ms = busy_ms
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def busy_ms(self) -> int:
        return self._busy_ms

    def configure(self, busy_ms: int) -> None:
        """Change the busy time for later changes; ``0`` also ends every current window."""
        if busy_ms < 0:
            raise ValueError("provisioning busy time must be >= 0 ms")
        with self._lock:
            self._busy_ms = busy_ms
            if busy_ms == 0:
                self._until.clear()

    def status(self, loadbalancer_id: str) -> str:
        with self._lock:
            until = self._until.get(loadbalancer_id)
            if until is None:
                return ACTIVE
            if self._clock() >= until:
                del self._until[loadbalancer_id]
                return ACTIVE
            return PENDING_UPDATE

    def mark(self, loadbalancer_ids: Iterable[str]) -> None:
        """Start a busy window for each load balancer just changed."""
        if self._busy_ms == 0:
            return
        until = self._clock() + self._busy_ms / 1000
        with self._lock:
            for lb_id in loadbalancer_ids:
                self._until[lb_id] = until


class LbGuard:
    """One request's gate: refuse changes on busy load balancers, collect the ones changed.

    ``forced_busy`` is the injected busy fault (faults.py): it refuses like the model does.
    """

    def __init__(self, provisioning: Provisioning | None = None, forced_busy: bool = False):
        self._provisioning = provisioning
        self._forced_busy = forced_busy
        self.touched: set[str] = set()

    def status(self, loadbalancer_id: str) -> str:
        if self._provisioning is None:
            return ACTIVE
        return self._provisioning.status(loadbalancer_id)

    def change(self, loadbalancer_id: str | None) -> None:
        """Called by every change of a load balancer's resources, before it writes."""
        if not loadbalancer_id:
            return
        if self._forced_busy or self.status(loadbalancer_id) != ACTIVE:
            raise LoadBalancerBusy(loadbalancer_id)
        self.touched.add(loadbalancer_id)

    def commit(self) -> None:
        if self._provisioning is not None:
            self._provisioning.mark(self.touched)
