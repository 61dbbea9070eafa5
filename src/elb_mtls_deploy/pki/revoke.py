"""Revoking one client without a CRL: a deny-list for the backends.

ELB checks a client certificate against the listener's CA only; it has no CRL or OCSP
(docs/api-notes.md §10.4). So a revoked client still completes its TLS handshake, and the
backend must refuse it by the headers the listener inserts: the serial number
(`X-Forwarded-Clientcert-serialnumber`) or the fingerprint
(`X-Forwarded-Clientcert-fingerprint`). This module turns the spec's `certificates.revoked`
into that list — every generation the PKI directory ever held for a revoked client, or a
serial given by hand — and is also the check a Python backend can call (`refuses`).
When a revoked client must be locked out at the TLS layer itself, roll the client CA over
(docs/rotation.md). Read-only on the PKI directory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import layout
from elb_mtls_deploy.pki import manifest as manifests
from elb_mtls_deploy.pki.pem import parse_certificates
from elb_mtls_deploy.pki.store import stack_dir
from elb_mtls_deploy.spec.model import Spec

SERIAL_HEADER = "X-Forwarded-Clientcert-serialnumber"
FINGERPRINT_HEADER = "X-Forwarded-Clientcert-fingerprint"


def normal_serial(text: str) -> str:
    """Hex, upper case, no `0x`, colons or leading zeros: how serials are compared."""
    value = text.strip().removeprefix("0x").removeprefix("0X").replace(":", "").upper()
    return value.lstrip("0") or "0"


def _normal_fingerprint(text: str) -> str:
    return text.strip().replace(":", "").lower()


@dataclass(frozen=True)
class Denied:
    serial: str
    sha1: str | None
    sha256: str | None
    client: str | None
    generation: str | None
    reason: str


@dataclass(frozen=True)
class DenyList:
    stack: str
    entries: tuple[Denied, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1,
            "stack": self.stack,
            "headers": {"serial": SERIAL_HEADER, "fingerprint": FINGERPRINT_HEADER},
            "serials": sorted({e.serial for e in self.entries}),
            "fingerprints": sorted(
                {f for e in self.entries for f in (e.sha1, e.sha256) if f is not None}
            ),
            "entries": [asdict(e) for e in self.entries],
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> DenyList:
        entries = tuple(Denied(**e) for e in document.get("entries", ()))
        return cls(str(document.get("stack", "")), entries)

    @classmethod
    def load(cls, path: Path) -> DenyList:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def refuses(self, headers: Mapping[str, str]) -> Denied | None:
        """The entry a request's client-certificate headers match, if any (names compared
        case-insensitively, as HTTP does)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        serial = lowered.get(SERIAL_HEADER.lower())
        fingerprint = lowered.get(FINGERPRINT_HEADER.lower())
        for entry in self.entries:
            if serial is not None and normal_serial(serial) == entry.serial:
                return entry
            if fingerprint is not None and _normal_fingerprint(fingerprint) in (
                entry.sha1,
                entry.sha256,
            ):
                return entry
        return None


def deny_list(spec: Spec, base_dir: Path) -> DenyList:
    """Every revoked certificate of the spec, read-only (no key is read)."""
    directory = stack_dir(spec, base_dir)
    present = layout.check_directory(directory.root, inside=False) and layout.check_directory(
        directory.path, inside=True
    )
    manifest = manifests.load(directory) if present else manifests.Manifest(spec.stack)
    entries: list[Denied] = []
    for revoked in spec.certificates.revoked:
        if revoked.serial is not None:
            entries.append(
                Denied(normal_serial(revoked.serial), None, None, None, None, revoked.reason)
            )
            continue
        assert revoked.client is not None
        entry = manifest.entries.get(revoked.client)
        if entry is None or not entry.generations:
            raise CertificateError(
                f"revoked client {revoked.client!r} has no certificate in {directory.path}",
                hint="check the name (`deploy certs SPEC --history` lists what was issued), or "
                "give its 'serial' instead",
            )
        for generation in entry.generations:
            files = directory.generation(revoked.client, generation.id)
            if not layout.exists(files.crt):
                continue
            certificate = parse_certificates(layout.read(files.crt, secret=False), str(files.crt))[
                0
            ]
            entries.append(_denied(certificate, revoked.client, generation.id, revoked.reason))
    return DenyList(spec.stack, tuple(entries))


def _denied(certificate: x509.Certificate, client: str, generation: str, reason: str) -> Denied:
    der = certificate.public_bytes(serialization.Encoding.DER)
    return Denied(
        format(certificate.serial_number, "X"),
        hashlib.sha1(der).hexdigest(),
        hashlib.sha256(der).hexdigest(),
        client,
        generation,
        reason,
    )


@dataclass(frozen=True)
class RevokedIdentity:
    """A revoked client's current certificate and key, for `deploy verify` to try."""

    name: str
    certificate_pem: str
    key_pem: str


def revoked_identities(spec: Spec, base_dir: Path) -> list[RevokedIdentity]:
    directory = stack_dir(spec, base_dir)
    if not layout.check_directory(directory.path, inside=True):
        return []
    manifest = manifests.load(directory)
    found = []
    for revoked in spec.certificates.revoked:
        entry = manifest.entries.get(revoked.client or "")
        if revoked.client is None or entry is None or entry.current is None:
            continue
        files = directory.generation(revoked.client, entry.current)
        if layout.exists(files.crt) and layout.exists(files.key):
            found.append(
                RevokedIdentity(
                    revoked.client,
                    layout.read(files.crt, secret=False).decode("ascii"),
                    layout.read(files.key, secret=True).decode("ascii"),
                )
            )
    return found
