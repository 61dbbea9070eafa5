"""Why an existing certificate no longer matches its spec entry: pure functions of the
certificate, the spec entry and `now`, one reason string each (or None).

`store.py` combines them (with the subject, key type and issuer checks that need the run's
other certificates); the reasons are what plan shows after "(known after apply: ...)".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from elb_mtls_deploy.pki.bundle import san_of
from elb_mtls_deploy.spec.model import GeneratedCA, GeneratedClient, GeneratedServer

Generated = GeneratedCA | GeneratedServer | GeneratedClient


def san_reason(cert: Generated, certificate: x509.Certificate) -> str | None:
    if not isinstance(cert, GeneratedServer):
        return None
    dns, ips = san_of(certificate)
    if set(dns) != set(cert.dns_names) or set(ips) != set(cert.ip_addresses):
        return "subjectAltName changed"
    return None


def purpose_reason(cert: Generated, certificate: x509.Certificate) -> str | None:
    wanted = {
        GeneratedServer: ExtendedKeyUsageOID.SERVER_AUTH,
        GeneratedClient: ExtendedKeyUsageOID.CLIENT_AUTH,
    }.get(type(cert))
    if wanted is None:
        return None
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "extendedKeyUsage missing"
    return None if wanted in eku else "extendedKeyUsage changed"


def expiry_reason(
    certificate: x509.Certificate, renew_before_days: int, now: datetime
) -> str | None:
    end = certificate.not_valid_after_utc
    if now >= end:
        return f"expired on {end:%Y-%m-%d}"
    if end - now <= timedelta(days=renew_before_days):
        return f"expires on {end:%Y-%m-%d}, within renew_before_days={renew_before_days}"
    return None
