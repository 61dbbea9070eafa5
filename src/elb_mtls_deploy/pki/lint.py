"""The certificate linter: what ELB or modern TLS clients will refuse, and how to fix it.

Owns every rule and its severity (`error`: ELB or clients will reject it; `warning`: it works
today but is risky or against current practice). Pure: takes bundles (or PEM text) and `now`,
returns `Finding`s. Must not raise for a bad certificate — that is a finding — and never
quotes key material.

Huawei limits (docs/api-notes.md §2.3/§8): a certificate field of at most 65536 characters per
the web docs, but the v3 SDK docstrings say 20000 — so > 65536 is an error and > 20000 a warning; at
most 11 certificates (leaf + chain); private key at most 8192 characters.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki.bundle import Bundle, Role
from elb_mtls_deploy.pki.keys import PrivateKey, key_matches, load_key
from elb_mtls_deploy.pki.pem import is_signed_by, parse_certificates
from elb_mtls_deploy.spec.model import Spec

MAX_CHAIN_LEVELS = 11
MAX_CERTIFICATE_CHARS = 65536
SDK_CERTIFICATE_CHARS = 20000
MAX_KEY_CHARS = 8192
MAX_LEAF_DAYS = 398
DEFAULT_RENEW_BEFORE_DAYS = 30

Severity = Literal["error", "warning"]
_E = TypeVar("_E", bound=x509.ExtensionType)


@dataclass(frozen=True)
class Finding:
    severity: Severity
    certificate: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.certificate}: {self.problem}\n  fix: {self.fix}"


@dataclass(frozen=True)
class _Subject:
    """What one rule looks at; `certs` is the upload order (leaf first)."""

    name: str
    role: Role
    certs: list[x509.Certificate]
    upload_chars: int
    key: PrivateKey | None
    key_pem: str | None
    ca: x509.Certificate | None
    ca_name: str | None
    renew_before: timedelta
    now: datetime

    @property
    def leaf(self) -> x509.Certificate:
        return self.certs[0]


def lint(bundles: Mapping[str, Bundle], spec: Spec | None, now: datetime) -> list[Finding]:
    """Findings for every bundle, errors first, in bundle order within a severity."""
    renew = _renew_before_days(spec)
    findings: list[Finding] = []
    for bundle in bundles.values():
        ca = bundles.get(bundle.issuer_name) if bundle.issuer_name else None
        found = lint_bundle(bundle, ca, now, renew.get(bundle.name, DEFAULT_RENEW_BEFORE_DAYS))
        findings += _as_adopted(found, bundle, spec)
    return sorted(findings, key=lambda f: f.severity != "error")


def _as_adopted(findings: list[Finding], bundle: Bundle, spec: Spec | None) -> list[Finding]:
    """A certificate adopted from the cloud (`adopt:`, docs/import.md) that is still the one
    ELB accepted and serves: its errors are warnings, so the stack can be taken over before
    it is rotated; once the file holds another certificate the full rules apply."""
    adopted = spec.adopt.certificates.get(bundle.name) if spec is not None else None
    if adopted is None or adopted.sha256 != bundle.fingerprint:
        return findings
    return [
        replace(f, severity="warning", problem=f"{f.problem} (adopted as ELB serves it)")
        if f.severity == "error"
        else f
        for f in findings
    ]


def lint_bundle(
    bundle: Bundle, ca: Bundle | None, now: datetime, renew_before_days: int
) -> list[Finding]:
    return lint_pem(
        bundle.name,
        bundle.role,
        bundle.certificate_pem + bundle.chain_pem,
        key_pem=bundle.key_pem,
        ca_pem=ca.certificate_pem if ca is not None else None,
        ca_name=bundle.issuer_name,
        now=now,
        renew_before_days=renew_before_days,
    )


def lint_pem(
    name: str,
    role: Role,
    certificate_pem: str,
    *,
    now: datetime,
    key_pem: str | None = None,
    ca_pem: str | None = None,
    ca_name: str | None = None,
    renew_before_days: int = DEFAULT_RENEW_BEFORE_DAYS,
) -> list[Finding]:
    """Lint standalone PEM text (leaf then chain), e.g. files a user wants to check."""
    try:
        certs = parse_certificates(certificate_pem.encode("utf-8"), f"certificate {name}")
        ca = parse_certificates(ca_pem.encode("utf-8"), f"CA of {name}")[0] if ca_pem else None
    except CertificateError as exc:
        return [Finding("error", name, exc.message, exc.hint or "give a PEM certificate")]
    key, key_findings = _parse_key(name, key_pem)
    subject = _Subject(
        name,
        role,
        certs,
        len(certificate_pem),
        key,
        key_pem,
        ca,
        ca_name,
        timedelta(days=renew_before_days),
        now,
    )
    return key_findings + [f for rule in RULES for f in rule(subject)]


def _parse_key(name: str, key_pem: str | None) -> tuple[PrivateKey | None, list[Finding]]:
    if key_pem is None:
        return None, []
    try:
        key = load_key(
            key_pem.encode("utf-8"), where=f"key of {name}", password=None, password_env=None
        )
    except CertificateError as exc:
        return None, [
            Finding("error", name, exc.message, exc.hint or "give an unencrypted PEM key")
        ]
    return key, []


def _renew_before_days(spec: Spec | None) -> dict[str, int]:
    if spec is None:
        return {}
    return {cert.name: cert.renew_before_days for _, cert in spec.all_certificates()}


# --- rules ----------------------------------------------------------------------------


def _key_mismatch(s: _Subject) -> Iterator[Finding]:
    if s.key is not None and not key_matches(s.key, s.leaf):
        yield Finding(
            "error",
            s.name,
            "the private key does not belong to the certificate",
            "give the key the certificate was issued for (compare `openssl x509 -pubkey` with "
            "`openssl pkey -pubout`), or re-issue the certificate for this key",
        )


def _chain_order(s: _Subject) -> Iterator[Finding]:
    for i in range(len(s.certs) - 1):
        if not is_signed_by(s.certs[i], s.certs[i + 1]):
            signer = next((j for j, c in enumerate(s.certs) if is_signed_by(s.certs[i], c)), None)
            how = "out of order" if signer is not None else "incomplete"
            yield Finding(
                "error",
                s.name,
                f"the chain is {how}: certificate {i + 1} ({_dn(s.certs[i])}) is not signed by "
                f"certificate {i + 2} ({_dn(s.certs[i + 1])})",
                "order the file leaf first, then each certificate's issuer in turn; "
                "add any missing intermediate from your authority",
            )
            return


def _chain_reaches_ca(s: _Subject) -> Iterator[Finding]:
    last = s.certs[-1]
    if s.ca is None or s.role == "ca" or last == s.ca or is_signed_by(last, s.ca):
        return
    yield Finding(
        "error",
        s.name,
        f"the chain ends at {_dn(last)}, issued by {last.issuer.rfc4514_string()}, "
        f"which is not the CA {s.ca_name!r} ({_dn(s.ca)})",
        "append the intermediates that lead to that CA, or re-issue from it (`deploy certs SPEC`)",
    )


def _ca_profile(s: _Subject) -> Iterator[Finding]:
    if s.role != "ca":
        return
    bc = _extension(s.leaf, x509.BasicConstraints)
    if bc is None or not bc.value.ca or not bc.critical:
        yield Finding(
            "error",
            s.name,
            "this CA certificate lacks a critical basicConstraints CA:TRUE extension "
            f"({_describe_bc(bc)}), so TLS stacks may refuse it as an issuer",
            "re-issue the CA with `-addext 'basicConstraints=critical,CA:TRUE'` "
            "(or let `deploy certs` generate it)",
        )
    ku = _extension(s.leaf, x509.KeyUsage)
    if ku is None or not ku.value.key_cert_sign:
        yield Finding(
            "error",
            s.name,
            "this CA certificate lacks keyUsage keyCertSign, so it may not sign certificates",
            "re-issue the CA with `-addext 'keyUsage=critical,keyCertSign,cRLSign'`",
        )


def _leaf_profile(s: _Subject) -> Iterator[Finding]:
    if s.role == "ca":
        return
    bc = _extension(s.leaf, x509.BasicConstraints)
    if bc is not None and bc.value.ca:
        yield Finding(
            "error",
            s.name,
            f"a CA certificate (basicConstraints CA:TRUE) is used as a {s.role} certificate",
            f"use a leaf certificate here, issued by that CA with EKU {_purpose(s.role)}",
        )
    yield from _eku(s)
    if s.role == "server" and _extension(s.leaf, x509.SubjectAlternativeName) is None:
        yield Finding(
            "error",
            s.name,
            "the server certificate has no subjectAltName; browsers and Python ignore the CN",
            "re-issue with the host names in SAN (`-addext 'subjectAltName=DNS:www.example.com'`, "
            "or 'dns_names' in the spec)",
        )


def _eku(s: _Subject) -> Iterator[Finding]:
    wanted = (
        ExtendedKeyUsageOID.SERVER_AUTH if s.role == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    )
    eku = _extension(s.leaf, x509.ExtendedKeyUsage)
    if eku is None or wanted not in eku.value:
        yield Finding(
            "error",
            s.name,
            f"the {s.role} certificate lacks extendedKeyUsage {_purpose(s.role)}",
            f"re-issue with `-addext 'extendedKeyUsage={_purpose(s.role)}'` "
            "(or let `deploy certs` issue it)",
        )


def _signature(s: _Subject) -> Iterator[Finding]:
    for i, cert in enumerate(s.certs):
        algorithm = _hash_name(cert)
        if algorithm in ("sha1", "md5"):
            which = "the certificate" if i == 0 else f"chain certificate {i + 1} ({_dn(cert)})"
            yield Finding(
                "error",
                s.name,
                f"{which} is signed with {algorithm.upper()}, which TLS clients reject",
                "re-issue with SHA-256 (`-sha256` instead of `-sha1`)",
            )


def _key_strength(s: _Subject) -> Iterator[Finding]:
    public = s.leaf.public_key()
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < 2048:
        yield Finding(
            "error",
            s.name,
            f"the RSA key has only {public.key_size} bits",
            "re-issue with a 2048-bit or larger RSA key, or an EC P-256 key",
        )
    elif isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name not in ("secp256r1", "secp384r1"):
            yield Finding(
                "warning",
                s.name,
                f"the EC curve {public.curve.name} is not P-256 or P-384",
                "re-issue with an ec-p256 or ec-p384 key, which every TLS client supports",
            )
    elif not isinstance(public, rsa.RSAPublicKey):
        yield Finding(
            "error",
            s.name,
            f"the {type(public).__name__} key type is not accepted by ELB",
            "re-issue with an RSA (2048+) or EC P-256/P-384 key",
        )


def _validity(s: _Subject) -> Iterator[Finding]:
    start, end = s.leaf.not_valid_before_utc, s.leaf.not_valid_after_utc
    if s.now < start:
        yield Finding(
            "error",
            s.name,
            f"the certificate is not valid before {start:%Y-%m-%d %H:%M} UTC",
            "check the clock of the machine that issued it, or re-issue",
        )
    elif s.now >= end:
        yield Finding(
            "error",
            s.name,
            f"the certificate expired on {end:%Y-%m-%d %H:%M} UTC",
            "renew it (`deploy certs SPEC` re-issues generated ones)",
        )
    elif end - s.now <= s.renew_before:
        yield Finding(
            "warning",
            s.name,
            f"the certificate expires on {end:%Y-%m-%d} (within {s.renew_before.days} days)",
            "renew it now (`deploy certs SPEC`, or ask your authority)",
        )


def _leaf_lifetime(s: _Subject) -> Iterator[Finding]:
    days = (s.leaf.not_valid_after_utc - s.leaf.not_valid_before_utc).days
    if s.role != "ca" and days > MAX_LEAF_DAYS:
        yield Finding(
            "warning",
            s.name,
            f"the certificate is valid for {days} days; browsers reject leaves valid "
            f"over {MAX_LEAF_DAYS}",
            f"re-issue with at most {MAX_LEAF_DAYS - 1} days ('validity_days', or `-days 397`)",
        )


def _huawei_limits(s: _Subject) -> Iterator[Finding]:
    if len(s.certs) > MAX_CHAIN_LEVELS:
        yield Finding(
            "error",
            s.name,
            f"the chain has {len(s.certs)} certificates; ELB accepts at most {MAX_CHAIN_LEVELS}",
            "drop the root and any certificate not needed to reach it",
        )
    yield from _size_limits(s)


def _size_limits(s: _Subject) -> Iterator[Finding]:
    if s.upload_chars > MAX_CERTIFICATE_CHARS:
        yield Finding(
            "error",
            s.name,
            f"the certificate PEM has {s.upload_chars} characters; ELB accepts at most "
            f"{MAX_CERTIFICATE_CHARS}",
            "drop unneeded chain certificates (the root is never needed)",
        )
    elif s.upload_chars > SDK_CERTIFICATE_CHARS:
        yield Finding(
            "warning",
            s.name,
            f"the certificate PEM has {s.upload_chars} characters; the v3 SDK documents "
            f"at most {SDK_CERTIFICATE_CHARS}",
            "drop unneeded chain certificates if the upload is refused",
        )
    if s.key_pem is not None and len(s.key_pem) > MAX_KEY_CHARS:
        yield Finding(
            "error",
            s.name,
            f"the private key PEM has {len(s.key_pem)} characters; ELB accepts at most "
            f"{MAX_KEY_CHARS}",
            "use a smaller key (RSA-4096 or EC fits easily)",
        )


RULES = (
    _key_mismatch, _chain_order, _chain_reaches_ca, _ca_profile, _leaf_profile,
    _signature, _key_strength, _validity, _leaf_lifetime, _huawei_limits,
)  # fmt: skip


# --- helpers --------------------------------------------------------------------------


def _extension(cert: x509.Certificate, kind: type[_E]) -> x509.Extension[_E] | None:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def _describe_bc(bc: x509.Extension[x509.BasicConstraints] | None) -> str:
    if bc is None:
        return "it has none"
    if not bc.value.ca:
        return "it says CA:FALSE"
    return "it is not marked critical"


def _hash_name(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # UnsupportedAlgorithm for exotic signatures: not ours to judge
        return None
    return algorithm.name if isinstance(algorithm, hashes.HashAlgorithm) else None


def _purpose(role: str) -> str:
    return "serverAuth" if role == "server" else "clientAuth"


def _dn(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"
