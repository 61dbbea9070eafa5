"""Private keys: generate, parse (PKCS#1, PKCS#8, SEC1, optionally encrypted) and serialise.

Owns the mapping between the spec's key types and `cryptography` key objects, and the one
place where key-parsing exceptions become `CertificateError`s. Must not read files or the
environment (callers pass bytes and passwords) and must never put key material or passwords
into a message.
"""

from __future__ import annotations

import base64
import binascii
import re
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

# Key-derivation work an encrypted PKCS#8 key may ask for before we decrypt it: a crafted
# key otherwise costs tens of seconds and hundreds of MB (scrypt N=2^18). The bounds are
# 8x OpenSSL's defaults (scrypt N=16384 r=8 p=1: 16 MiB; PBKDF2 2048 iterations) and
# above today's recommendations (PBKDF2-SHA256 600,000).
MAX_SCRYPT_MEMORY = 64 * 1024 * 1024  # 128 * N * r bytes
MAX_SCRYPT_WORK = 8 * 16384 * 8  # N * r * p
MAX_PBKDF2_ITERATIONS = 2_000_000
_PKCS8_PEM = re.compile(
    rb"-----BEGIN ENCRYPTED PRIVATE KEY-----(.*?)-----END ENCRYPTED PRIVATE KEY-----", re.DOTALL
)
_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_PBKDF2 = "1.2.840.113549.1.5.12"
_OID_SCRYPT = "1.3.6.1.4.1.11591.4.11"
_OID_PBES1 = ("1.2.840.113549.1.5.", "1.2.840.113549.1.12.1.")  # PKCS#5 v1.5, PKCS#12 PBE


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
    if encrypted:
        check_kdf_cost(data, where)
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


def check_kdf_cost(data: bytes, where: str) -> None:
    """Refuse an encrypted PKCS#8 key whose scrypt or PBKDF2 parameters exceed the bounds,
    before any decryption is tried. Traditional OpenSSL encryption (`Proc-Type`) derives
    its key with one MD5 round and is not checked; unparsable parameters are left to
    `cryptography`, which refuses them."""
    match = _PKCS8_PEM.search(data)
    if match is None:
        return
    try:
        der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
        costs = _kdf_costs(der)
    except (binascii.Error, ValueError, IndexError):
        return
    problem = _kdf_problem(costs)
    if problem:
        raise CertificateError(
            f"the encrypted private key in {where} asks for {problem}; refusing to decrypt it",
            hint="re-encrypt it with ordinary parameters: "
            "`openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out KEY.p8` (PBKDF2)",
        )


def _kdf_problem(costs: dict[str, int]) -> str | None:
    if "n" in costs:
        n, r, p = costs["n"], costs["r"], costs["p"]
        if 128 * n * r > MAX_SCRYPT_MEMORY or n * r * p > MAX_SCRYPT_WORK:
            return (
                f"scrypt N={n} r={r} p={p} (more than {MAX_SCRYPT_MEMORY // 2**20} MiB "
                f"or N*r*p above {MAX_SCRYPT_WORK})"
            )
    iterations = costs.get("iterations", 0)
    if iterations > MAX_PBKDF2_ITERATIONS:
        return f"{iterations} key-derivation iterations (at most {MAX_PBKDF2_ITERATIONS})"
    return None


def _kdf_costs(der: bytes) -> dict[str, int]:
    """The KDF parameters of an EncryptedPrivateKeyInfo (RFC 5958 §3; PBES2 RFC 8018 A.4,
    PBKDF2 A.2, scrypt RFC 7914 §7; PBES1 RFC 8018 A.3): `iterations`, or `n`/`r`/`p`."""
    info = _children(_tlv(der, 0x30))
    algorithm = _children(_tlv(info[0], 0x30))
    oid = _oid(algorithm[0])
    if oid != _OID_PBES2:
        if oid.startswith(_OID_PBES1) and len(algorithm) > 1:  # SEQUENCE {salt, iterations}
            return {"iterations": _int(_children(_tlv(algorithm[1], 0x30))[1])}
        return {}
    kdf = _children(_tlv(_children(_tlv(algorithm[1], 0x30))[0], 0x30))
    params = _children(_tlv(kdf[1], 0x30))
    if _oid(kdf[0]) == _OID_PBKDF2:
        return {"iterations": _int(params[1])}
    if _oid(kdf[0]) == _OID_SCRYPT:
        return {"n": _int(params[1]), "r": _int(params[2]), "p": _int(params[3])}
    return {}


def _tlv(element: bytes, tag: int) -> bytes:
    """The contents of one DER element with the given tag (definite lengths only)."""
    if not element or element[0] != tag:
        raise ValueError("unexpected DER tag")
    return _split(element)[0][1]


def _split(data: bytes) -> list[tuple[bytes, bytes]]:
    """Consecutive DER elements as (whole element, contents)."""
    out: list[tuple[bytes, bytes]] = []
    at = 0
    while at < len(data):
        length, start = data[at + 1], at + 2
        if length & 0x80:
            count = length & 0x7F
            if not 1 <= count <= 4:
                raise ValueError("unsupported DER length")
            length = int.from_bytes(data[start : start + count], "big")
            start += count
        end = start + length
        if end > len(data):
            raise ValueError("truncated DER")
        out.append((data[at:end], data[start:end]))
        at = end
    return out


def _children(contents: bytes) -> list[bytes]:
    return [whole for whole, _ in _split(contents)]


def _int(element: bytes) -> int:
    value = _tlv(element, 0x02)
    if len(value) > 16:
        return 2**128  # absurdly large: over every bound
    return int.from_bytes(value, "big", signed=True)


def _oid(element: bytes) -> str:
    body = _tlv(element, 0x06)
    arcs, value = [], 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


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
