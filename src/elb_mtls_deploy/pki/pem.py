"""PEM certificates: parse text into `x509.Certificate`s and back.

Owns the one place where certificate-parsing failures become `CertificateError`s with a fix
(DER, PKCS#12, a key where a certificate was expected, junk). Must not touch files: callers
pass bytes and a `where` label for messages.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from elb_mtls_deploy.errors import CertificateError

_BLOCK_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)
_DER_SEQUENCE = 0x30


def parse_certificates(data: bytes, where: str) -> list[x509.Certificate]:
    """Every certificate in a PEM text, in order; at least one, and nothing that is not one."""
    blocks = list(_BLOCK_RE.finditer(data))
    if not blocks:
        raise CertificateError(f"{where} is not a PEM certificate", hint=_hint_for(data))
    labels = {m.group(1).decode("ascii") for m in blocks}
    if labels != {"CERTIFICATE"}:
        other = sorted(labels - {"CERTIFICATE"})
        raise CertificateError(
            f"{where} holds {', '.join(other)} where only CERTIFICATE blocks belong",
            hint="put the certificate (and chain) in one file and the private key in another",
        )
    try:
        certificates = x509.load_pem_x509_certificates(data)
        for certificate in certificates:
            # cryptography parses the key and extensions lazily: read them here, so a
            # damaged one is a clear error now rather than an exception deep in the linter.
            certificate.public_key()
            certificate.extensions  # noqa: B018
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        # InvalidVersion (a damaged version field) is not a ValueError in cryptography.
        raise CertificateError(
            f"{where} holds a damaged PEM certificate",
            hint="re-export it from its source; `openssl x509 -in FILE -noout` shows the error",
        ) from None
    return certificates


def _hint_for(data: bytes) -> str:
    if data[:1] == bytes([_DER_SEQUENCE]):
        return (
            "it looks binary (DER or PKCS#12). Convert DER with "
            "`openssl x509 -inform DER -in CERT.der -out CERT.pem`, or a .pfx/.p12 with "
            "`openssl pkcs12 -in FILE.p12 -nokeys -out CERT.pem` (ELB accepts PEM only)"
        )
    return "give a file starting with -----BEGIN CERTIFICATE----- (ELB accepts PEM only)"


def to_pem(certificates: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> str:
    """Concatenated PEM, leaf first."""
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certificates)


def is_signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer` names and signed `certificate` (signature checked, not just names).

    Checked by hand rather than with `verify_directly_issued_by`, which refuses SHA-1
    signatures outright — and the console guide's certificates are SHA-1, yet must still be
    recognised as issued by their CA so the linter can say what is wrong with them."""
    if certificate.issuer != issuer.subject:
        return False
    public = issuer.public_key()
    try:
        params = certificate.signature_algorithm_parameters
        if isinstance(public, rsa.RSAPublicKey) and isinstance(params, padding.AsymmetricPadding):
            algorithm = certificate.signature_hash_algorithm
            if algorithm is None:
                return False
            public.verify(
                certificate.signature, certificate.tbs_certificate_bytes, params, algorithm
            )
        elif isinstance(public, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
            public.verify(certificate.signature, certificate.tbs_certificate_bytes, params)
        else:
            certificate.verify_directly_issued_by(issuer)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True
