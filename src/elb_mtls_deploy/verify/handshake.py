"""One real TLS connection and one HTTP request, classified: accepted, refused or unreachable.

Owns the client side of the handshake matrix with the standard library's `ssl`. It must
not print, and it must not leak key material: `ssl` loads a client key only from a file,
so the key passes through a 0600 file in a private 0700 temporary directory that is
removed right after loading (as the emulator's data plane does for server keys).

Why a request is always sent: with TLS 1.3 the client finishes its handshake before the
server has checked the client certificate, so a rejected certificate often surfaces only
as an alert, a reset or EOF on the first read. Any of those counts as "refused".
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Outcome = Literal["accepted", "refused", "unreachable"]

TIMEOUT_SECONDS = 5.0
# nginx-style load balancers may finish the handshake and answer these instead of an alert
# (495 certificate error, 496 no certificate); a body naming the SSL certificate on a 400
# is the same refusal. (guess: what real ELB does is not documented in the reference.)
_REFUSAL_STATUSES = (495, 496)

VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate (leaf PEM, then chain) and its key; the key is never shown."""

    label: str
    certificate_pem: str
    key_pem: str = ""

    def __repr__(self) -> str:
        return f"ClientIdentity({self.label!r})"


@dataclass(frozen=True)
class Attempt:
    """What one connection saw. `peer_der` is the served leaf (DER) when the handshake got
    that far; `version` the negotiated protocol; `status` the HTTP status if answered."""

    outcome: Outcome
    detail: str
    version: str | None = None
    peer_der: bytes | None = None
    status: int | None = None
    verify_error: str | None = None  # set when *our* check of the server certificate failed
    cannot_try: bool = False  # the local OpenSSL refused to offer what was asked
    server_alert: bool = False  # the handshake ended with an alert from the server


@dataclass(frozen=True)
class Probe:
    """How to connect: whom to trust (None = do not verify the server), which client
    certificate to present, the SNI / hostname, and protocol bounds."""

    server_name: str
    client: ClientIdentity | None = None
    trust_pem: str | None = None
    minimum: ssl.TLSVersion | None = None
    maximum: ssl.TLSVersion | None = None
    legacy_ciphers: bool = False


def attempt(host: str, port: int, probe: Probe) -> Attempt:
    """Connect, handshake, send `GET /`, read the status line; never raises for TLS trouble."""
    try:
        context = client_context(probe)
    except ssl.SSLError as exc:
        return Attempt(
            "unreachable", f"local OpenSSL cannot offer this: {_reason(exc)}", cannot_try=True
        )
    try:
        raw = socket.create_connection((host, port), timeout=TIMEOUT_SECONDS)
    except OSError as exc:
        return Attempt("unreachable", f"cannot connect to {host}:{port}: {_os_reason(exc)}")
    with raw:
        return _over(raw, context, probe)


def _over(raw: socket.socket, context: ssl.SSLContext, probe: Probe) -> Attempt:
    sni = probe.server_name or None
    try:
        tls = context.wrap_socket(raw, server_hostname=sni)
    except ssl.SSLCertVerificationError as exc:
        return Attempt(
            "refused",
            f"server certificate not trusted: {exc.verify_message}",
            verify_error=str(exc.verify_message),
        )
    except ssl.SSLError as exc:
        reason = _reason(exc)
        cannot = reason in ("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE")
        alert = "ALERT" in reason
        return Attempt(
            "refused", f"handshake failed: {reason}", cannot_try=cannot, server_alert=alert
        )
    except (ConnectionError, TimeoutError, OSError) as exc:
        return Attempt("refused", f"connection closed during the handshake: {_os_reason(exc)}")
    with tls:
        version = tls.version()
        peer = tls.getpeercert(binary_form=True)
        return _request(tls, probe.server_name, version, peer)


def _request(tls: ssl.SSLSocket, host: str, version: str | None, peer: bytes | None) -> Attempt:
    request = f"GET / HTTP/1.1\r\nHost: {host or 'localhost'}\r\nConnection: close\r\n\r\n"
    try:
        tls.sendall(request.encode("ascii"))
        head = _read_head(tls)
    except ssl.SSLError as exc:
        return Attempt("refused", f"TLS alert after the handshake: {_reason(exc)}", version, peer)
    except (ConnectionError, TimeoutError, OSError) as exc:
        return Attempt("refused", f"connection closed: {_os_reason(exc)}", version, peer)
    if not head:
        return Attempt("refused", "connection closed before any HTTP response", version, peer)
    status = _status(head)
    if status is None:
        return Attempt("refused", "no HTTP response (unparseable status line)", version, peer)
    if status in _REFUSAL_STATUSES or (status == 400 and b"ssl certificate" in head.lower()):
        return Attempt(
            "refused", f"HTTP {status}: client certificate rejected", version, peer, status
        )
    return Attempt("accepted", f"HTTP {status}", version, peer, status)


def _read_head(tls: ssl.SSLSocket) -> bytes:
    """The status line and headers, plus whatever body came with them (a 400 page may
    explain a certificate refusal). A timeout after the headers arrived is not an error."""
    data = b""
    while len(data) < 65536:
        try:
            chunk = tls.recv(4096)
        except TimeoutError:
            if b"\r\n\r\n" in data:
                break
            raise
        if not chunk:
            break
        data += chunk
        if _complete(data):
            break
    return data


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value.strip())
    return False


def _status(head: bytes) -> int | None:
    first = head.split(b"\r\n", 1)[0].split()
    if len(first) >= 2 and first[0].startswith(b"HTTP/") and first[1].isdigit():
        return int(first[1])
    return None


def client_context(probe: Probe) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if probe.trust_pem is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(cadata=probe.trust_pem)
        # An intermediate (or the leaf itself) from the spec may be the trust anchor.
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        context.check_hostname = bool(probe.server_name)
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: we offer them on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        if probe.minimum is not None:
            context.minimum_version = probe.minimum
        if probe.maximum is not None:
            context.maximum_version = probe.maximum
    if probe.legacy_ciphers:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.set_alpn_protocols(["http/1.1"])
    if probe.client is not None:
        _load_client(context, probe.client)
    return context


def _load_client(context: ssl.SSLContext, client: ClientIdentity) -> None:
    with tempfile.TemporaryDirectory(prefix="elb-verify-") as private_dir:
        cert = _write_private(Path(private_dir) / "client.crt", client.certificate_pem)
        key = _write_private(Path(private_dir) / "client.key", client.key_pem)
        context.load_cert_chain(cert, key, password=_no_password)


def _no_password() -> bytes:
    raise ssl.SSLError("the client key is encrypted")


def _write_private(path: Path, text: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    return str(path)


def _reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or type(exc).__name__)


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
