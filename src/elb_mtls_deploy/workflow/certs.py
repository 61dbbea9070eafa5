"""The PKI side of the commands: what plan may read, what apply and `deploy certs` write,
and the certificate commands (`validate`, `certs`, `sign`, `revoked`).

Writers take the PKI lock exclusively, readers share it. Certificate errors raise before
any API call; warnings are returned for the CLI to show.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy.errors import DeployError
from elb_mtls_deploy.workflow.session import Loaded, load, now

if TYPE_CHECKING:
    from elb_mtls_deploy.pki import PkiView
    from elb_mtls_deploy.spec.model import Spec


@dataclass(frozen=True)
class Validated:
    spec: Spec
    findings: list[Any]
    not_issued: list[str]  # certificates `deploy certs` has not issued yet

    @property
    def errors(self) -> list[Any]:
        return [f for f in self.findings if f.severity == "error"]


def validate(spec: Path, env: Mapping[str, str]) -> Validated:
    """`deploy validate`: the spec, and the lint of the certificates that exist (no network)."""
    loaded = load(spec, env)
    return Validated(loaded.spec, *lint_existing(loaded))


def issue(spec: Path, env: Mapping[str, str]) -> Any:
    """`deploy certs`: issue what is missing or due, crash-safely (never a new trust anchor)."""
    from elb_mtls_deploy.pki import ensure_certificates

    loaded = load(spec, env)
    with pki_lock(loaded, exclusive=True):
        report = ensure_certificates(loaded.spec, loaded.base_dir, loaded.env, now())
    raise_on_errors(report.findings)
    return report


def generations(spec: Path, env: Mapping[str, str]) -> list[Any]:
    """`deploy certs --history`: every kept generation (writes nothing)."""
    from elb_mtls_deploy.pki import history

    loaded = load(spec, env)
    return history(loaded.spec, loaded.base_dir)


def sign(spec: Path, env: Mapping[str, str], ca: str, csr: Path, out: Path, days: int) -> Any:
    """`deploy sign`: a certificate for a CSR, written 0644 to a new file `out`."""
    from cryptography.hazmat.primitives import serialization

    from elb_mtls_deploy.pki.importing import read_file
    from elb_mtls_deploy.pki.signer import read_request, sign_request

    loaded = load(spec, env)
    request = read_request(read_file(csr, "certificate request"), str(csr))
    if out.exists():
        raise DeployError(f"{out} exists already", hint="choose another --out, or move it away")
    certificate = sign_request(loaded.spec, loaded.base_dir, loaded.env, ca, request, days, now())
    out.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate


def revoked(spec: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """`deploy revoked`: what backends must refuse, as JSON (no key material)."""
    from elb_mtls_deploy.pki.revoke import deny_list

    loaded = load(spec, env)
    with pki_lock(loaded, exclusive=False):
        return deny_list(loaded.spec, loaded.base_dir).to_json()


def pki_view(loaded: Loaded) -> PkiView:
    """The PKI as plan sees it: public certificates only, no key read, no file written."""
    from elb_mtls_deploy.pki import assess

    with pki_lock(loaded, exclusive=False):
        return assess(loaded.spec, loaded.base_dir, loaded.env, now())


@contextmanager
def pki_lock(loaded: Loaded, exclusive: bool) -> Iterator[None]:
    """Serialise PKI writers (two applies of one stack on one machine would otherwise each
    issue a CA and mix the files); readers share the lock, and never create it."""
    from elb_mtls_deploy.pki import locked

    with locked(loaded.spec, loaded.base_dir, exclusive=exclusive):
        yield


def raise_on_errors(findings: Any) -> None:
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise DeployError(
            "the certificates have errors:\n" + "\n".join(f"  {f}" for f in errors),
            hint="fix the findings above; nothing was sent to the cloud",
        )


def lint_public(loaded: Loaded) -> list[Any]:
    """Plan's certificate check, before it connects: the public certificates only (no key,
    no file written); errors raise, warnings are returned for the CLI to show."""
    from elb_mtls_deploy.pki import lint

    view = pki_view(loaded)
    # What apply will issue anew (issuer changed, SAN changed, expiring...) is linted once
    # issued; the certificate it replaces is not what the spec asks for any more.
    current = {name: b for name, b in view.bundles.items() if name not in view.pending}
    findings = lint(current, loaded.spec, now())
    raise_on_errors(findings)
    return [f for f in findings if f.severity != "error"]


def preflight(loaded: Loaded) -> PkiView:
    """Before apply connects: every CA key that must sign is loaded now, so a missing one
    fails with exit 1 before any API call."""
    from elb_mtls_deploy.pki import check_signers

    view = pki_view(loaded)
    raise_on_errors(check_signers(loaded.spec, loaded.base_dir, loaded.env, view))
    return view


def with_revoked(loaded: Loaded, options: Any) -> Any:
    """`deploy verify` also tries each revoked client still in the PKI directory."""
    from elb_mtls_deploy.pki.revoke import revoked_identities
    from elb_mtls_deploy.verify.handshake import ClientIdentity

    identities = [
        ClientIdentity(r.name, r.certificate_pem, r.key_pem)
        for r in revoked_identities(loaded.spec, loaded.base_dir)
    ]
    return replace(options, revoked=tuple(identities))


def lint_existing(loaded: Loaded) -> tuple[list[Any], list[str]]:
    """Lint what exists without writing: (findings, names of certificates not issued yet).

    When everything is issued the full linter runs over all bundles; before the first
    `deploy certs`, imported material is still read and linted so `validate` catches a
    bad PEM or key early.
    """
    from elb_mtls_deploy.pki import lint, load_bundles
    from elb_mtls_deploy.pki.importing import import_bundle
    from elb_mtls_deploy.spec.model import ImportedCA, ImportedServer

    spec = loaded.spec
    view = pki_view(loaded)
    missing = [name for name, pending in view.pending.items() if pending.reason == "new"]
    if not missing:
        bundles = load_bundles(spec, loaded.base_dir, loaded.env)
    else:
        bundles = {
            cert.name: import_bundle(
                cert.name,
                "ca" if role == "ca" else "server",
                cert.import_,
                loaded.base_dir,
                loaded.env,
            )
            for role, cert in spec.all_certificates()
            if isinstance(cert, ImportedCA | ImportedServer)
        }
    return lint(bundles, spec, now()), missing
