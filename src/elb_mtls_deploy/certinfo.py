"""Fingerprints of PEM certificates, the identity the diff compares certificates by.

Owns one pure computation shared by the desired side (our PKI bundles) and the observed
side (PEM text the API returns), so both are measured with the same ruler.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization


@dataclass(frozen=True)
class PemIdentity:
    fingerprint: str  # SHA-256 of the leaf's DER, lowercase hex
    public_key_fingerprint: str  # SHA-256 of the leaf's SubjectPublicKeyInfo DER
    chain: tuple[str, ...]  # SHA-256 of each certificate after the leaf


_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----(?P<body>.*?)-----END CERTIFICATE-----", re.DOTALL)
_NOT_BASE64 = re.compile(r"\\[nr]|[^A-Za-z0-9+/=]")


def normalise_pem(text: str) -> str:
    """The certificates of `text` in canonical PEM (64-column base64, one newline each).

    The API's documented examples return PEM with the newlines removed (v3) or doubled
    (v2), and a JSON layer may leave them escaped (docs/api-notes.md §10.3); read every
    form the same way, or an unchanged certificate looks changed on every plan."""
    blocks = []
    for match in _BLOCK.finditer(text):
        body = _NOT_BASE64.sub("", match.group("body"))
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        blocks.append("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines))
        blocks[-1] += "\n-----END CERTIFICATE-----\n"
    return "".join(blocks)


def identify(pem: str) -> PemIdentity:
    """Identity of a PEM blob (leaf first); ValueError if it holds no certificate."""
    try:
        certs = x509.load_pem_x509_certificates(normalise_pem(pem).encode() or pem.encode())
    except x509.InvalidVersion as exc:  # not a ValueError in cryptography
        raise ValueError(str(exc)) from None
    leaf = certs[0]
    try:
        public_key = leaf.public_key()
    except UnsupportedAlgorithm as exc:  # a key type cryptography cannot read: unreadable
        raise ValueError(str(exc)) from None
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PemIdentity(
        fingerprint=_sha256(leaf.public_bytes(serialization.Encoding.DER)),
        public_key_fingerprint=hashlib.sha256(spki).hexdigest(),
        chain=tuple(_sha256(c.public_bytes(serialization.Encoding.DER)) for c in certs[1:]),
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
