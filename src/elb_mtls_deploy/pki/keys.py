"""Private keys: generate, parse (PKCS#1, PKCS#8, SEC1, optionally encrypted) and serialise.

Owns the mapping between the spec's key types and `cryptography` key objects, and the one
place where key-parsing exceptions become `CertificateError`s. Must not read files or the
environment (callers pass bytes and passwords) and must never put key material or passwords
into a message.
"""

from __future__ import annotations

from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from elb_mtls_deploy.errors import CertificateError

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

_RSA_BITS = {"rsa-2048": 2048, "rsa-3072": 3072, "rsa-4096": 4096}
_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {"ec-p256": ec.SECP256R1, "ec-p384": ec.SECP384R1}
_ENCRYPTED_MARKERS = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"Proc-Type: 4,ENCRYPTED")


def generate_key(key_type: str) -> PrivateKey:
    """A fresh key of a spec key type (`rsa-2048` … `ec-p384`)."""
    if key_type in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_type])
    if key_type in _EC_CURVES:
        return ec.generate_private_key(_EC_CURVES[key_type]())
    raise CertificateError(
        f"unknown key type {key_type!r}",
        hint="use one of rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384",
    )


def key_type_of(public_key: object) -> str | None:
    """The spec key type of a public key, or None if the spec has no name for it."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa-{public_key.key_size}" if f"rsa-{public_key.key_size}" in _RSA_BITS else None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for name, curve in _EC_CURVES.items():
            if isinstance(public_key.curve, curve):
                return name
    return None


def key_to_pem(key: PrivateKey) -> str:
    """Unencrypted PKCS#8 PEM: ELB refuses encrypted keys, so this is the upload form too."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    _remember(pem, key)
    return pem


# PEM text this process serialised itself -> the key object, so reading it back (lint, .p12
# export) skips re-parsing: RSA's consistency check costs ~50-90 ms a key. Bounded; holds
# only keys the process holds anyway.
_OWN: dict[str, PrivateKey] = {}
_OWN_MAX = 1024


def _remember(pem: str, key: PrivateKey) -> None:
    if len(_OWN) >= _OWN_MAX:
        _OWN.pop(next(iter(_OWN)))
    _OWN[pem] = key


def spki_der(public_key: object) -> bytes:
    """SubjectPublicKeyInfo DER: the stable identity of a key pair."""
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise CertificateError(
            f"unsupported public key type {type(public_key).__name__}",
            hint="ELB accepts RSA and EC (P-256/P-384) keys; re-issue with one of those",
        )
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_matches(key: PrivateKey, certificate: x509.Certificate) -> bool:
    """True when the certificate carries this key's public half."""
    try:
        return spki_der(key.public_key()) == spki_der(certificate.public_key())
    except CertificateError:
        return False


def is_encrypted_pem(data: bytes) -> bool:
    return any(marker in data for marker in _ENCRYPTED_MARKERS)


def load_key(
    data: bytes, *, where: str, password: bytes | None, password_env: str | None
) -> PrivateKey:
    """Parse a PEM private key. `where` names the file or variable for messages;
    `password_env` names the variable the password came from (or should come from)."""
    own = _OWN.get(data.decode("ascii", "replace"))
    if own is not None and password is None:
        return own
    if b"-----BEGIN" not in data:
        raise CertificateError(f"{where} is not a PEM private key", hint=_not_pem_hint())
    encrypted = is_encrypted_pem(data)
    if encrypted and not password:
        raise CertificateError(
            f"the private key in {where} is encrypted", hint=_password_hint(password_env)
        )
    key = _parse_key(data, where=where, password=password if encrypted else None, env=password_env)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateError(
            f"the private key in {where} is a {type(key).__name__}",
            hint="ELB accepts RSA and EC (P-256/P-384) keys; use one of those",
        )
    if not encrypted:
        _remember(data.decode("ascii", "replace"), key)  # read again later: no second parse
    return key


def _parse_key(data: bytes, *, where: str, password: bytes | None, env: str | None) -> object:
    try:
        return serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # cryptography says "Bad decrypt" or "Could not deserialize"; both may echo nothing
        # secret, but we word the message ourselves to be sure.
        pass
    if password is not None:
        raise CertificateError(
            f"could not decrypt the private key in {where}: the password is wrong "
            "or the key is damaged",
            hint=f"check the value of ${env}" if env else "check the password",
        ) from None
    raise CertificateError(
        f"{where} does not hold a readable private key", hint=_not_pem_hint()
    ) from None


def _password_hint(password_env: str | None) -> str:
    if password_env:
        return f"set the environment variable {password_env} to the key's password"
    return (
        "add 'password_env: VAR' to the key source and set VAR to the password, or decrypt it "
        "with `openssl pkey -in KEY -out KEY.plain`"
    )


def _not_pem_hint() -> str:
    return (
        "give a PEM key (-----BEGIN PRIVATE KEY-----); convert DER with "
        "`openssl pkey -inform DER -in KEY.der -out KEY.pem`"
    )
