"""`deploy sign`: sign a client's own certificate request with a CA of the spec.

The client makes its key on the device (`openssl req -new -newkey ec -pkeyopt
ec_paramgen_curve:P-256 -keyout device.key -out device.csr`) and sends only the CSR, so
the key never leaves it. The CA's key is loaded as for issuing (PKI directory, an
encrypted file, an environment variable or a PKCS#11 token). Read-only on the PKI
directory; the caller writes the certificate.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from cryptography import x509

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki.issue import issue_for_request
from elb_mtls_deploy.pki.keys import key_type_of
from elb_mtls_deploy.pki.store import signer_of
from elb_mtls_deploy.spec.model import Spec


def read_request(data: bytes, where: str) -> x509.CertificateSigningRequest:
    """A PEM CSR whose self-signature holds (the requester has the key) and whose key type
    ELB accepts."""
    try:
        request = x509.load_pem_x509_csr(data)
    except ValueError:
        raise CertificateError(
            f"{where} is not a PEM certificate request",
            hint="give the CSR made with `openssl req -new` (-----BEGIN CERTIFICATE REQUEST-----)",
        ) from None
    if not request.is_signature_valid:
        raise CertificateError(
            f"the signature of the request in {where} does not verify",
            hint="make the request again with the device's key",
        )
    if key_type_of(request.public_key()) is None:
        raise CertificateError(
            f"the request in {where} has a key ELB does not accept",
            hint="use RSA 2048/3072/4096 or EC P-256/P-384",
        )
    return request


def sign_request(
    spec: Spec,
    base_dir: Path,
    env: Mapping[str, str],
    ca: str,
    request: x509.CertificateSigningRequest,
    validity_days: int,
    now: datetime,
) -> x509.Certificate:
    if spec.ca(ca) is None:
        names = ", ".join(c.name for c in spec.certificates.cas) or "none"
        raise CertificateError(f"{ca!r} is not a CA of this spec", hint=f"use one of: {names}")
    return issue_for_request(signer_of(spec, base_dir, env, ca), request, validity_days, now)
