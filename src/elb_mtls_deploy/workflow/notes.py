"""The notes a plan carries beside its actions: what apply will issue, trust that a
listener loses, revoked clients, account features, what `deploy probe` found, and (when
asked) certificates about to expire.

Each note is a plain line; a few prefixes are read back (`ISSUE_NOTE` by the saved-plan
check, `EXPIRING:` by the exit code).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy.errors import SpecError
from elb_mtls_deploy.spec.model import Spec
from elb_mtls_deploy.state import Ref, State

if TYPE_CHECKING:
    from elb_mtls_deploy.pki import PkiView
    from elb_mtls_deploy.workflow.session import Connection, Loaded

ISSUE_NOTE = "ISSUE at apply:"
EXPIRING_NOTE = "EXPIRING:"


def probe_refusals(
    loaded: Loaded, conn: Connection, desired: State, observed: State
) -> tuple[list[str], list[str]]:
    """`target.probe_file`: what `deploy probe` found on this account (docs/probe.md)."""
    import json

    from elb_mtls_deploy import probed

    name = loaded.spec.target.probe_file
    assert name is not None
    path = name if name.is_absolute() else loaded.base_dir / name
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SpecError(
            f"{loaded.path}: target.probe_file {path} cannot be read: {exc}",
            hint="write it with `deploy probe --out FILE`, or remove target.probe_file",
        ) from None
    problem = probed.format_problem(document)
    if problem:
        raise SpecError(
            f"{loaded.path}: target.probe_file {path}: {problem}",
            hint="write it with `deploy probe --out FILE`, or remove target.probe_file",
        )
    lb_ids = sorted({lb.id for lb in conn.loadbalancers.values()})
    return probed.refusals(document, desired, observed, conn.flavour, lb_ids)


def feature_notes(spec: Spec) -> list[str]:
    """The client-certificate headers are enabled per account in some regions: say so
    before an apply stops at the listener (docs/api-notes.md §10.3)."""
    return [
        f"listener {listener.name}: the X-Forwarded-Clientcert-* headers need the feature "
        "enabled for your account in some regions (a Huawei service ticket); if the API "
        "refuses the listener, switch them off in the spec or ask Huawei to enable them"
        for listener in spec.listeners
        if any(
            on
            for name, on in listener.insert_headers.model_dump().items()
            if name.startswith("client_cert_")
        )
    ]


def issuance_notes(spec: Spec, view: PkiView | None) -> list[str]:
    """One note per certificate apply will issue (compared when a saved plan is applied)."""
    if view is None:
        return []
    notes = [
        f"{ISSUE_NOTE} {p.role} {name} ({p.reason})"
        for _, cert in spec.all_certificates()
        if (name := cert.name) in view.pending and (p := view.pending[name])
    ]
    notes += [f"apply signs with CA {ca}'s key from {label}" for ca, label in view.signers.items()]
    return notes


def rollover_warnings(desired: State, observed: State) -> list[str]:
    """A listener that stops trusting a CA it trusts now: every client of it is locked out."""
    warnings = []
    for record in desired.by_kind("listener"):
        have = observed.records.get(record.key)
        if have is None:
            continue
        before = _cas(have.fields.get("client_ca_tls_container_ref"))
        after = _cas(record.fields.get("client_ca_tls_container_ref"))
        for ca in sorted(before - after):
            warnings.append(
                f"WARNING: listener {record.key.name} stops trusting CA {ca}: all "
                "client certificates issued by the old CA stop working"
            )
    return warnings


def _cas(ref: Any) -> set[str]:
    if not isinstance(ref, Ref) or ref.kind != "certificate":
        return set()
    return set(ref.bundle())


def revocation_notes(spec: Spec, base_dir: Path) -> list[str]:
    """The plan shows every revoked certificate, and warns when no listener inserts the
    header a backend needs to refuse it."""
    from elb_mtls_deploy.pki.revoke import deny_list as build

    if not spec.certificates.revoked:
        return []
    entries = build(spec, base_dir).entries
    notes = []
    for revoked in spec.certificates.revoked:
        mine = [e for e in entries if e.client == revoked.client and e.client is not None]
        serials = [e.serial for e in mine] if revoked.client else [revoked.serial or ""]
        who = f"client {revoked.client}" if revoked.client else f"serial {revoked.serial}"
        notes.append(
            f"REVOKED: {who} ({revoked.reason}; serial {', '.join(serials)}): ELB has no CRL "
            "and still completes its TLS handshake, so backends must refuse it (deny-list: "
            "`deploy revoked SPEC`)"
        )
    headers = [
        listener.name
        for listener in spec.listeners
        if listener.client_ca is not None
        and (
            listener.insert_headers.client_cert_serial
            or listener.insert_headers.client_cert_fingerprint
        )
    ]
    if not headers:
        notes.append(
            "WARNING: no listener inserts X-Forwarded-Clientcert-serialnumber or -fingerprint, "
            "so no backend can tell a revoked client: set insert_headers.client_cert_serial"
        )
    return notes


def expiry_notes(loaded: Loaded, observed: State, days: int | None) -> list[str]:
    """`plan --fail-on-expiry DAYS`: one EXPIRING note per certificate, in the PKI (public
    certificates only: no key read) or in the cloud, that ends within DAYS."""
    if days is None:
        return []
    from elb_mtls_deploy.expiry import expiry_notes as notes
    from elb_mtls_deploy.workflow.certs import pki_view
    from elb_mtls_deploy.workflow.session import now

    return notes(pki_view(loaded).bundles.values(), observed, now(), days)


def served_expiry(bundles: Iterable[Any], days: int | None) -> list[str]:
    """`verify --fail-on-expiry DAYS`: the served certificates are the PKI's (verify checks
    the fingerprint), so the PKI's dates are the ones that will run out."""
    if days is None:
        return []
    from elb_mtls_deploy.expiry import expiry_notes as notes
    from elb_mtls_deploy.workflow.session import now

    return notes(bundles, State(), now(), days)


def expiring(notes: Iterable[str]) -> bool:
    return any(n.startswith(EXPIRING_NOTE) for n in notes)
