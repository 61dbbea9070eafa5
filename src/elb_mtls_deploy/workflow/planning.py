"""Plan: the desired state from the spec and the PKI, the cloud as observed, their diff with
its notes and conflicts; and, after approval, the same plan with what apply issued.

Read-only until `issue_planned`, which writes the PKI (under its lock) and refuses when
the plan it produces is not the approved one with each "(known after apply)" filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy.adopt import adopted_ids, adoption, adoption_conflicts, mark_adopted
from elb_mtls_deploy.cloud import snapshot
from elb_mtls_deploy.desired import UploadCert, build_desired, is_known_after_apply
from elb_mtls_deploy.diff import diff
from elb_mtls_deploy.errors import PlanError
from elb_mtls_deploy.observe import digest_source, to_state
from elb_mtls_deploy.plan import Plan, digest
from elb_mtls_deploy.spec.model import EmbeddedTarget
from elb_mtls_deploy.state import Ref, State, normal
from elb_mtls_deploy.workflow.anchors import trust_anchor_guard
from elb_mtls_deploy.workflow.certs import pki_lock, pki_view, raise_on_errors
from elb_mtls_deploy.workflow.notes import (
    feature_notes,
    issuance_notes,
    probe_refusals,
    revocation_notes,
    rollover_warnings,
)
from elb_mtls_deploy.workflow.session import Connection, Loaded, now

if TYPE_CHECKING:
    from elb_mtls_deploy.pki import Bundle, PkiView


def uploads(
    loaded: Loaded, view: PkiView, bundles: Mapping[str, Bundle] | None = None
) -> dict[str, UploadCert]:
    """What each certificate uploads: from `bundles` (with keys, after issuing) or, in a
    plan, from the read-only view, where what apply must issue is pending."""
    source = bundles if bundles is not None else view.bundles
    result: dict[str, UploadCert] = {}
    for _, cert in loaded.spec.all_certificates():
        pending = None if bundles is not None else view.pending.get(cert.name)
        bundle = source.get(cert.name)
        role = bundle.role if bundle is not None else (pending.role if pending else "client")
        if role == "client":
            continue
        # A CA bound for mutual TLS is the API's type "client" (docs/api-notes.md §2.3).
        api_role = "server" if role == "server" else "client"
        if pending is not None:
            result[cert.name] = UploadCert(
                api_role, None, pending=pending.reason,
                public_key_fingerprint=pending.public_key_fingerprint,
            )  # fmt: skip
        elif bundle is not None and role == "server":
            result[cert.name] = UploadCert("server", bundle.upload_pem, bundle.key_pem)
        elif bundle is not None:
            result[cert.name] = UploadCert("client", bundle.certificate_pem)
    return result


@dataclass(frozen=True)
class Planned:
    plan: Plan
    desired: State
    observed: State
    pki: PkiView | None = None  # what the plan saw of the PKI (None for destroy)
    issued: frozenset[str] = frozenset()  # issued earlier in this apply: not issued again

    @property
    def changes(self) -> bool:
        """Cloud changes, or certificates apply will issue (pending even with no cloud change)."""
        return not self.plan.empty or bool(self.pki is not None and self.pki.pending)

    @property
    def placement(self) -> dict[Ref, str]:
        """Record ref -> the load balancer whose changes it occupies (for `apply.Engine`)."""
        return placement(self.desired, self.observed)


def placement(*states: State) -> dict[Ref, str]:
    """Listeners and pools name their load balancer; monitors and members are on their
    pool's. Certificates belong to no load balancer."""
    where: dict[Ref, str] = {}
    records = [r for s in states for r in (*s.records.values(), *s.duplicates)]
    for kind in ("listener", "pool", "healthmonitor", "member"):
        for record in records:
            if record.kind != kind or record.key in where:
                continue
            lb = record.fields.get("loadbalancer_id")
            parent = record.fields.get("listener" if kind == "pool" else "pool")
            lb = lb or (where.get(parent) if isinstance(parent, Ref) else None)
            if isinstance(lb, str) and lb:
                where[record.key] = lb
    return where


def make_plan(
    loaded: Loaded, conn: Connection, *, destroy: bool = False, issued: frozenset[str] = frozenset()
) -> Planned:
    """Read-only: what apply would do, with what must be issued "(known after apply)".
    `issued` (the re-plan after an apply pass) are taken as they are now."""
    if destroy:
        return _plan(loaded, conn, State(), None)
    view = _without(pki_view(loaded), issued)
    planned = _plan(loaded, conn, _desired(loaded, conn, uploads(loaded, view)), view)
    return replace(planned, issued=issued)


