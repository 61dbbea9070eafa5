"""Retrying cloud calls: which failures are worth another try, and how long to wait.

Exponential backoff with full jitter, honouring `Retry-After`, bounded both in attempts
and in total time. A create is repeated only when the failure proves the request was not
processed (throttled before the service saw it, or a busy load balancer refusing it);
after a lost response the caller must re-observe instead of re-sending (issue: no
duplicates).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    safe_to_repeat: bool,
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    rng = random.Random(policy.seed)
    deadline = time.monotonic() + policy.total_seconds
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except CloudError as exc:
            if attempt == policy.attempts or not should_retry(exc, safe_to_repeat):
                raise
            delay = backoff(attempt, policy, rng, exc.retry_after)
            if time.monotonic() + delay > deadline or (stop is not None and stop.is_set()):
                raise
            sleep(delay)
    raise AssertionError("unreachable")


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
    ceiling = min(policy.cap_seconds, policy.base_seconds * (2 ** (attempt - 1)))
    delay = rng.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay
