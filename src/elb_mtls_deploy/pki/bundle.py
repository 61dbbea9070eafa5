"""The `Bundle` value: one certificate as the rest of the tool sees it.

Owns the immutable record (leaf, chain, key, fingerprints, names, validity) and its
construction from PEM text. Must not do I/O. The private key is a secret: it is excluded
from repr/str and never logged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from elb_mtls_deploy.pki.keys import spki_der
from elb_mtls_deploy.pki.pem import parse_certificates, to_pem

Role = Literal["ca", "server", "client"]


@dataclass(frozen=True)
class Bundle:
    name: str
    role: Role
    certificate_pem: str
    chain_pem: str
    key_pem: str | None = field(repr=False)
    fingerprint: str
    public_key_fingerprint: str
    not_before: datetime
    not_after: datetime
    subject: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    issuer_name: str | None

    @property
    def upload_pem(self) -> str:
        """Leaf then intermediates: the `certificate` field of an ELB certificate."""
        return self.certificate_pem + self.chain_pem

    @property
    def certificate(self) -> x509.Certificate:
        return parse_certificates(self.certificate_pem.encode("ascii"), f"certificate {self.name}")[
            0
        ]

    @property
    def chain(self) -> list[x509.Certificate]:
        if not self.chain_pem.strip():
            return []
        return parse_certificates(self.chain_pem.encode("ascii"), f"chain of {self.name}")

    @classmethod
    def from_certificates(
        cls,
        name: str,
        role: Role,
        leaf: x509.Certificate,
        chain: list[x509.Certificate] | tuple[x509.Certificate, ...] = (),
        key_pem: str | None = None,
        issuer_name: str | None = None,
    ) -> Bundle:
        dns, ips = san_of(leaf)
        return cls(
            name=name,
            role=role,
            certificate_pem=to_pem([leaf]),
            chain_pem=to_pem(chain),
            key_pem=key_pem,
            fingerprint=certificate_fingerprint(leaf),
            public_key_fingerprint=hashlib.sha256(spki_der(leaf.public_key())).hexdigest(),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            subject=leaf.subject.rfc4514_string(),
            dns_names=dns,
            ip_addresses=ips,
            issuer_name=issuer_name,
        )


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER, lowercase hex without colons (what ELB reports, minus formatting)."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def san_of(certificate: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(DNS names, IP addresses) of the SAN extension; empty when there is none."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return (), ()
    dns = tuple(san.get_values_for_type(x509.DNSName))
    # A SAN IPAddress may be a network in name constraints, never in a leaf's SAN.
    ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    return dns, ips
