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
