"""The listener ``insert_headers`` object: which switches exist and how updates apply.

Names are the SDK 3.1.219 models' wire names (``v3/model/listener_insert_headers.py``,
``v2/model/insert_header.py``). Constraints from the same docstrings: the client-certificate
and TLS pass-through switches exist only on HTTPS, TERMINATED_HTTPS and QUIC listeners, the
X-Forwarded-For processing mode only on HTTP-family listeners. Updates merge into the current
switches (unverified; docs/api-notes.md §10.2). Pure functions; errors are ``exceptions``.
"""

from __future__ import annotations

from typing import Any

from .exceptions import InvalidParameter

_BASIC = (
    "X-Forwarded-ELB-IP",
    "X-Forwarded-Port",
    "X-Forwarded-For-Port",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Real-IP",
    "X-Forwarded-ELB-ID",
)
_TLS_SUFFIXES = (
    *("subjectdn", "issuerdn", "fingerprint", "clientverify"),
    *("serialnumber", "ciphers", "end"),
)
_TLS_ONLY = frozenset(
    {
        "X-Forwarded-TLS-Certificate-ID",
        "X-Forwarded-TLS-Protocol",
        "X-Forwarded-TLS-Cipher",
        "X-Forwarded-TLS-Protocol-alias",
        "X-Forwarded-TLS-Cipher-alias",
        "X-Forwarded-Clientcert-enable",
        "X-Forwarded-Clientcert-alias",
        *(f"X-Forwarded-Clientcert-{s}-{k}" for s in _TLS_SUFFIXES for k in ("enable", "alias")),
        *(
            f"X-Forwarded-Tls-{s}-{k}"
            for s in ("Alpn-Protocol", "Sni", "Ja3", "Ja4")
            for k in ("enable", "alias")
        ),
    }
)
PROCESSING_MODE = "X-Forwarded-For-Processing-Mode"
NAMES = {
    "v3": frozenset({*_BASIC, *_TLS_ONLY, PROCESSING_MODE}),
    "v2": frozenset({"X-Forwarded-ELB-IP", "X-Forwarded-Host"}),
}
TLS_LISTENERS = frozenset({"HTTPS", "TERMINATED_HTTPS", "QUIC"})
HTTP_LISTENERS = frozenset({"HTTP", "HTTPS", "TERMINATED_HTTPS", "QUIC"})
_MODES = frozenset({"append", "remove", "preserve"})


def merge(current: dict[str, Any], sent: Any, protocol: str, version: str) -> dict[str, Any]:
    """The switches after applying ``sent`` (null = no change) to a ``protocol`` listener."""
    if sent is None:
        return dict(current)
    if not isinstance(sent, dict):
        raise InvalidParameter("Invalid parameter: 'insert_headers' must be an object")
    merged = dict(current)
    for name, value in sent.items():
        _check(name, value, protocol, version)
        if value is not None:
            merged[name] = value
    return merged


def _check(name: str, value: Any, protocol: str, version: str) -> None:
    if name not in NAMES[version]:
        raise InvalidParameter(f"Invalid parameter: unknown insert_headers key '{name}'")
    if value is None:
        return
    if name in _TLS_ONLY and protocol not in TLS_LISTENERS:
        raise InvalidParameter(
            f"Invalid parameter: insert_headers '{name}' is only for HTTPS, TERMINATED_HTTPS "
            f"and QUIC listeners, not {protocol}"
        )
    if name == PROCESSING_MODE:
        if protocol not in HTTP_LISTENERS or value not in _MODES:
            raise InvalidParameter(
                f"Invalid parameter: '{name}' must be append, remove or preserve on an "
                "HTTP-family listener"
            )
        return
    expected = str if name.endswith("-alias") else bool
    if not isinstance(value, expected):
        raise InvalidParameter(
            f"Invalid parameter: insert_headers '{name}' must be a {expected.__name__}"
        )
