"""The data plane's pure parts: header switches and formats, member choice, TLS material."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import warnings
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from elb_mtls_deploy.emulator.data.contract import ServedListener, ServedMember
from elb_mtls_deploy.emulator.data.headers import (
    ConnectionFacts,
    ListenerFacts,
    clientcert_header_names,
    clientcert_values,
    forwarded_headers,
    is_managed,
    managed_names,
    switch,
)
from elb_mtls_deploy.emulator.data.proxy import WeightedRoundRobin
from elb_mtls_deploy.emulator.data.tls import POLICIES, TlsMaterialError, build_context, policy_for

# --- insert_headers switches -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("FALSE", False), ("yes", None), (1, None)],
)
def test_switch_reads_booleans_and_their_strings(value: Any, expected: bool | None) -> None:
    assert switch({"x-real-ip": value}, "X-Real-IP") is expected


def test_master_switch_enables_every_clientcert_header_but_explicit_false_wins() -> None:
    names = clientcert_header_names(
        {"X-Forwarded-Clientcert-enable": True, "X-Forwarded-Clientcert-end-enable": False}
    )
    assert set(names) == {"subjectdn", "issuerdn", "fingerprint", "clientverify",
                          "serialnumber", "ciphers", ""}  # fmt: skip
    assert names[""] == "X-Forwarded-Clientcert"


def test_single_switch_and_alias() -> None:
    names = clientcert_header_names(
        {
            "X-Forwarded-Clientcert-fingerprint-enable": True,
            "X-Forwarded-Clientcert-fingerprint-alias": "X-Client-FP",
            "X-Forwarded-Clientcert-serialnumber-enable": True,
            "X-Forwarded-Clientcert-serialnumber-alias": "bad alias!",
        }
    )
    assert names == {
        "fingerprint": "X-Client-FP",
        "serialnumber": "X-Forwarded-Clientcert-serialnumber",
    }


def test_managed_names_cover_defaults_aliases_and_the_clientcert_family() -> None:
    managed = managed_names({"X-Forwarded-Clientcert-subjectdn-alias": "X-DN"})
    assert is_managed("x-dn", managed)
    assert is_managed("X-Forwarded-Clientcert-anything", managed)
    assert is_managed("X-Forwarded-TLS-Cipher", managed)
    assert not is_managed("Authorization", managed)


def test_x_forwarded_host_switched_off_passes_the_clients_own_header() -> None:
    # "If this option is disabled, the X-Forwarded-Host header of the client will be
    # transmitted to the backend servers" (Huawei user guide, HTTP Headers).
    assert is_managed("X-Forwarded-Host", managed_names({"X-Forwarded-Host": True}))
    assert not is_managed("X-Forwarded-Host", managed_names({"X-Forwarded-Host": False}))


# --- header values -----------------------------------------------------------------------


def _listener_facts(flags: dict[str, Any]) -> ListenerFacts:
    return ListenerFacts("lb-1", "192.0.2.10", 443, "cert-1", flags)


def _conn(der: bytes | None = None) -> ConnectionFacts:
    return ConnectionFacts("198.51.100.7", 50123, "app.example", "TLSv1.3",
                           "TLS_AES_128_GCM_SHA256", ("A", "B"), der)  # fmt: skip


def test_default_headers_without_switches() -> None:
    assert forwarded_headers(_listener_facts({}), _conn()) == [
        ("X-Forwarded-For", "198.51.100.7"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "443"),
    ]


def test_every_plain_switch() -> None:
    flags = {name: True for name in ("X-Forwarded-ELB-IP", "X-Forwarded-For-Port",
             "X-Forwarded-Host", "X-Real-IP", "X-Forwarded-ELB-ID",
             "X-Forwarded-TLS-Certificate-ID", "X-Forwarded-TLS-Protocol",
             "X-Forwarded-TLS-Cipher")}  # fmt: skip
    flags["X-Forwarded-Port"] = False
    headers = dict(forwarded_headers(_listener_facts(flags), _conn(), ["10.0.0.1"]))
    assert headers == {
        "X-Forwarded-For": "10.0.0.1, 198.51.100.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-ELB-IP": "192.0.2.10",
        "X-Forwarded-For-Port": "50123",
        "X-Forwarded-Host": "app.example",
        "X-Real-IP": "198.51.100.7",
        "X-Forwarded-ELB-ID": "lb-1",
        "X-Forwarded-TLS-Certificate-ID": "cert-1",
        "X-Forwarded-TLS-Protocol": "TLSv1.3",
        "X-Forwarded-TLS-Cipher": "TLS_AES_128_GCM_SHA256",
    }


def _client_der() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Zoë"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme, Inc")])  # fmt: skip
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(0x0A1B2C)
        .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 3, 5, 7, 8, 9, tzinfo=dt.UTC))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_clientcert_value_formats() -> None:
    der = _client_der()
    values = clientcert_values(der, ["ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256"])
    assert values["subjectdn"] == "O=Acme\\, Inc,CN=Zo%C3%AB"
    assert values["issuerdn"] == "CN=Test CA"
    assert values["fingerprint"] == hashlib.sha1(der).hexdigest()
    assert values["clientverify"] == "SUCCESS"
    assert values["serialnumber"] == "A1B2C"
    assert values["ciphers"] == "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256"
    assert values["end"] == "Mar  5 07:08:09 2030 GMT"
    assert values[""].startswith("-----BEGIN%20CERTIFICATE-----%0A")


def test_clientcert_headers_only_with_a_verified_certificate() -> None:
    flags = {"X-Forwarded-Clientcert-clientverify-enable": True}
    with_cert = forwarded_headers(_listener_facts(flags), _conn(_client_der()))
    without = forwarded_headers(_listener_facts(flags), _conn())
    assert ("X-Forwarded-Clientcert-clientverify", "SUCCESS") in with_cert
    assert all(not name.startswith("X-Forwarded-Clientcert") for name, _ in without)


# --- weighted round robin ----------------------------------------------------------------


def test_smooth_weighted_round_robin_sequence_and_retry_order() -> None:
    a, b, c = ServedMember("a", 1, 5), ServedMember("b", 1, 1), ServedMember("c", 1, 1)
    balancer = WeightedRoundRobin([a, b, c, ServedMember("zero", 1, 0)])
    picks = [balancer.order() for _ in range(7)]
    assert [p[0].address for p in picks] == ["a", "a", "b", "a", "c", "a", "a"]
    assert picks[2] == [b, c, a]


def test_no_weighted_member_means_no_order() -> None:
    assert WeightedRoundRobin([ServedMember("a", 1, 0)]).order() == []


# --- TLS material and policies -----------------------------------------------------------


def _listener(cert_pem: str, key_pem: str, ca_pem: str | None = None, **kw: Any) -> ServedListener:
    return ServedListener("l", "n", "lb", "HTTPS", 443, 0, cert_pem, key_pem, ca_pem, "c", **kw)


def _self_signed(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    ("key", "key_format"),
    [
        (rsa.generate_private_key(65537, 2048), serialization.PrivateFormat.TraditionalOpenSSL),
        (rsa.generate_private_key(65537, 2048), serialization.PrivateFormat.PKCS8),
        (ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.TraditionalOpenSSL),
        (ec.generate_private_key(ec.SECP384R1()), serialization.PrivateFormat.PKCS8),
    ],
    ids=["rsa-pkcs1", "rsa-pkcs8", "ec-sec1", "ec-pkcs8"],
)
def test_server_keys_in_every_uploaded_format_load(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, key_format: serialization.PrivateFormat
) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, key_format, serialization.NoEncryption()
    ).decode()
    assert isinstance(build_context(_listener(_self_signed(key), key_pem)), ssl.SSLContext)


def test_encrypted_key_is_refused_without_prompting() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    ).decode()
    with pytest.raises(TlsMaterialError, match="encrypted"):
        build_context(_listener(_self_signed(key), key_pem))


def test_mismatched_key_and_garbage_ca_are_refused() -> None:
    cert = _self_signed(ec.generate_private_key(ec.SECP256R1()))
    other = ec.generate_private_key(ec.SECP256R1())
    other_pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(TlsMaterialError, match="server certificate/key"):
        build_context(_listener(cert, other_pem))
    leaf = trustme.CA().issue_cert("127.0.0.1")
    pair = (leaf.cert_chain_pems[0].bytes().decode(), leaf.private_key_pem.bytes().decode())
    with pytest.raises(TlsMaterialError, match="client CA"):
        build_context(_listener(*pair, ca_pem="not a certificate"))


def test_client_ca_bundle_means_certificates_required() -> None:
    leaf = trustme.CA().issue_cert("127.0.0.1")
    bundle = trustme.CA().cert_pem.bytes().decode() + trustme.CA().cert_pem.bytes().decode()
    pair = (leaf.cert_chain_pems[0].bytes().decode(), leaf.private_key_pem.bytes().decode())
    context = build_context(_listener(*pair, ca_pem=bundle))
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.cert_store_stats()["x509_ca"] == 2
    assert build_context(_listener(*pair)).verify_mode == ssl.CERT_NONE


def test_policy_table_versions() -> None:
    assert policy_for("tls-1-1").minimum == ssl.TLSVersion.TLSv1_1
    assert policy_for("tls-1-2-fs-with-1-3").maximum == ssl.TLSVersion.TLSv1_3
    assert all(p.maximum == ssl.TLSVersion.TLSv1_2 for n, p in POLICIES.items() if "1-3" not in n)
    assert policy_for("custom-policy-id") == POLICIES["tls-1-2"]


def test_every_policy_builds_a_context() -> None:
    leaf = trustme.CA().issue_cert("127.0.0.1")
    pair = (leaf.cert_chain_pems[0].bytes().decode(), leaf.private_key_pem.bytes().decode())
    for name in POLICIES:
        context = build_context(_listener(*pair, tls_ciphers_policy=name))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert context.minimum_version == POLICIES[name].minimum
