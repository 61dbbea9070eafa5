"""`deploy certs`: bring the PKI directory in line with the spec, and read it back.

Owns the decisions: issue, keep, renew or import each certificate; when to re-export a
`.p12`; what counts as a change (subject, SANs, key type, issuer, purpose, expiry). It
never overwrites silently — a replaced certificate and key are kept as `<name>.previous.*`
and the report says so — and refuses to touch a key whose certificate is missing or does
not match. Must not print, and never puts key material or passwords in messages.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki.bundle import Bundle, Role, san_of
from elb_mtls_deploy.pki.importing import import_bundle, load_key_source, read_file
from elb_mtls_deploy.pki.issue import Issued, issue_ca, issue_client, issue_server, subject_name
from elb_mtls_deploy.pki.keys import (
    PrivateKey,
    generate_key,
    key_matches,
    key_to_pem,
    key_type_of,
    load_key,
)
from elb_mtls_deploy.pki.layout import (
    CertFiles,
    ensure_directory,
    move_aside,
    write_atomic,
    write_if_changed,
)
from elb_mtls_deploy.pki.lint import Finding, lint
from elb_mtls_deploy.pki.p12 import export_p12, p12_holds, p12_profile
from elb_mtls_deploy.pki.pem import is_signed_by, parse_certificates
from elb_mtls_deploy.spec.model import (
    GeneratedCA,
    GeneratedClient,
    GeneratedServer,
    ImportedCA,
    ImportedServer,
    Spec,
)

Action = Literal["issued", "renewed", "kept", "imported"]
Generated = GeneratedCA | GeneratedServer | GeneratedClient
_ROLES: dict[str, Role] = {"ca": "ca", "server": "server", "client": "client"}
_RERUN = "run `deploy certs SPEC` to issue or import the certificates first"


@dataclass(frozen=True)
class CertAction:
    """What `ensure_certificates` did for one certificate."""

    name: str
    role: Role
    action: Action
    reason: str
    fingerprint: str
    not_after: datetime
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class CertsReport:
    certificates: tuple[CertAction, ...]
    findings: tuple[Finding, ...]
    bundles: Mapping[str, Bundle] = field(repr=False, default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(c.action in ("issued", "renewed") or c.files for c in self.certificates)


def ensure_certificates(
    spec: Spec, base_dir: Path, env: Mapping[str, str], now: datetime
) -> CertsReport:
    """Issue or load every certificate of the spec into `base_dir / spec.pki_dir`; idempotent."""
    run = _Run(spec, base_dir, env, _utc(now))
    ensure_directory(run.pki)
    for role, cert in spec.all_certificates():
        run.ensure(_ROLES[role], cert)
    findings = lint(run.bundles, spec, run.now)
    return CertsReport(tuple(run.actions), tuple(findings), dict(run.bundles))


def load_bundles(spec: Spec, base_dir: Path, env: Mapping[str, str]) -> dict[str, Bundle]:
    """Every certificate as a Bundle, read-only; a missing file is an error (run `deploy certs`)."""
    run = _Run(spec, base_dir, env, datetime.now(UTC))
    for role, cert in spec.all_certificates():
        run.bundles[cert.name] = run.load(_ROLES[role], cert)
    return dict(run.bundles)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise CertificateError("'now' must be timezone-aware", hint="pass datetime.now(UTC)")
    return now.astimezone(UTC)


class _Signer:
    """A CA's signing identity, with the key loaded only when something must be signed
    (so a CA key kept in a CI variable is needed only when issuing)."""

    def __init__(
        self, name: str, certificate: x509.Certificate, load_key: Callable[[], PrivateKey]
    ):
        self.name = name
        self.certificate = certificate
        self._load_key = load_key
        self._key: PrivateKey | None = None

    def issued(self) -> Issued:
        if self._key is None:
            self._key = self._load_key()  # raises a CertificateError naming the key source
        return Issued(self.certificate, self._key)


@dataclass
class _Existing:
    certificate: x509.Certificate
    key: PrivateKey | None  # None when the key lives outside the PKI dir


class _Run:
    """One pass over the spec; holds what earlier certificates produced for later ones."""

    def __init__(self, spec: Spec, base_dir: Path, env: Mapping[str, str], now: datetime):
        self.spec, self.base_dir, self.env, self.now = spec, base_dir, env, now
        self.pki = base_dir / spec.pki_dir
        self.bundles: dict[str, Bundle] = {}
        self.signers: dict[str, _Signer] = {}
        self.reissued: set[str] = set()
        self.actions: list[CertAction] = []

    # --- ensure ------------------------------------------------------------------------

    def ensure(self, role: Role, cert: object) -> None:
        if isinstance(cert, ImportedCA | ImportedServer):
            bundle = self._import(role, cert)
            reason = f"from {cert.import_.certificate}"
            self._record(bundle, "imported", reason, self._copy_imported(bundle))
        elif isinstance(cert, GeneratedCA | GeneratedServer | GeneratedClient):
            self._ensure_generated(role, cert)

    def _import(self, role: Role, cert: ImportedCA | ImportedServer) -> Bundle:
        bundle = import_bundle(cert.name, role, cert.import_, self.base_dir, self.env)
        bundle = dataclasses.replace(bundle, issuer_name=self._known_issuer(bundle))
        self.bundles[cert.name] = bundle
        if role == "ca":
            self.signers[cert.name] = _Signer(
                cert.name, bundle.certificate, lambda: Issued.from_bundle(bundle).key
            )
        return bundle

    def _copy_imported(self, bundle: Bundle) -> tuple[Path, ...]:
        """Copy the imported leaf and chain (never the key) into the PKI dir, so it shows
        exactly what is uploaded; rewritten only when the source changed."""
        files = CertFiles(self.pki, bundle.name)
        written = []
        for path, text in ((files.crt, bundle.certificate_pem), (files.chain, bundle.chain_pem)):
            if text and write_if_changed(path, text.encode("ascii")):
                written.append(path)
        if not bundle.chain_pem and files.chain.exists():
            files.chain.unlink()  # the chain was dropped from the spec; a stale copy misleads
        return tuple(written)

    def _known_issuer(self, bundle: Bundle) -> str | None:
        last = ([bundle.certificate, *bundle.chain])[-1]
        return next(
            (
                n
                for n, b in self.bundles.items()
                if b.role == "ca" and is_signed_by(last, b.certificate)
            ),
            None,
        )

    def _ensure_generated(self, role: Role, cert: Generated) -> None:
        files = CertFiles(self.pki, cert.name)
        external = isinstance(cert, GeneratedCA) and cert.key is not None
        existing = self._existing(files, key_in_dir=not external)
        change = self._change_reason(cert, existing) if existing is not None else None
        if existing is not None and change is None:
            self._keep(role, cert, files, existing)
            return
        # "renewed" only when expiry drove it; a spec or issuer change is a fresh issue.
        action: Action = "renewed" if change and change.startswith("expire") else "issued"
        reason = f"{change}; previous kept as {files.previous_crt.name}" if change else "new"
        issued = self._issue(cert)
        written = self._write(files, issued, external=external, replacing=existing is not None)
        self.reissued.add(cert.name)
        bundle = self._remember(
            role, cert, issued.certificate, issued.key if not external else None
        )
        written += self._ensure_p12(cert, bundle, files, force=True)
        self._record(bundle, action, reason, written)

    def _keep(self, role: Role, cert: Generated, files: CertFiles, existing: _Existing) -> None:
        bundle = self._remember(role, cert, existing.certificate, existing.key)
        written = self._ensure_p12(cert, bundle, files, force=False)
        reason = "unchanged" + ("; .p12 exported" if written else "")
        self._record(bundle, "kept", reason, written)

    def _remember(
        self, role: Role, cert: Generated, certificate: x509.Certificate, key: PrivateKey | None
    ) -> Bundle:
        issuer = None if isinstance(cert, GeneratedCA) else cert.issuer
        key_pem = key_to_pem(key) if key is not None else self._external_key_pem(cert)
        bundle = Bundle.from_certificates(
            cert.name, role, certificate, key_pem=key_pem, issuer_name=issuer
        )
        self.bundles[cert.name] = bundle
        if isinstance(cert, GeneratedCA):
            self.signers[cert.name] = _Signer(
                cert.name, certificate, self._ca_key_loader(cert, key)
            )
        return bundle

    def _ca_key_loader(self, cert: GeneratedCA, key: PrivateKey | None) -> Callable[[], PrivateKey]:
        def load() -> PrivateKey:
            return key if key is not None else self._external_key(cert)

        return load

    def _record(self, bundle: Bundle, action: Action, reason: str, files: tuple[Path, ...]) -> None:
        self.actions.append(
            CertAction(
                bundle.name,
                bundle.role,
                action,
                reason,
                bundle.fingerprint,
                bundle.not_after,
                files,
            )
        )

    # --- existing files ----------------------------------------------------------------

    def _existing(self, files: CertFiles, *, key_in_dir: bool) -> _Existing | None:
        has_crt, has_key = files.crt.exists(), files.key.exists()
        if key_in_dir and has_key and not has_crt:
            raise CertificateError(
                f"{files.key} exists but its certificate {files.crt.name} does not",
                hint=f"restore {files.crt}, or move {files.key} away if that key is no longer "
                "needed (deploy certs never overwrites a private key)",
            )
        if not has_crt:
            return None
        certificate = parse_certificates(read_file(files.crt, "certificate file"), str(files.crt))[
            0
        ]
        if not key_in_dir:
            return _Existing(certificate, None)
        if not has_key:
            raise CertificateError(
                f"{files.crt} exists but its private key {files.key.name} does not",
                hint=f"restore {files.key}, or move {files.crt} away to issue a new certificate "
                "and key",
            )
        return _Existing(certificate, self._matching_key(files, certificate))

    def _matching_key(self, files: CertFiles, certificate: x509.Certificate) -> PrivateKey:
        key = load_key(
            read_file(files.key, "private key file"),
            where=str(files.key),
            password=None,
            password_env=None,
        )
        if not key_matches(key, certificate):
            raise CertificateError(
                f"the private key {files.key} does not match the certificate {files.crt}",
                hint=f"restore the key issued with {files.crt.name}, or move both files away "
                "to issue a new pair (nothing was overwritten)",
            )
        return key

    # --- change detection ----------------------------------------------------------------

    def _change_reason(self, cert: Generated, existing: _Existing) -> str | None:
        reasons = [
            self._subject_reason(cert, existing.certificate),
            self._key_reason(cert, existing),
            self._issuer_reason(cert, existing.certificate),
            _san_reason(cert, existing.certificate),
            _purpose_reason(cert, existing.certificate),
            _expiry_reason(existing.certificate, cert.renew_before_days, self.now),
        ]
        found = [r for r in reasons if r]
        return "; ".join(found) if found else None

    def _subject_reason(self, cert: Generated, certificate: x509.Certificate) -> str | None:
        if certificate.subject != subject_name(cert.subject):
            return f"subject changed (was {certificate.subject.rfc4514_string()})"
        return None

    def _key_reason(self, cert: Generated, existing: _Existing) -> str | None:
        if isinstance(cert, GeneratedCA) and cert.key is not None:
            return self._external_key_reason(cert, existing.certificate)
        actual = key_type_of(existing.certificate.public_key())
        return None if actual == cert.key_type else f"key type changed (was {actual or 'other'})"

    def _external_key_reason(self, cert: GeneratedCA, certificate: x509.Certificate) -> str | None:
        # The external key defines the key type; check it matches when it is available at all.
        key = self._try_external_key(cert)
        if key is not None and not key_matches(key, certificate):
            raise CertificateError(
                f"the CA key from {_key_label(cert)} does not match "
                f"{CertFiles(self.pki, cert.name).crt}",
                hint="restore the CA's key in that source, or move the .crt away to issue a new CA "
                "with this key (every leaf will be re-issued)",
            )
        return None

    def _issuer_reason(self, cert: Generated, certificate: x509.Certificate) -> str | None:
        if isinstance(cert, GeneratedCA):
            return None
        if cert.issuer in self.reissued:
            return f"issuer {cert.issuer!r} was re-issued"
        if not is_signed_by(certificate, self._signer(cert.issuer).certificate):
            return f"issuer changed (not signed by CA {cert.issuer!r})"
        return None

    # --- issuing and writing -------------------------------------------------------------

    def _issue(self, cert: Generated) -> Issued:
        if isinstance(cert, GeneratedCA):
            key = self._external_key(cert) if cert.key is not None else generate_key(cert.key_type)
            return issue_ca(cert.subject, cert.key_type, cert.validity_days, self.now, key=key)
        signer = self._signer(cert.issuer).issued()
        if isinstance(cert, GeneratedServer):
            return issue_server(
                signer, cert.subject, cert.key_type, cert.validity_days, self.now,
                dns_names=cert.dns_names, ip_addresses=cert.ip_addresses,
            )  # fmt: skip
        return issue_client(signer, cert.subject, cert.key_type, cert.validity_days, self.now)

    def _write(
        self, files: CertFiles, issued: Issued, *, external: bool, replacing: bool
    ) -> tuple[Path, ...]:
        written: list[Path] = []
        if replacing:
            if not external and move_aside(files.key, files.previous_key):
                written.append(files.previous_key)
            if move_aside(files.crt, files.previous_crt):
                written.append(files.previous_crt)
        if not external:
            write_atomic(files.key, issued.key_pem.encode("ascii"), secret=True)
            written.append(files.key)
        write_atomic(files.crt, issued.certificate_pem.encode("ascii"), secret=False)
        written.append(files.crt)
        return tuple(written)

    def _signer(self, name: str) -> _Signer:
        if name not in self.signers:
            raise CertificateError(
                f"CA {name!r} is not available",
                hint="list the CA under 'certificates.cas' before its leaves",
            )
        return self.signers[name]

    # --- external CA keys ----------------------------------------------------------------

    def _external_key(self, cert: GeneratedCA) -> PrivateKey:
        assert cert.key is not None
        try:
            return load_key_source(cert.key, self.base_dir, self.env)
        except CertificateError as exc:
            raise CertificateError(
                f"CA {cert.name!r} must sign but its key is unavailable: {exc.message}",
                hint=exc.hint,
            ) from None

    def _try_external_key(self, cert: GeneratedCA) -> PrivateKey | None:
        try:
            return self._external_key(cert)
        except CertificateError:
            return None

    def _external_key_pem(self, cert: Generated) -> str | None:
        if not isinstance(cert, GeneratedCA) or cert.key is None:
            return None
        key = self._try_external_key(cert)
        return key_to_pem(key) if key is not None else None

    # --- .p12 ----------------------------------------------------------------------------

    def _ensure_p12(
        self, cert: Generated, bundle: Bundle, files: CertFiles, *, force: bool
    ) -> tuple[Path, ...]:
        if not isinstance(cert, GeneratedClient) or cert.p12 is None:
            return ()
        password, written = self._p12_password(cert, files)
        if not force and files.p12.exists():
            data = files.p12.read_bytes()
            if p12_profile(data) == cert.p12.profile and p12_holds(data, password, bundle):
                return written
        ca = self.bundles.get(cert.issuer)
        write_atomic(files.p12, export_p12(bundle, ca, password, cert.p12.profile), secret=True)
        return (*written, files.p12)

    def _p12_password(
        self, cert: GeneratedClient, files: CertFiles
    ) -> tuple[bytes, tuple[Path, ...]]:
        assert cert.p12 is not None
        variable = cert.p12.password_env
        if variable is not None:
            value = self.env.get(variable, "")
            if not value:
                state = "is not set" if variable not in self.env else "is empty"
                raise CertificateError(
                    f"environment variable {variable} {state}; it holds the .p12 password "
                    f"for {cert.name!r}",
                    hint=f"set {variable}, or drop 'password_env' to have a password generated",
                )
            return value.encode("utf-8"), ()
        if files.p12_password.exists():
            stored = files.p12_password.read_text(encoding="utf-8").strip()
            if stored:
                return stored.encode("utf-8"), ()
        password = secrets.token_urlsafe(24)
        write_atomic(files.p12_password, (password + "\n").encode("ascii"), secret=True)
        return password.encode("ascii"), (files.p12_password,)

    # --- read-only loading -----------------------------------------------------------------

    def load(self, role: Role, cert: object) -> Bundle:
        if isinstance(cert, ImportedCA | ImportedServer):
            return self._import(role, cert)
        assert isinstance(cert, GeneratedCA | GeneratedServer | GeneratedClient)
        files = CertFiles(self.pki, cert.name)
        external = isinstance(cert, GeneratedCA) and cert.key is not None
        if not files.crt.exists() or (not external and not files.key.exists()):
            missing = files.crt if not files.crt.exists() else files.key
            raise CertificateError(f"{missing} does not exist", hint=_RERUN)
        existing = self._existing(files, key_in_dir=not external)
        assert existing is not None
        return self._remember(role, cert, existing.certificate, existing.key)


def _san_reason(cert: Generated, certificate: x509.Certificate) -> str | None:
    if not isinstance(cert, GeneratedServer):
        return None
    dns, ips = san_of(certificate)
    if set(dns) != set(cert.dns_names) or set(ips) != set(cert.ip_addresses):
        return "subjectAltName changed"
    return None


def _purpose_reason(cert: Generated, certificate: x509.Certificate) -> str | None:
    wanted = {
        GeneratedServer: ExtendedKeyUsageOID.SERVER_AUTH,
        GeneratedClient: ExtendedKeyUsageOID.CLIENT_AUTH,
    }.get(type(cert))
    if wanted is None:
        return None
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "extendedKeyUsage missing"
    return None if wanted in eku else "extendedKeyUsage changed"


def _expiry_reason(
    certificate: x509.Certificate, renew_before_days: int, now: datetime
) -> str | None:
    end = certificate.not_valid_after_utc
    if now >= end:
        return f"expired on {end:%Y-%m-%d}"
    if end - now <= timedelta(days=renew_before_days):
        return f"expires on {end:%Y-%m-%d}, within renew_before_days={renew_before_days}"
    return None


def _key_label(cert: GeneratedCA) -> str:
    assert cert.key is not None
    return f"environment variable {cert.key.env}" if cert.key.env else f"file {cert.key.file}"
