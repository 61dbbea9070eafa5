"""Certificate and key checks plus the server-computed certificate fields (docs/api-notes.md §2.3).

Owns: parsing uploaded PEM with ``cryptography``, rejecting what the real service rejects
(non-PEM, encrypted keys, keys that do not match the leaf, chains over 11 levels — §8), and
deriving ``expire_time``, ``common_name``, ``fingerprint`` and ``subject_alternative_names``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from .exceptions import InvalidCertificate

MAX_CHAIN = 11  # docs/api-notes.md §8
MAX_CERT_CHARS = 65536  # the larger of the two documented limits (docs/api-notes.md §9)
MAX_KEY_CHARS = 8192


@dataclass(frozen=True)
class CertificateFacts:
    expire_time: datetime
    common_name: str
    fingerprint: str
    subject_alternative_names: tuple[str, ...]


def load_chain(pem: str) -> list[x509.Certificate]:
    if not pem or "-----BEGIN CERTIFICATE-----" not in pem:
        raise InvalidCertificate("Invalid certificate: not a PEM certificate")
    if len(pem) > MAX_CERT_CHARS:
        raise InvalidCertificate(f"Invalid certificate: longer than {MAX_CERT_CHARS} characters")
    try:
        chain = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidCertificate(f"Invalid certificate: {exc}") from None
    if len(chain) > MAX_CHAIN:
        raise InvalidCertificate(f"Invalid certificate: chain longer than {MAX_CHAIN}")
    return chain


def check_private_key(key_pem: str, leaf: x509.Certificate) -> None:
    """The key must be unencrypted PEM and belong to the leaf certificate."""
    if len(key_pem) > MAX_KEY_CHARS:
        raise InvalidCertificate(f"Invalid private key: longer than {MAX_KEY_CHARS} characters")
    try:
        key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    except TypeError:
        raise InvalidCertificate("Invalid private key: encrypted keys are not supported") from None
    except (ValueError, UnicodeEncodeError):
        raise InvalidCertificate("Invalid private key: not an unencrypted PEM key") from None
    ours = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if ours != theirs:
        raise InvalidCertificate("The private key does not match the certificate")


def fingerprint(leaf: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the leaf's DER, no separators (format is our choice)."""
    return hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()


def facts(chain: list[x509.Certificate]) -> CertificateFacts:
    leaf = chain[0]
    cns = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cns[0].value) if cns else ""
    try:
        san_ext = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans: list[str] = [str(v) for v in san_ext.value.get_values_for_type(x509.DNSName)]
        sans += [str(v) for v in san_ext.value.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        sans = []
    return CertificateFacts(
        expire_time=leaf.not_valid_after_utc.astimezone(UTC),
        # Guess: without a subject CN, report the first SAN (documented in docs/emulator.md).
        common_name=common_name or (sans[0] if sans else ""),
        fingerprint=fingerprint(leaf),
        subject_alternative_names=tuple(sans),
    )
