"""`deploy apply` and `deploy destroy`, each one call: load, check, plan, show the plan, take
the approval, converge, and (destroy `--purge-pki`) delete the stack's PKI files.

Decides; never prints. The caller shows the plan and asks for approval through `Hooks`,
and reads what happened from the returned `Deployed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from elb_mtls_deploy.errors import DeployError
from elb_mtls_deploy.retry import RetryPolicy
from elb_mtls_deploy.workflow import saved as saved_plans
from elb_mtls_deploy.workflow.certs import preflight
from elb_mtls_deploy.workflow.converge import Events, converge
from elb_mtls_deploy.workflow.planning import Planned, make_plan
from elb_mtls_deploy.workflow.session import Connection, Loaded, connect, load

if TYPE_CHECKING:
    from elb_mtls_deploy.apply import Report
    from elb_mtls_deploy.plan import Plan
    from elb_mtls_deploy.state import State

Command = Literal["apply", "destroy"]


def _never() -> bool:
    return False


@dataclass
class Hooks:
    """What the caller does while the command runs: show the plan, approve it (not asked
    for a saved plan: it was the approval), follow the loop, ask whether to stop."""

    show: Callable[[Plan], None]
    approve: Callable[[], bool]
    events: Events = field(default_factory=Events)
    stop_requested: Callable[[], bool] = _never


@dataclass(frozen=True)
class Deployed:
    """What apply or destroy did; `status` is "no changes", "cancelled", or the loop's."""

    command: Command
    stack: str
    status: str
    before: State
    reports: Sequence[Report] = ()
    after: State | None = None  # the cloud as last observed (None when a pass stopped)
    remaining: Plan | None = None  # what still differs, when not converged
    emulator_dir: Path | None = None  # where the embedded emulator keeps this cloud (apply)
    purged: tuple[Path, ...] | None = None  # the PKI files deleted (destroy --purge-pki)

    @property
    def ok(self) -> bool:
        return self.status in ("no changes", "applied")


def apply(
    given: Path,
    env: Mapping[str, str],
    hooks: Hooks,
    *,
    pinned_spec: Path | None = None,
    policy: RetryPolicy | None = None,
    workers: int = 8,
) -> Deployed:
    """Converge the cloud to the spec `given`, or apply the plan saved there (refused
    unless it still holds; `pinned_spec` must then be the spec it was made from)."""
    saved = saved_plans.read(given)
    loaded = load(saved_plans.spec_path(saved, given, pinned_spec), env)
    if saved is not None:
        saved_plans.check_made_from(saved, given, loaded)
    preflight(loaded)  # a CA key that must sign and is missing: exit 1, no API call
    with connect(loaded, policy) as conn:
        planned = make_plan(loaded, conn)
        if saved is not None:
            saved_plans.check_still_valid(saved, given, planned)
            hooks = replace(hooks, approve=lambda: True)  # the saved plan was the approval
        return _run("apply", planned, loaded, conn, hooks, workers)


def destroy(
    spec: Path,
    env: Mapping[str, str],
    hooks: Hooks,
    *,
    purge_pki: bool = False,
    policy: RetryPolicy | None = None,
) -> Deployed:
    """Delete everything the stack owns; with `purge_pki`, then the PKI files it made
    (refused before anything is deleted when the PKI directory is not the stack's own)."""
    loaded = load(spec, env)
    if purge_pki:
        from elb_mtls_deploy.pki.purge import check_purge

        check_purge(loaded.spec, loaded.base_dir)
    with connect(loaded, policy) as conn:
        done = _run("destroy", make_plan(loaded, conn, destroy=True), loaded, conn, hooks)
    if not (done.ok and purge_pki):
        return done
    from elb_mtls_deploy.pki.purge import purge

    return replace(done, purged=tuple(purge(loaded.spec, loaded.base_dir)))


def _run(
    command: Command,
    planned: Planned,
    loaded: Loaded,
    conn: Connection,
    hooks: Hooks,
    workers: int = 8,
) -> Deployed:
    plan = planned.plan
    where = conn.embedded_state_dir if command == "apply" else None
    hooks.show(plan)
    if plan.conflicts:
        raise DeployError("the plan has conflicts; nothing was changed", hint="see the plan above")
    unchanged = Deployed(command, plan.stack, "no changes", planned.observed, (), planned.observed)
    if not planned.changes:
        return replace(unchanged, emulator_dir=where)
    if not hooks.approve():
        return replace(unchanged, status="cancelled")
    result = converge(
        planned,
        loaded,
        conn,
        destroy=command == "destroy",
        workers=workers,
        events=hooks.events,
        stop_requested=hooks.stop_requested,
    )
    return Deployed(
        command, plan.stack, result.status, planned.observed, result.reports, result.after,
        result.remaining, emulator_dir=where if result.status == "applied" else None,
    )  # fmt: skip
