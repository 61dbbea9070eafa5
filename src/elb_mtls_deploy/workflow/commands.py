"""`deploy plan`, `verify`, `output` and `probe`, each one call that returns what it found.

Decides what the exit code depends on (conflicts, expiring certificates, pending changes,
failed checks) and never prints: the CLI renders the returned values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy.retry import RetryPolicy
from elb_mtls_deploy.saved_plan import certificate_fingerprints, to_json
from elb_mtls_deploy.workflow.certs import lint_public, with_revoked
from elb_mtls_deploy.workflow.notes import expiring, expiry_notes, served_expiry
from elb_mtls_deploy.workflow.planning import make_plan, observe_state
from elb_mtls_deploy.workflow.session import Loaded, connect, load, now, state_dir

if TYPE_CHECKING:
    from elb_mtls_deploy.cloud.base import LoadBalancerInfo
    from elb_mtls_deploy.plan import Plan
    from elb_mtls_deploy.probe import Options as ProbeOptions
    from elb_mtls_deploy.probe.report import Report as ProbeReport
    from elb_mtls_deploy.spec.model import LoadBalancerRef, Spec
    from elb_mtls_deploy.state import State
    from elb_mtls_deploy.verify import Options as VerifyOptions
    from elb_mtls_deploy.verify import Result, Where


@dataclass(frozen=True)
class PlanReport:
    plan: Plan  # with the EXPIRING notes asked for
    document: dict[str, Any]  # the saved-plan JSON (`plan --out`)
    changes: bool  # cloud changes, or certificates apply will issue

    @property
    def refused(self) -> bool:
        """Conflicts, or a certificate expiring within `--fail-on-expiry`: exit 1."""
        return bool(self.plan.conflicts) or expiring(self.plan.notes)


def plan(
    spec: Path,
    env: Mapping[str, str],
    *,
    policy: RetryPolicy | None = None,
    fail_on_expiry: int | None = None,
    warnings: Callable[[list[Any]], None] = lambda _: None,
) -> PlanReport:
    """What apply would change; writes nothing. Certificate errors raise before any API
    call; the warnings go to `warnings` then, before the plan is made."""
    from dataclasses import replace

    loaded = load(spec, env)
    warnings(lint_public(loaded))
    with connect(loaded, policy, read_only=True) as conn:
        planned = make_plan(loaded, conn)
    notes = expiry_notes(loaded, planned.observed, fail_on_expiry)
    shown = replace(planned.plan, notes=(*planned.plan.notes, *notes))
    certificates = certificate_fingerprints(planned.desired)
    document = to_json(shown, str(spec), loaded.digest, certificates)
    return PlanReport(shown, document, planned.changes)


@dataclass(frozen=True)
class Verified:
    report: list[tuple[Where, list[Result]]]
    expiring: list[str]  # EXPIRING notes (with `--fail-on-expiry`)

    @property
    def results(self) -> list[Result]:
        return [r for _, rows in self.report for r in rows]

    @property
    def failed(self) -> list[Result]:
        from elb_mtls_deploy.verify import failed

        return failed(self.results)


def verify(
    spec: Path,
    env: Mapping[str, str],
    options: VerifyOptions,
    *,
    policy: RetryPolicy | None = None,
    fail_on_expiry: int | None = None,
) -> Verified:
    """Real handshakes against each listener; revoked clients still in the PKI must be
    refused too. An in-process emulator serves its data plane for the duration."""
    from elb_mtls_deploy.pki import load_bundles
    from elb_mtls_deploy.verify import verify_listeners

    loaded = load(spec, env)
    bundles = load_bundles(loaded.spec, loaded.base_dir, loaded.env)
    options = with_revoked(loaded, options)
    with connect(loaded, policy, serve_traffic=True) as conn:
        embedded = conn.endpoint if conn.embedded_state_dir is not None else None
        report = verify_listeners(
            loaded.spec, bundles, conn.loadbalancers, embedded, options, now()
        )
    return Verified(list(report), served_expiry(bundles.values(), fail_on_expiry))


@dataclass(frozen=True)
class Outputs:
    spec: Spec
    loadbalancers: dict[LoadBalancerRef, LoadBalancerInfo]
    observed: State
    dataplane: list[dict[str, Any]] | None  # the emulator's data plane, when it is serving
    note: str | None  # why there is no data plane to show


def outputs(spec: Path, env: Mapping[str, str], *, policy: RetryPolicy | None = None) -> Outputs:
    """`deploy output`: the stack as the cloud has it, and where the emulator serves it."""
    loaded = load(spec, env)
    served, note = _served_dataplane(loaded)
    with connect(loaded, policy) as conn:
        observed = observe_state(loaded, conn)
    return Outputs(loaded.spec, conn.loadbalancers, observed, served, note)


def _served_dataplane(loaded: Loaded) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The emulator's data plane when `deploy emulator serve` runs over the spec's state."""
    directory = state_dir(loaded)
    if directory is None:
        return None, None
    from elb_mtls_deploy.emulator import discover_server
    from elb_mtls_deploy.verify.target import dataplane

    endpoint = discover_server(directory)
    if endpoint is None:
        return None, (
            "no data-plane endpoints: the emulator is not running; start `deploy emulator "
            f"serve --state-dir {directory}` and run `deploy output` again"
        )
    return dataplane(endpoint), None


def probe(
    options: ProbeOptions,
    env: Mapping[str, str],
    confirm: Callable[[Sequence[str]], bool],
    progress: Callable[[str], None],
) -> ProbeReport | None:
    """`deploy probe`: describe the throwaway stack, create and probe it once `confirm`
    (shown the description) agrees; None when it does not (nothing was created)."""
    from elb_mtls_deploy.probe import open_session

    with open_session(options, env) as session:
        if not confirm(session.describe()):
            return None
        return session.run(now(), progress)
