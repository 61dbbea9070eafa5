"""The forwarding headers the data plane adds to each proxied request (pure functions).

Owns the reading of a listener's ``insert_headers`` switches, the header names (with the
``...-alias`` renames) and the value formats, including the client-certificate pass-through
headers of mutual TLS. It must not do I/O: the caller passes in the facts of the connection.

Value formats follow nginx's ``$ssl_client_*`` variables, on the guess that the real ELB
(an nginx derivative) fills its headers from them; see docs/emulator-dataplane.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

CLIENTCERT = "X-Forwarded-Clientcert"
# Suffix -> header name; "" is the whole certificate (URL-encoded PEM).
CLIENTCERT_FIELDS = (
    "subjectdn",
    "issuerdn",
    "fingerprint",
    "clientverify",
    "serialnumber",
    "ciphers",
    "end",
    "",
)

# Added unless the listener switches them off explicitly (the brief's choice; the API
# exposes X-Forwarded-Port/-Proto switches whose real default we have not verified).
DEFAULT_ON = ("X-Forwarded-Proto", "X-Forwarded-Port")
# Added only when switched on in insert_headers.
OPTIONAL = (
    "X-Forwarded-ELB-IP",
    "X-Forwarded-For-Port",
    "X-Forwarded-Host",
    "X-Real-IP",
    "X-Forwarded-ELB-ID",
    "X-Forwarded-TLS-Certificate-ID",
    "X-Forwarded-TLS-Protocol",
    "X-Forwarded-TLS-Cipher",
)

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class ConnectionFacts:
    """What the proxy knows about one client connection and request."""

    client_ip: str
    client_port: int
    host: str | None  # the request's Host header
    tls_protocol: str  # e.g. "TLSv1.3"
    tls_cipher: str  # OpenSSL name, e.g. "TLS_AES_256_GCM_SHA384"
    client_ciphers: tuple[str, ...] = ()
    client_cert_der: bytes | None = None  # only present when verified (CERT_REQUIRED)


@dataclass(frozen=True)
class ListenerFacts:
    """What the proxy knows about the listener serving the connection."""

    loadbalancer_id: str
    vip_address: str
    protocol_port: int
    certificate_id: str  # the certificate presented on this connection
    insert_headers: Mapping[str, Any]


def switch(insert_headers: Mapping[str, Any], key: str) -> bool | None:
    """The boolean value of ``key`` (case-insensitive), or None when absent/unparseable."""
    value = _lookup(insert_headers, key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def clientcert_header_names(insert_headers: Mapping[str, Any]) -> dict[str, str]:
    """Enabled client-certificate fields -> the header name to send them under."""
    master = switch(insert_headers, f"{CLIENTCERT}-enable") is True
    names: dict[str, str] = {}
    for suffix in CLIENTCERT_FIELDS:
        base = f"{CLIENTCERT}-{suffix}" if suffix else CLIENTCERT
        own = switch(insert_headers, f"{base}-enable") if suffix else None
        if own is True or (master and own is not False):
            names[suffix] = _alias(insert_headers, base) or base
    return names


def managed_names(insert_headers: Mapping[str, Any]) -> frozenset[str]:
    """Lower-cased names the proxy owns: client copies of these are dropped (anti-spoofing)."""
    names = {name.lower() for name in (*DEFAULT_ON, *OPTIONAL)}
    if switch(insert_headers, "X-Forwarded-Host") is False:
        # Switched off, the ELB passes the client's own X-Forwarded-Host on (user guide
        # "HTTP Headers", docs/api-notes.md §10.2): it is then not the ELB's to own.
        names.discard("x-forwarded-host")
    names.update(name.lower() for name in clientcert_header_names(insert_headers).values())
    for suffix in CLIENTCERT_FIELDS:
        alias = _alias(insert_headers, f"{CLIENTCERT}-{suffix}" if suffix else CLIENTCERT)
        if alias:
            names.add(alias.lower())
    return frozenset(names)


def is_managed(name: str, managed: frozenset[str]) -> bool:
    lowered = name.lower()
    return lowered in managed or lowered.startswith(CLIENTCERT.lower())


def forwarded_headers(
    listener: ListenerFacts, conn: ConnectionFacts, prior_xff: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """The headers to add, in a stable order. ``prior_xff``: the client's own XFF values."""
    flags = listener.insert_headers
    # Huawei appends the client address to an existing X-Forwarded-For (user guide, headers).
    xff = ", ".join([*(v.strip() for v in prior_xff if v.strip()), conn.client_ip])
    out = [("X-Forwarded-For", xff)]
    values = _plain_values(listener, conn)
    for name in DEFAULT_ON:
        if switch(flags, name) is not False:
            out.append((name, values[name]))
    for name in OPTIONAL:
        if switch(flags, name) is True and values[name]:
            out.append((name, values[name]))
    if conn.client_cert_der is not None:
        out.extend(_clientcert_headers(flags, conn))
    return out


def _plain_values(listener: ListenerFacts, conn: ConnectionFacts) -> dict[str, str]:
    return {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": str(listener.protocol_port),
        "X-Forwarded-ELB-IP": listener.vip_address,
        "X-Forwarded-For-Port": str(conn.client_port),
        "X-Forwarded-Host": conn.host or "",
        "X-Real-IP": conn.client_ip,
        "X-Forwarded-ELB-ID": listener.loadbalancer_id,
        "X-Forwarded-TLS-Certificate-ID": listener.certificate_id,
        "X-Forwarded-TLS-Protocol": conn.tls_protocol,
        "X-Forwarded-TLS-Cipher": conn.tls_cipher,
    }


def _clientcert_headers(flags: Mapping[str, Any], conn: ConnectionFacts) -> list[tuple[str, str]]:
    names = clientcert_header_names(flags)
    if not names or conn.client_cert_der is None:
        return []
    values = clientcert_values(conn.client_cert_der, conn.client_ciphers)
    return [(names[suffix], values[suffix]) for suffix in CLIENTCERT_FIELDS if suffix in names]


def clientcert_values(der: bytes, client_ciphers: Iterable[str] = ()) -> dict[str, str]:
    """Every client-certificate field, formatted as the headers carry it."""
    cert = x509.load_der_x509_certificate(der)
    pem = cert.public_bytes(Encoding.PEM)
    return {
        "subjectdn": _ascii(cert.subject.rfc4514_string()),
        "issuerdn": _ascii(cert.issuer.rfc4514_string()),
        "fingerprint": hashlib.sha1(der).hexdigest(),  # nginx $ssl_client_fingerprint
        "clientverify": "SUCCESS",  # only verified certificates ever reach the proxy
        "serialnumber": format(cert.serial_number, "X"),
        "ciphers": ":".join(client_ciphers),
        "end": cert.not_valid_after_utc.strftime("%b %e %H:%M:%S %Y GMT"),
        "": quote(pem.decode("ascii"), safe=""),
    }


def _ascii(text: str) -> str:
    # Header values must stay ASCII: percent-encode anything else as UTF-8.
    return "".join(ch if ch.isascii() and ch.isprintable() else quote(ch) for ch in text)


def _alias(insert_headers: Mapping[str, Any], base: str) -> str | None:
    value = _lookup(insert_headers, f"{base}-alias")
    return value if isinstance(value, str) and _TOKEN.match(value) else None


def _lookup(mapping: Mapping[str, Any], key: str) -> Any:
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    return next((v for k, v in mapping.items() if k.lower() == lowered), None)
