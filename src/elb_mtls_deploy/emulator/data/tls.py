"""TLS for the data plane: one `ssl.SSLContext` per served listener configuration.

Owns the mapping from the API's ``tls_ciphers_policy`` names to protocol versions and
cipher strings, and the loading of the uploaded server certificate, key and client CA.
It must not touch sockets, log key material, or leave key material on disk: keys pass
through a 0600 file in a private 0700 temp directory that is removed right after loading,
because `ssl` can only read keys from files.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from .contract import ServedListener

log = logging.getLogger(__name__)

# Forward-secret AEAD suites first; CBC only where the policy admits it.
_AEAD_FS = "ECDHE+AESGCM:ECDHE+CHACHA20"
_CBC_FS_SHA2 = "ECDHE+AES+SHA256:ECDHE+AES+SHA384"
_TLS12 = f"{_AEAD_FS}:{_CBC_FS_SHA2}:RSA+AESGCM:RSA+AES+SHA256:!aNULL:!eNULL:!MD5"
# TLS 1.0/1.1 clients need SHA-1 CBC suites, which OpenSSL 3 only allows at level 0.
_LEGACY = "DEFAULT:@SECLEVEL=0:!aNULL:!eNULL:!MD5"
# The real ELB serves what users upload, including the console guide's SHA-1-signed
# certificates, which OpenSSL 3 refuses to load or verify above security level 0. The
# emulator's choice (docs/emulator.md): every served listener context runs at level 0;
# the cipher strings and protocol bounds below still decide what is negotiated, and the
# product's validate/lint keep flagging such certificates.
_ANY_UPLOADED_CERTIFICATE = "@SECLEVEL=0"


@dataclass(frozen=True)
class TlsPolicy:
    """Protocol bounds and TLS <= 1.2 cipher string for one ``tls_ciphers_policy``."""

    minimum: ssl.TLSVersion
    maximum: ssl.TLSVersion
    ciphers: str


_V10, _V11 = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
_V12, _V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3

# docs/api-notes.md §2.4 lists the names; versions follow the names, cipher sets are our reading
# of "strict" (no RSA key exchange, SHA-2 only), "fs" (forward secrecy) and "no-cbc".
POLICIES: dict[str, TlsPolicy] = {
    "tls-1-0-inherit": TlsPolicy(_V10, _V12, _LEGACY),
    "tls-1-0": TlsPolicy(_V10, _V12, _LEGACY),
    "hybrid-policy-1-0": TlsPolicy(_V10, _V12, _LEGACY),
    "tls-1-0-with-1-3": TlsPolicy(_V10, _V13, _LEGACY),
    "tls-1-1": TlsPolicy(_V11, _V12, _LEGACY),
    "tls-1-2": TlsPolicy(_V12, _V12, _TLS12),
    "tls-1-2-strict": TlsPolicy(_V12, _V12, f"{_AEAD_FS}:{_CBC_FS_SHA2}"),
    "tls-1-2-strict-no-cbc": TlsPolicy(_V12, _V12, _AEAD_FS),
    "tls-1-2-fs": TlsPolicy(_V12, _V12, f"{_AEAD_FS}:{_CBC_FS_SHA2}"),
    "tls-1-2-fs-with-1-3": TlsPolicy(_V12, _V13, f"{_AEAD_FS}:{_CBC_FS_SHA2}"),
}
DEFAULT_POLICY = "tls-1-2"


class TlsMaterialError(ValueError):
    """The listener's certificate, key or client CA cannot be loaded."""


def policy_for(name: str) -> TlsPolicy:
    """The policy for ``name``; unknown names (e.g. custom security policies) get tls-1-2."""
    policy = POLICIES.get(name)
    if policy is None:
        log.warning("unknown tls_ciphers_policy %r, serving it as %s", name, DEFAULT_POLICY)
        return POLICIES[DEFAULT_POLICY]
    return policy


def build_context(listener: ServedListener) -> ssl.SSLContext:
    """A server context presenting the listener's certificate, verifying clients if mTLS."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _apply_policy(context, policy_for(listener.tls_ciphers_policy))
    # HTTP/2 is not implemented: advertise only what we speak (documented difference).
    context.set_alpn_protocols(["http/1.1"])
    _load_server_pair(context, listener.server_cert_pem, listener.server_key_pem)
    if listener.client_ca_pem:
        _trust_client_cas(context, listener.client_ca_pem)
    return context


def _apply_policy(context: ssl.SSLContext, policy: TlsPolicy) -> None:
    # Setting TLSv1/TLSv1_1 emits DeprecationWarning; the real ELB offers these policies.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = policy.minimum
        context.maximum_version = policy.maximum
    try:
        context.set_ciphers(f"{policy.ciphers}:{_ANY_UPLOADED_CERTIFICATE}")
    except ssl.SSLError as exc:  # a local OpenSSL without some suites: keep its defaults
        log.warning("cipher string %r rejected by local OpenSSL: %s", policy.ciphers, exc)
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE


def _trust_client_cas(context: ssl.SSLContext, ca_pem: str) -> None:
    # cadata takes every certificate of a concatenated bundle: that is CA rollover.
    try:
        context.load_verify_locations(cadata=ca_pem)
    except (ssl.SSLError, ValueError) as exc:
        raise TlsMaterialError(f"client CA bundle cannot be loaded: {exc}") from None
    context.verify_mode = ssl.CERT_REQUIRED


def _refuse_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    raise TlsMaterialError("the server private key is encrypted; upload it unencrypted")


def _load_server_pair(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    with tempfile.TemporaryDirectory(prefix="elb-dp-") as private_dir:
        cert_path = _write_private(Path(private_dir) / "cert.pem", cert_pem)
        key_path = _write_private(Path(private_dir) / "key.pem", key_pem)
        try:
            context.load_cert_chain(cert_path, key_path, password=_refuse_password)
        except ssl.SSLError as exc:
            # The message names OpenSSL's reason only, never the file content.
            raise TlsMaterialError(f"server certificate/key cannot be loaded: {exc}") from None


def _write_private(path: Path, text: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii", errors="replace") as handle:
        handle.write(text)
    return str(path)
