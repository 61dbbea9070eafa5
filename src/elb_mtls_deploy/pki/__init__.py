"""The PKI layer: issue, import, store, export (.p12) and lint the certificates of a spec.

Public surface (everything else is private to the subpackage):

    assess(spec, base_dir, env, now) -> PkiView                   read-only, no key: plan
    ensure_certificates(spec, base_dir, env, now) -> CertsReport   issue crash-safely: apply, certs
    load_bundles(spec, base_dir, env) -> dict[str, Bundle]         read-only, with keys: verify
    history(spec, base_dir) -> list[HistoryRow]                    every generation kept
    lint(bundles, spec, now) / lint_pem(...) -> list[Finding]      the certificate linter
    issue_ca / issue_server / issue_client -> Issued               pure issuance (tests, verify)
    export_p12(bundle, ca_bundle, password, profile) -> bytes      client identities

Must not print, talk to the network or read `os.environ` (callers pass `env`).
"""

from __future__ import annotations

from elb_mtls_deploy.pki.bundle import Bundle, Role
from elb_mtls_deploy.pki.issue import Issued, issue_ca, issue_client, issue_server
from elb_mtls_deploy.pki.lint import Finding, lint, lint_bundle, lint_pem
from elb_mtls_deploy.pki.p12 import export_p12
from elb_mtls_deploy.pki.store import (
    CertAction,
    CertsReport,
    HistoryRow,
    Pending,
    PkiView,
    assess,
    check_signers,
    ensure_certificates,
    history,
    load_bundles,
    locked,
    stack_dir,
)

__all__ = [
    "Bundle",
    "CertAction",
    "CertsReport",
    "Finding",
    "HistoryRow",
    "Issued",
    "Pending",
    "PkiView",
    "Role",
    "assess",
    "check_signers",
    "ensure_certificates",
    "export_p12",
    "history",
    "issue_ca",
    "issue_client",
    "issue_server",
    "lint",
    "lint_bundle",
    "lint_pem",
    "load_bundles",
    "locked",
    "stack_dir",
]
