"""The loop `apply` and `destroy` share: issue what the plan said, run it, plan again,
until a fresh plan is empty (at most `MAX_PASSES` times).

Owns the policy, not the words: it reports through `Events` and returns a `Result`; the
CLI prints and picks the exit code. Approval is taken (`deploy.py`) before `converge` is
called. A stop request (Ctrl-C, SIGTERM) is honoured the way the engine does: calls in
flight finish, nothing new starts, and no further pass begins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from elb_mtls_deploy.apply import Engine, Outcome, Report, initial_ids
from elb_mtls_deploy.plan import Plan
from elb_mtls_deploy.state import State
from elb_mtls_deploy.workflow.planning import Planned, issue_planned, make_plan
from elb_mtls_deploy.workflow.session import Connection, Loaded

MAX_PASSES = 3  # passes before giving up on a cloud that keeps changing under us

Status = Literal["applied", "failed", "interrupted", "not converged"]


def _ignore(*_: Any) -> None:
    return None


@dataclass
class Events:
    """What the loop tells its caller, as it happens."""

    issued: Callable[[Any], None] = _ignore  # a certificate issued or renewed (after approval)
    outcome: Callable[[Outcome], None] = _ignore  # one call finished (or was not started)
    engine: Callable[[threading.Event | None], None] = _ignore  # the running engine's stop
    passed: Callable[[Report, float], None] = _ignore  # a pass ended, after so many seconds
    again: Callable[[Plan, int], None] = _ignore  # the cloud still differs: pass N begins


@dataclass
class Result:
    status: Status
    reports: list[Report] = field(default_factory=list)
    after: State | None = None  # the cloud as last observed (None when a pass stopped)
    remaining: Plan | None = None  # what still differs, when not converged


def converge(
    planned: Planned,
    loaded: Loaded,
    conn: Connection,
    *,
    destroy: bool,
    workers: int,
    events: Events,
    stop_requested: Callable[[], bool] = lambda: False,
) -> Result:
    result = Result("applied")
    for attempt in range(1, MAX_PASSES + 1):
        planned = _issue(planned, loaded, conn, events)
        report = _run(planned, loaded, conn, workers, events, stop_requested)
        result.reports.append(report)
        if report.interrupted:
            result.status = "interrupted"
            return result
        if report.failed:
            result.status = "failed"
            return result
        planned = make_plan(loaded, conn, destroy=destroy, issued=planned.issued)
        result.after = planned.observed
        if planned.plan.empty:
            return result
        if attempt == MAX_PASSES or planned.plan.conflicts:
            result.status, result.remaining = "not converged", planned.plan
            return result
        events.again(planned.plan, attempt + 1)  # another writer, or duplicates left behind
    return result


def _issue(planned: Planned, loaded: Loaded, conn: Connection, events: Events) -> Planned:
    """After approval: issue what the plan said (the PKI is written here, never in plan)."""
    issued, report = issue_planned(loaded, conn, planned)
    for cert in report.certificates if report is not None else ():
        if cert.action != "kept" or cert.files:
            events.issued(cert)
    return issued


def _run(
    planned: Planned,
    loaded: Loaded,
    conn: Connection,
    workers: int,
    events: Events,
    stop_requested: Callable[[], bool],
) -> Report:
    engine = Engine(
        conn.cloud,
        loaded.spec.stack,
        initial_ids(planned.observed.records),
        workers=workers,
        on_outcome=events.outcome,
        placement=planned.placement,
    )
    conn.cloud.stop = engine.stop  # a stop or a failure also ends retry back-offs
    started = time.monotonic()
    events.engine(engine.stop)
    try:
        if stop_requested():
            engine.stop.set()
        report = engine.run(planned.plan)
    finally:
        events.engine(None)
    report.interrupted = report.interrupted or stop_requested()
    events.passed(report, time.monotonic() - started)
    return report
