"""PKCS#12 export of client identities (leaf, key, chain and CA) for browsers and tools.

Owns the two encryption profiles: `modern` (PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256
MAC) and `legacy` (PBE-SHA1-3DES, SHA-1 MAC) for old importers. 3DES rather than RC2 because
OpenSSL 3 opens 3DES with its default provider but needs `-legacy` for RC2. Must not write
files or choose passwords (the store does).
"""

from __future__ import annotations

from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import (
    KeySerializationEncryption,
    PrivateFormat,
    pkcs12,
)

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki.bundle import Bundle
from elb_mtls_deploy.pki.keys import PrivateKey, load_key, spki_der

Profile = Literal["modern", "legacy"]

# DER of the OID pbeWithSHAAnd3-KeyTripleDES-CBC (1.2.840.113549.1.12.1.3): present in
# every legacy-profile file and never in a modern one, whose bags use PBES2.
_PBE_3DES_OID_DER = bytes.fromhex("060a2a864886f70d010c0103")
# PBKDF2 rounds: well above OpenSSL's 2048 default, yet fast enough to re-open the file on
# every `deploy certs` run (the unchanged check decrypts it).
_KDF_ROUNDS = 100_000


def export_p12(
    bundle: Bundle, ca_bundle: Bundle | None, password: bytes, profile: Profile
) -> bytes:
    """The identity as a password-protected .p12; the CA certificate rides along so an
    importer can show the full path."""
    if not password:
        raise CertificateError(
            f"empty .p12 password for {bundle.name!r}", hint="set a non-empty password"
        )
    if bundle.key_pem is None:
        raise CertificateError(
            f"certificate {bundle.name!r} has no private key to export",
            hint="only certificates with a key can be exported as .p12",
        )
    key = load_key(
        bundle.key_pem.encode("ascii"),
        where=f"key of {bundle.name}",
        password=None,
        password_env=None,
    )
    extra = bundle.chain + ([ca_bundle.certificate] if ca_bundle is not None else [])
    return serialize(bundle.name, key, [bundle.certificate, *extra], password, profile)


def serialize(
    name: str,
    key: PrivateKey,
    certificates: list[x509.Certificate],
    password: bytes,
    profile: str,
) -> bytes:
    """leaf first, then chain and CA; the one place the .p12 encryption is chosen."""
    return pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"),
        key,
        certificates[0],
        certificates[1:] or None,
        _encryption("legacy" if profile == "legacy" else "modern", password),
    )


def _encryption(profile: Profile, password: bytes) -> KeySerializationEncryption:
    builder = PrivateFormat.PKCS12.encryption_builder()
    if profile == "modern":
        builder = (
            builder.kdf_rounds(_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(
            hashes.SHA1()
        )
    return builder.build(password)


def p12_profile(data: bytes) -> Profile:
    return "legacy" if _PBE_3DES_OID_DER in data else "modern"


def p12_holds(data: bytes, password: bytes, bundle: Bundle) -> bool:
    """True when `data` opens with `password` and carries this bundle's certificate and key.
    Used to decide "unchanged" from inputs: .p12 bytes differ on every export (random salt)."""
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError):
        return False
    if key is None or certificate is None:
        return False
    return certificate == bundle.certificate and spki_der(key.public_key()) == spki_der(
        bundle.certificate.public_key()
    )
