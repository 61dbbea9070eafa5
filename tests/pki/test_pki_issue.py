"""Issuance: every certificate we make parses back with the profile we claim, and openssl —
an independent implementation — verifies the chain and shows the same extensions."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import Issued, issue_ca, issue_client, issue_server
from elb_mtls_deploy.spec.model import Subject

OpenSSL = Callable[..., subprocess.CompletedProcess[str]]
CA_SUBJECT = Subject(common_name="Demo CA", organization="ELB", country="CN")


def _write(tmp_path: Path, **items: Issued) -> dict[str, Path]:
    paths = {}
    for name, issued in items.items():
        paths[name] = tmp_path / f"{name}.crt"
        paths[name].write_text(issued.certificate_pem)
    return paths


@pytest.fixture(params=["ec-p256", "rsa-2048", "ec-p384"])
def key_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def trio(key_type: str, now: datetime) -> tuple[Issued, Issued, Issued]:
    ca = issue_ca(CA_SUBJECT, key_type, 3650, now)
    server = issue_server(
        ca, Subject(common_name="www.test.com"), key_type, 397, now,
        dns_names=("www.test.com",), ip_addresses=("127.0.0.1",),
    )  # fmt: skip
    client = issue_client(ca, Subject(common_name="alice", organization="ELB"), key_type, 397, now)
    return ca, server, client


def _ext(
    cert: x509.Certificate, kind: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(kind)


def test_ca_profile(trio: tuple[Issued, Issued, Issued], now: datetime) -> None:
    ca = trio[0].certificate
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert _ext(ca, x509.SubjectKeyIdentifier)
    assert ca.subject == ca.issuer
    assert ca.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "CN"
    now = now.replace(microsecond=0)  # X.509 times have whole seconds
    assert ca.not_valid_before_utc == now - timedelta(minutes=5)
    assert ca.not_valid_after_utc == now + timedelta(days=3650)


def test_server_profile(trio: tuple[Issued, Issued, Issued]) -> None:
    ca, server = trio[0].certificate, trio[1].certificate
    bc = server.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.test.com"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    aki = server.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert server.issuer == ca.subject
    server.verify_directly_issued_by(ca)


def test_client_profile(trio: tuple[Issued, Issued, Issued]) -> None:
    client = trio[2].certificate
    eku = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        client.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_signature_hash_follows_key(trio: tuple[Issued, Issued, Issued], key_type: str) -> None:
    expected = hashes.SHA384 if key_type == "ec-p384" else hashes.SHA256
    assert all(isinstance(i.certificate.signature_hash_algorithm, expected) for i in trio)


def test_rsa_leaf_allows_key_encipherment_ec_does_not(now: datetime) -> None:
    for key_type, expected in (("rsa-2048", True), ("ec-p256", False)):
        ca = issue_ca(CA_SUBJECT, key_type, 30, now)
        leaf = issue_client(ca, Subject(common_name="x"), key_type, 30, now).certificate
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.digital_signature
        assert ku.value.key_encipherment is expected


def test_serials_are_random_and_positive(now: datetime) -> None:
    ca = issue_ca(CA_SUBJECT, "ec-p256", 30, now)
    serials = {
        issue_client(ca, Subject(common_name="x"), "ec-p256", 30, now).certificate.serial_number
        for _ in range(5)
    }
    assert len(serials) == 5 and all(0 < s < 2**159 for s in serials)


def test_openssl_verifies_what_we_issue(
    trio: tuple[Issued, Issued, Issued], tmp_path: Path, openssl: OpenSSL
) -> None:
    paths = _write(tmp_path, ca=trio[0], server=trio[1], client=trio[2])
    for leaf, purpose in (("server", "sslserver"), ("client", "sslclient")):
        done = openssl("verify", "-purpose", purpose, "-CAfile", str(paths["ca"]), str(paths[leaf]))
        assert done.stdout.strip().endswith(": OK")


def test_openssl_rejects_a_foreign_ca(
    trio: tuple[Issued, Issued, Issued], tmp_path: Path, openssl: OpenSSL, now: datetime
) -> None:
    foreign = issue_ca(CA_SUBJECT, "ec-p256", 30, now)  # same name, different key
    paths = _write(tmp_path, ca=foreign, server=trio[1])
    done = openssl("verify", "-CAfile", str(paths["ca"]), str(paths["server"]), check=False)
    assert done.returncode != 0


def test_openssl_shows_the_extensions_we_claim(
    trio: tuple[Issued, Issued, Issued], tmp_path: Path, openssl: OpenSSL, key_type: str
) -> None:
    paths = _write(tmp_path, ca=trio[0], server=trio[1], client=trio[2])
    text = {n: openssl("x509", "-in", str(p), "-text", "-noout").stdout for n, p in paths.items()}
    algorithm = {
        "rsa-2048": "sha256WithRSAEncryption",
        "ec-p256": "ecdsa-with-SHA256",
        "ec-p384": "ecdsa-with-SHA384",
    }[key_type]
    assert all(f"Signature Algorithm: {algorithm}" in t for t in text.values())
    assert "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0" in text["ca"]
    assert (
        "X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign, CRL Sign"
        in text["ca"]
    )
    assert "CA:FALSE" in text["server"] and "TLS Web Server Authentication" in text["server"]
    assert "DNS:www.test.com, IP Address:127.0.0.1" in text["server"]
    assert "TLS Web Client Authentication" in text["client"]
    assert "Subject Alternative Name" not in text["client"]


def test_explicit_validity_makes_expired_clients_for_negative_tests(now: datetime) -> None:
    ca = issue_ca(CA_SUBJECT, "ec-p256", 30, now)
    expired = issue_client(
        ca, Subject(common_name="old"), "ec-p256", 1, now,
        not_before=now - timedelta(days=10), not_after=now - timedelta(days=1),
    )  # fmt: skip
    assert expired.certificate.not_valid_after_utc == (now - timedelta(days=1)).replace(
        microsecond=0
    )


def test_issuing_from_a_bundle_with_its_key(now: datetime) -> None:
    ca = issue_ca(CA_SUBJECT, "ec-p256", 30, now)
    leaf = issue_client(ca.to_bundle("ca", "ca"), Subject(common_name="x"), "ec-p256", 30, now)
    leaf.certificate.verify_directly_issued_by(ca.certificate)


def test_a_bundle_without_key_cannot_sign(now: datetime) -> None:
    ca = issue_ca(CA_SUBJECT, "ec-p256", 30, now)
    bundle = ca.to_bundle("ca", "ca")
    keyless = type(bundle)(**{**bundle.__dict__, "key_pem": None})
    with pytest.raises(CertificateError, match="no private key"):
        issue_client(keyless, Subject(common_name="x"), "ec-p256", 30, now)


def test_server_needs_a_san(now: datetime) -> None:
    ca = issue_ca(CA_SUBJECT, "ec-p256", 30, now)
    with pytest.raises(CertificateError, match="DNS name or IP"):
        issue_server(ca, Subject(common_name="x"), "ec-p256", 30, now)


def test_naive_now_is_refused() -> None:
    with pytest.raises(CertificateError, match="timezone-aware"):
        issue_ca(CA_SUBJECT, "ec-p256", 30, datetime(2030, 1, 1))