def _without(view: PkiView, issued: frozenset[str]) -> PkiView:
    return replace(view, pending={n: p for n, p in view.pending.items() if n not in issued})


def _desired(loaded: Loaded, conn: Connection, certs: Mapping[str, UploadCert]) -> State:
    desired = build_desired(loaded.spec, certs, conn.flavour, conn.loadbalancers)
    return mark_adopted(desired, loaded.spec)


def _plan(loaded: Loaded, conn: Connection, desired: State, view: PkiView | None) -> Planned:
    spec = loaded.spec
    observed = observe_state(loaded, conn, desired)
    conflicts: list[str] = []
    if view is not None:
        desired, conflicts = trust_anchor_guard(spec, view, desired, observed)
        conflicts += adoption_conflicts(spec, desired, observed)
    plan = diff(desired, observed, spec.stack, conn.flavour, digest(digest_source(observed)))
    notes = (*issuance_notes(spec, view), *rollover_warnings(desired, observed))
    if view is not None:
        notes = (*notes, *revocation_notes(spec, loaded.base_dir))
    if view is not None and not isinstance(spec.target, EmbeddedTarget):
        notes = (*notes, *feature_notes(spec))
    if view is not None and spec.target.probe_file is not None:
        refused, probe_notes = probe_refusals(loaded, conn, desired, observed)
        conflicts, notes = [*conflicts, *refused], (*notes, *probe_notes)
    plan = replace(plan, conflicts=(*plan.conflicts, *conflicts), notes=(*plan.notes, *notes))
    return Planned(plan, desired, observed, view)


def observe_state(loaded: Loaded, conn: Connection, desired: State | None = None) -> State:
    lb_ids = sorted({lb.id for lb in conn.loadbalancers.values()})
    spec = loaded.spec
    taken = snapshot.take(conn.cloud, spec.stack, lb_ids, adopted_ids(spec))
    return to_state(taken, spec.stack, desired, adoption(spec))


def issue_planned(loaded: Loaded, conn: Connection, planned: Planned) -> tuple[Planned, Any]:
    """Apply, after approval: issue exactly what the plan said, then the same plan with the
    markers resolved (and the keys in the payloads). Refuses if the PKI changed since."""
    from elb_mtls_deploy.pki import assess, ensure_certificates

    if planned.pki is None:
        return planned, None
    with pki_lock(loaded, exclusive=True):
        seen = _without(assess(loaded.spec, loaded.base_dir, loaded.env, now()), planned.issued)
        if _pending(seen) != _pending(planned.pki):
            raise PlanError(
                "the PKI directory changed since this plan was made "
                f"(plan: {_pending(planned.pki) or 'nothing to issue'}; now: "
                f"{_pending(seen) or 'nothing to issue'}); nothing was changed",
                hint="run `deploy plan` again, review, and apply the new plan",
            )
        report = ensure_certificates(
            loaded.spec, loaded.base_dir, loaded.env, now(), only=set(planned.pki.pending)
        )
    raise_on_errors(report.findings)
    issued_now = planned.issued | set(planned.pki.pending)
    view = _without(pki_view(loaded), issued_now)
    issued = _plan(
        loaded, conn, _desired(loaded, conn, uploads(loaded, view, report.bundles)), view
    )
    if not resolves(planned.plan, issued.plan):
        raise PlanError(
            "after issuing, the plan differs from the one approved; nothing was sent to the cloud",
            hint="run `deploy plan` again and review it (the issued certificates are kept)",
        )
    return replace(issued, issued=issued_now), report


def _pending(view: PkiView) -> dict[str, str]:
    return {name: p.reason for name, p in view.pending.items()}


def resolves(approved: Plan, issued: Plan) -> bool:
    """The issued plan is the approved one with each "(known after apply)" filled in."""
    if len(approved.actions) != len(issued.actions) or approved.conflicts != issued.conflicts:
        return False
    for old, new in zip(approved.actions, issued.actions, strict=True):
        if (old.op, old.key, old.id, old.replacement) != (new.op, new.key, new.id, new.replacement):
            return False
        for name, value in old.fields.items():
            if not _known_later(value) and normal(new.fields.get(name)) != normal(value):
                return False
    return True


def _known_later(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(_known_later(v) for v in value)
    return is_known_after_apply(value)
