"""CA keys that never leave an HSM: a PKCS#11 key as a `cryptography` private key object.

The certificate is still built by `cryptography` (`CertificateBuilder.sign` calls the key's
`sign`); only the signature comes from the token. A key is named by an RFC 7512 PKCS#11
URI, given where a CA's key source would hold a PEM (`key: {env: VAR}` with VAR holding
the URI, or `key: {file: "pkcs11:..."}`):

    pkcs11:token=elb;object=client-ca?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:HSM_PIN

`pin-source=env:VAR` (our reading of RFC 7512's pin-source, which names where the PIN is)
takes the PIN from an environment variable; `pin-value` is accepted too. The optional
`python-pkcs11` package (extra `hsm`) is imported only when such a key is used. Must not
put the PIN in a message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import unquote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.utils import Buffer

from elb_mtls_deploy.errors import CertificateError

SCHEME = "pkcs11:"


def is_uri(value: str | None) -> bool:
    return value is not None and value.strip().startswith(SCHEME)


@dataclass(frozen=True)
class Uri:
    token: str
    label: str
    module: str
    pin: str = field(repr=False)


def parse_uri(text: str, env: Mapping[str, str], where: str) -> Uri:
    """The parts of a PKCS#11 URI we use; the PIN resolved from the environment."""
    body = text.strip()[len(SCHEME) :]
    path, _, query = body.partition("?")
    attrs = _pairs(path, ";") | _pairs(query, "&")
    missing = [a for a in ("token", "object", "module-path") if not attrs.get(a)]
    if missing:
        raise CertificateError(
            f"the PKCS#11 URI in {where} lacks {', '.join(missing)}",
            hint="write pkcs11:token=LABEL;object=KEY?module-path=/path/lib.so&pin-source=env:VAR",
        )
    return Uri(attrs["token"], attrs["object"], attrs["module-path"], _pin(attrs, env, where))


def _pairs(text: str, separator: str) -> dict[str, str]:
    pairs = {}
    for item in filter(None, text.split(separator)):
        name, _, value = item.partition("=")
        pairs[unquote(name)] = unquote(value)
    return pairs


def _pin(attrs: Mapping[str, str], env: Mapping[str, str], where: str) -> str:
    if "pin-value" in attrs:
        return attrs["pin-value"]
    source = attrs.get("pin-source", "")
    if not source.startswith("env:"):
        raise CertificateError(
            f"the PKCS#11 URI in {where} gives no PIN",
            hint="add &pin-source=env:VAR and set VAR to the token's user PIN",
        )
    variable = source[4:]
    if not env.get(variable):
        raise CertificateError(
            f"environment variable {variable} is not set; it holds the PIN of token "
            f"{attrs.get('token')!r}",
            hint=f"set {variable} (in GitLab CI: a masked, protected variable)",
        )
    return env[variable]


def load(
    text: str, env: Mapping[str, str], where: str
) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """The token's private key `object` as a key object whose `sign` runs on the token."""
    uri = parse_uri(text, env, where)
    try:
        import pkcs11
        from pkcs11 import Attribute, KeyType, ObjectClass
    except ImportError:
        raise CertificateError(
            f"{where} names a PKCS#11 key but python-pkcs11 is not installed",
            hint="pip install 'elb-mtls-deploy[hsm]'",
        ) from None
    try:
        session = _session(pkcs11, uri)
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=uri.label)
        public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=uri.label)
        key_type = private[Attribute.KEY_TYPE]
    except Exception as exc:  # python-pkcs11 raises its own tree (and RuntimeError)
        _fail(uri, where, exc)
    if key_type == KeyType.EC:
        return TokenEcKey(session, private, _ec_public(public))
    if key_type == KeyType.RSA:
        numbers = rsa.RSAPublicNumbers(
            int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
            int.from_bytes(public[Attribute.MODULUS], "big"),
        )
        return TokenRsaKey(session, private, numbers.public_key())
    raise CertificateError(
        f"the PKCS#11 key {uri.label!r} is neither RSA nor EC", hint="use an RSA or EC key"
    )


