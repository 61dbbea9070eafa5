"""Retrying cloud calls: which failures are worth another try, and how long to wait.

Exponential backoff with full jitter, honouring `Retry-After`, bounded both in attempts
and by one deadline per call (`total_seconds`, the CLI's `--retry-timeout`): a wait never
runs past the deadline, whatever `Retry-After` says, and Ctrl-C (`stop`) ends it at once.
A single attempt can still overrun the deadline by the SDK's own read timeout.
A create is repeated only when the failure proves the request was not processed
(throttled before the service saw it, or a busy load balancer refusing it); after a lost
response the caller must re-observe instead of re-sending (issue: no duplicates).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from elb_mtls_deploy.errors import CloudError, ConflictError, TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 20.0
    total_seconds: float = 120.0
    seed: int | None = None
    # After a create whose request may still commit (no reply, and the look-up found
    # nothing), how long later reads wait so that a late commit is seen (resilient.py).
    settle_seconds: float = 15.0


@dataclass
class Budget:
    """One call's retry budget: attempts left and a deadline shared by every wait in it."""

    policy: RetryPolicy
    stop: threading.Event | None = None
    sleep: Callable[[float], None] = time.sleep
    deadline: float = field(default=math.nan)
    clock: Callable[[], float] = time.monotonic
    attempt: int = 1
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.policy.seed)
        if math.isnan(self.deadline):
            self.deadline = self.clock() + self.policy.total_seconds

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def pause(self, exc: CloudError) -> bool:
        """Wait before the next attempt; False (no wait) when attempts, time or the
        caller's patience (`stop`) are spent."""
        remaining = self.remaining()
        if self.attempt >= self.policy.attempts or remaining <= 0 or self.stopped():
            return False
        delay = min(backoff(self.attempt, self.policy, self.rng, exc.retry_after), remaining)
        self.attempt += 1
        if self.stop is not None and self.sleep is time.sleep:
            return not self.stop.wait(delay)
        self.sleep(delay)
        return not self.stopped()


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    safe_to_repeat: bool,
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`fn()` until it succeeds or the budget is spent; `deadline` (monotonic) lets a call
    made inside another call (a create's look-up) share the outer call's deadline."""
    budget = Budget(policy, stop, sleep, math.nan if deadline is None else deadline, clock)
    while True:
        try:
            return fn()
        except CloudError as exc:
            if not should_retry(exc, safe_to_repeat) or not budget.pause(exc):
                raise


def should_retry(exc: CloudError, safe_to_repeat: bool) -> bool:
    """Busy and throttled mean "not processed"; other transient errors only for idempotent calls."""
    if isinstance(exc, ConflictError):
        return exc.busy
    if isinstance(exc, TransientError):
        return safe_to_repeat or exc.status == 429
    return False


def backoff(
    attempt: int, policy: RetryPolicy, rng: random.Random, retry_after: float | None
) -> float:
    """Full jitter under an exponential ceiling, at least `Retry-After` (already capped by
    the translator; the caller clamps to its deadline)."""
    ceiling = min(policy.cap_seconds, policy.base_seconds * (2 ** (attempt - 1)))
    delay = rng.uniform(0, ceiling)
    if retry_after is not None and math.isfinite(retry_after):
        delay = max(delay, float(retry_after))
    return delay
