"""Certificate identity survives the PEM layouts the API is documented to return.

The v3 examples return PEM without newlines, the v2 examples with doubled newlines
(docs/api-notes.md §10.3); an unchanged certificate must keep its fingerprint.
"""

from __future__ import annotations

import pytest
import trustme

from elb_mtls_deploy.certinfo import identify, normalise_pem

CA = trustme.CA()
LEAF = CA.issue_cert("a.test")
PEM = LEAF.cert_chain_pems[0].bytes().decode() + CA.cert_pem.bytes().decode()


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(lambda p: p.replace("\n", "\n\n"), id="doubled newlines (v2 examples)"),
        pytest.param(lambda p: p.replace("\n", ""), id="no newlines (v3 examples)"),
        pytest.param(lambda p: p.replace("\n", "\r\n"), id="CRLF"),
        pytest.param(lambda p: p.replace("\n", "\\n"), id="escaped newlines"),
        pytest.param(lambda p: "  " + p.replace("\n", " \n"), id="stray spaces"),
    ],
)
def test_fingerprint_is_the_same_for_every_layout(layout: object) -> None:
    assert callable(layout)
    assert identify(layout(PEM)) == identify(PEM)


def test_normalised_pem_is_canonical_and_keeps_the_chain_order() -> None:
    text = normalise_pem(PEM.replace("\n", "\n\n"))
    assert text == PEM.replace("\r", "")
    assert len(identify(text).chain) == 1


def test_text_without_a_certificate_is_still_an_error() -> None:
    with pytest.raises(ValueError):
        identify("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")


def damaged_version() -> str:
    """A certificate whose version field says v6: cryptography raises InvalidVersion,
    which is not a ValueError."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(CA.cert_pem.bytes()).public_bytes(
        serialization.Encoding.DER
    )
    at = der.find(bytes([0xA0, 0x03, 0x02, 0x01, 0x02]))
    bad = der[:at] + bytes([0xA0, 0x03, 0x02, 0x01, 0x05]) + der[at + 5 :]
    body = base64.encodebytes(bad).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"


def test_a_damaged_version_field_is_an_unreadable_certificate_not_a_crash() -> None:
    with pytest.raises(ValueError):
        identify(damaged_version())


def test_the_pki_reports_a_damaged_version_field_as_a_certificate_error() -> None:
    from elb_mtls_deploy.errors import CertificateError
    from elb_mtls_deploy.pki.pem import parse_certificates

    with pytest.raises(CertificateError, match="damaged PEM certificate"):
        parse_certificates(damaged_version().encode(), "imported/www.crt")