# PKCS#11 logins are per application, not per session: one logged-in session per token,
# kept for the life of the process (the signing keys refer to it).
_SESSIONS: dict[tuple[str, str, str], Any] = {}


def _session(pkcs11: Any, uri: Uri) -> Any:
    index = (uri.module, uri.token, hashlib.sha256(uri.pin.encode()).hexdigest())
    if index not in _SESSIONS:
        token = pkcs11.lib(uri.module).get_token(token_label=uri.token)
        _SESSIONS[index] = token.open(user_pin=uri.pin)
    return _SESSIONS[index]


def _fail(uri: Uri, where: str, exc: Exception) -> NoReturn:
    raise CertificateError(
        f"cannot use PKCS#11 key {uri.label!r} on token {uri.token!r} ({where}): "
        f"{type(exc).__name__}",
        hint=f"check the module {uri.module}, the token label, the key label and the PIN",
    ) from None


def _ec_public(public: Any) -> ec.EllipticCurvePublicKey:
    from pkcs11.util.ec import encode_ec_public_key

    key = serialization.load_der_public_key(encode_ec_public_key(public))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def _digest(data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
    return hashlib.new(algorithm.name, data).digest()


class TokenEcKey(ec.EllipticCurvePrivateKey):
    """An EC key on a token: CKM_ECDSA over a digest computed here, DER-encoded back."""

    def __init__(self, session: Any, private: Any, public: ec.EllipticCurvePublicKey) -> None:
        self._session, self._private, self._public = session, private, public

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        from pkcs11 import Mechanism

        assert isinstance(signature_algorithm, ec.ECDSA)
        algorithm = signature_algorithm.algorithm
        assert isinstance(algorithm, hashes.HashAlgorithm)
        raw = self._private.sign(_digest(bytes(data), algorithm), mechanism=Mechanism.ECDSA)
        half = len(raw) // 2
        r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        return utils.encode_dss_signature(r, s)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.curve.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise CertificateError("a token key only signs", hint="this is not supported")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise _not_exportable()

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise _not_exportable()

    def __copy__(self) -> TokenEcKey:
        return self

    def __deepcopy__(self, memo: Any) -> TokenEcKey:
        return self


class TokenRsaKey(rsa.RSAPrivateKey):
    """An RSA key on a token: CKM_SHA256_RSA_PKCS / SHA384 (PKCS#1 v1.5), as we issue."""

    def __init__(self, session: Any, private: Any, public: rsa.RSAPublicKey) -> None:
        self._session, self._private, self._public = session, private, public

    def sign(
        self,
        data: bytes,
        padding: padding.AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | utils.Prehashed | utils.NoDigestInfo,
    ) -> bytes:
        from pkcs11 import Mechanism

        mechanisms = {"sha256": Mechanism.SHA256_RSA_PKCS, "sha384": Mechanism.SHA384_RSA_PKCS}
        if (
            not isinstance(padding, _PKCS1)
            or not isinstance(algorithm, hashes.HashAlgorithm)
            or algorithm.name not in mechanisms
        ):
            raise CertificateError(
                "a token RSA key signs PKCS#1 v1.5 with SHA-256/384 only",
                hint="this is what deploy issues; nothing else is needed",
            )
        return bytes(self._private.sign(data, mechanism=mechanisms[algorithm.name]))

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        raise CertificateError("a token key only signs", hint="this is not supported")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        raise _not_exportable()

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise _not_exportable()

    def __copy__(self) -> TokenRsaKey:
        return self

    def __deepcopy__(self, memo: Any) -> TokenRsaKey:
        return self


_PKCS1 = padding.PKCS1v15


def _not_exportable() -> CertificateError:
    return CertificateError(
        "the CA key lives on a PKCS#11 token and cannot be exported", hint="sign on the token"
    )


def is_token_key(key: object) -> bool:
    return isinstance(key, TokenEcKey | TokenRsaKey)
