"""PKCS#11 key URIs (RFC 7512): parsed without a token; the PIN comes from the environment
and never appears in a message. The token itself is exercised in tests/verify/test_pki_hsm.py."""

from __future__ import annotations

import pytest

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki.pkcs11 import is_uri, parse_uri

URI = "pkcs11:token=elb%20ca;object=client-ca?module-path=/usr/lib/x.so&pin-source=env:HSM_PIN"


def test_a_uri_names_token_key_module_and_takes_the_pin_from_the_environment() -> None:
    uri = parse_uri(URI, {"HSM_PIN": "s3cret-pin"}, "CLIENT_CA_KEY")
    assert (uri.token, uri.label, uri.module) == ("elb ca", "client-ca", "/usr/lib/x.so")
    assert uri.pin == "s3cret-pin" and "s3cret-pin" not in repr(uri)
    assert is_uri(URI) and not is_uri("-----BEGIN PRIVATE KEY-----") and not is_uri(None)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (URI, {}, "environment variable HSM_PIN is not set"),
        ("pkcs11:token=elb?module-path=/x.so&pin-value=1", {}, "lacks object"),
        ("pkcs11:token=elb;object=k?module-path=/x.so", {}, "gives no PIN"),
    ],
)
def test_an_incomplete_uri_is_a_clear_error(text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(CertificateError, match=message) as caught:
        parse_uri(text, env, "CLIENT_CA_KEY")
    assert "CLIENT_CA_KEY" in str(caught.value) or "HSM_PIN" in str(caught.value)
