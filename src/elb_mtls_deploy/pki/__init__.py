"""The PKI layer: issue, import, store, export (.p12) and lint the certificates of a spec.

Public surface (everything else is private to the subpackage):

    ensure_certificates(spec, base_dir, env, now) -> CertsReport   the `deploy certs` stage
    load_bundles(spec, base_dir, env) -> dict[str, Bundle]         read-only, for plan/apply
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
from elb_mtls_deploy.pki.store import CertAction, CertsReport, ensure_certificates, load_bundles

__all__ = [
    "Bundle",
    "CertAction",
    "CertsReport",
    "Finding",
    "Issued",
    "Role",
    "ensure_certificates",
    "export_p12",
    "issue_ca",
    "issue_client",
    "issue_server",
    "lint",
    "lint_bundle",
    "lint_pem",
    "load_bundles",
]
