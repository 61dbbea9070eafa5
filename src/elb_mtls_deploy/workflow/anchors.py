"""The trust-anchor guard: plan never replaces a CA the cloud trusts behind the user's back.

Pure: compares the PKI view with the desired and observed states. What it refuses is a
plan conflict (apply refuses the plan); the record keeps the cloud's value so the plan
shows no change to it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy.desired import is_known_after_apply
from elb_mtls_deploy.spec.model import Spec
from elb_mtls_deploy.state import Record, Ref, State

if TYPE_CHECKING:
    from elb_mtls_deploy.pki import PkiView


def trust_anchor_guard(
    spec: Spec, view: PkiView, desired: State, observed: State
) -> tuple[State, list[str]]:
    """Never replace a trust anchor implicitly: a CA the cloud holds (alone or in a rollover
    bundle) whose key is gone from the PKI, or a different CA than the cloud's, is a
    conflict (apply refuses), and the record keeps the cloud's value so the plan shows no
    change to it. A server CA whose server certificate is in the cloud counts too."""
    records = dict(desired.records)
    conflicts: list[str] = []
    reported: set[str] = set()
    for want in desired.by_kind("certificate"):
        have = observed.records.get(want.key)
        if have is None or want.fields.get("type") != "client":
            continue
        local = want.key.name
        lost = [p for p in want.key.bundle() if _is_new(view, p)]
        where = f" (in the bundle {local})" if len(want.key.bundle()) > 1 else ""
        problem: str | None
        if lost:
            evidence = f"its certificate (id {have.id}){where} is in the cloud"
            problem = _lost_ca(lost[0], view, evidence)
            reported.update(lost)
        else:
            problem = _replaced_anchor(local, want, have, view)
        if problem:
            conflicts.append(problem)
            records[want.key] = replace(want, fields={**want.fields, **_same(want, have)})
    for ca in spec.certificates.cas:
        signed = _deployed_leaves(spec, ca.name, observed)
        if ca.name not in reported and _is_new(view, ca.name) and signed:
            evidence = f"the certificates it signed ({', '.join(signed)}) are in the cloud"
            conflicts.append(_lost_ca(ca.name, view, evidence))
    return State(records, observed.foreign_listeners, observed.duplicates), conflicts


def _is_new(view: PkiView, name: str) -> bool:
    pending = view.pending.get(name)
    return pending is not None and pending.reason == "new"


def _replaced_anchor(name: str, want: Record, have: Record, view: PkiView) -> str | None:
    wanted = want.fields.get("public_key_fingerprint")
    held = have.fields.get("public_key_fingerprint")
    if is_known_after_apply(wanted) or wanted == held:
        return None
    return (
        f"CA {name}: the PKI directory holds a different CA "
        f"(public key sha256:{str(wanted)[:16]}…) "
        f"than the cloud (sha256:{str(held)[:16]}…); uploading it would replace the listener's "
        "trust anchor and all client certificates issued by the old CA stop working. Restore the "
        f"CA that is in the cloud into {view.directory}/ from a backup, or roll over to a new CA "
        "under a new name (docs/rotation.md)"
    )


def _lost_ca(name: str, view: PkiView, evidence: str) -> str:
    return (
        f"CA {name}: {evidence}, but its key is not in the PKI directory {view.directory}/; "
        "a new CA would lock out every certificate the old one issued, so deploy never issues "
        f"one. Restore {view.directory}/ (manifest.json and {name}/) from a backup (the CI "
        "cache, another runner); earlier generations are listed by `deploy certs SPEC --history`"
    )


def _same(want: Record, have: Record) -> dict[str, Any]:
    return {f: have.fields.get(f) for f in ("fingerprint", "public_key_fingerprint", "chain")}


def _deployed_leaves(spec: Spec, ca: str, observed: State) -> list[str]:
    return [
        cert.name
        for role, cert in spec.all_certificates()
        if role == "server"
        and getattr(cert, "issuer", None) == ca
        and Ref("certificate", cert.name) in observed.records
    ]
