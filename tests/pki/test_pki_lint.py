"""The linter: each rule fires on a certificate built to break it, with its severity and a
fix, and stays quiet on what we issue."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from elb_mtls_deploy.pki import (
    Bundle,
    Finding,
    Issued,
    issue_ca,
    issue_client,
    issue_server,
    lint,
    lint_pem,
)
from elb_mtls_deploy.pki.issue import signature_hash
from elb_mtls_deploy.pki.keys import generate_key, key_to_pem
from elb_mtls_deploy.spec.model import Subject

CA = Subject(common_name="Lint CA")
LEAF = Subject(common_name="leaf")


@pytest.fixture
def ca(now: datetime) -> Issued:
    return issue_ca(CA, "ec-p256", 3650, now)


def only(findings: list[Finding], fragment: str) -> Finding:
    matching = [f for f in findings if fragment in f.problem]
    assert len(matching) == 1, findings
    assert matching[0].fix, matching[0]
    return matching[0]


def bare_ca(now: datetime, *extensions: tuple[x509.ExtensionType, bool]) -> Issued:
    """A self-signed certificate with exactly the given extensions."""
    key = generate_key("ec-p256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bare")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return Issued(builder.sign(key, signature_hash(key)), key)


def lint_issued(issued: Issued, role: str, now: datetime, **kwargs: object) -> list[Finding]:
    return lint_pem("x", role, issued.certificate_pem, key_pem=issued.key_pem, now=now, **kwargs)  # type: ignore[arg-type]


def test_what_we_issue_is_clean(ca: Issued, now: datetime) -> None:
    server = issue_server(ca, LEAF, "rsa-3072", 397, now, dns_names=("a.example",))
    client = issue_client(ca, LEAF, "ec-p384", 397, now)
    bundles = {
        "ca": ca.to_bundle("ca", "ca"),
        "web": server.to_bundle("web", "server", "ca"),
        "alice": client.to_bundle("alice", "client", "ca"),
    }
    assert lint(bundles, None, now) == []


def test_ca_without_critical_basic_constraints(now: datetime) -> None:
    ku = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
    missing = lint_issued(bare_ca(now, (ku, True)), "ca", now)
    assert only(missing, "basicConstraints").severity == "error"
    assert "it has none" in only(missing, "basicConstraints").problem
    not_critical = lint_issued(
        bare_ca(now, (x509.BasicConstraints(True, None), False), (ku, True)), "ca", now
    )
    assert "not marked critical" in only(not_critical, "basicConstraints").problem


def test_ca_without_key_cert_sign(now: datetime) -> None:
    findings = lint_issued(bare_ca(now, (x509.BasicConstraints(True, None), True)), "ca", now)
    assert only(findings, "keyCertSign").severity == "error"


def test_a_ca_used_as_a_server_certificate(ca: Issued, now: datetime) -> None:
    findings = lint_issued(ca, "server", now)
    assert only(findings, "used as a server certificate").severity == "error"
    assert only(findings, "subjectAltName").severity == "error"
    assert only(findings, "serverAuth").severity == "error"


def test_a_leaf_used_as_a_ca(ca: Issued, now: datetime) -> None:
    findings = lint_issued(issue_client(ca, LEAF, "ec-p256", 30, now), "ca", now)
    assert "it says CA:FALSE" in only(findings, "basicConstraints").problem
    assert only(findings, "keyCertSign").severity == "error"


def test_a_client_certificate_used_as_a_server_certificate(ca: Issued, now: datetime) -> None:
    findings = lint_issued(issue_client(ca, LEAF, "ec-p256", 90, now), "server", now)
    assert {f.problem for f in findings} == {
        "the server certificate lacks extendedKeyUsage serverAuth",
        "the server certificate has no subjectAltName; browsers and Python ignore the CN",
    }


def test_a_server_certificate_used_as_a_client_certificate(ca: Issued, now: datetime) -> None:
    server = issue_server(ca, LEAF, "ec-p256", 30, now, dns_names=("a.example",))
    assert only(lint_issued(server, "client", now), "clientAuth").severity == "error"


def test_small_rsa_key_is_an_error(ca: Issued, now: datetime) -> None:
    weak = issue_client(ca, LEAF, "rsa-2048", 30, now, key=rsa.generate_private_key(65537, 1024))
    assert only(lint_issued(weak, "client", now), "1024 bits").severity == "error"


def test_unusual_curve_is_a_warning(ca: Issued, now: datetime) -> None:
    odd = issue_client(ca, LEAF, "ec-p256", 30, now, key=ec.generate_private_key(ec.SECP521R1()))
    assert only(lint_issued(odd, "client", now), "secp521r1").severity == "warning"


def test_expired_and_not_yet_valid_are_errors(ca: Issued, now: datetime) -> None:
    old = issue_client(
        ca, LEAF, "ec-p256", 1, now,
        not_before=now - timedelta(days=10), not_after=now - timedelta(days=1),
    )  # fmt: skip
    assert only(lint_issued(old, "client", now), "expired on").severity == "error"
    future = issue_client(ca, LEAF, "ec-p256", 30, now, not_before=now + timedelta(days=1))
    assert only(lint_issued(future, "client", now), "not valid before").severity == "error"


def test_expiring_within_renew_before_is_a_warning(ca: Issued, now: datetime) -> None:
    soon = issue_client(ca, LEAF, "ec-p256", 20, now)
    assert only(lint_issued(soon, "client", now), "within 30 days").severity == "warning"
    assert lint_issued(soon, "client", now, renew_before_days=10) == []


def test_leaf_lifetime_over_398_days_is_a_warning(ca: Issued, now: datetime) -> None:
    assert lint_issued(issue_client(ca, LEAF, "ec-p256", 397, now), "client", now) == []
    long = issue_client(ca, LEAF, "ec-p256", 825, now)
    assert only(lint_issued(long, "client", now), "valid for 825 days").severity == "warning"
    assert lint_issued(issue_ca(CA, "ec-p256", 9000, now), "ca", now) == []  # CAs may live long


def test_a_leaf_from_another_ca_does_not_chain_to_the_known_ca(ca: Issued, now: datetime) -> None:
    stranger = issue_ca(CA, "ec-p256", 30, now)  # same name, different key
    leaf = issue_server(stranger, LEAF, "ec-p256", 30, now, dns_names=("a.example",))
    bundles = {"ca": ca.to_bundle("ca", "ca"), "web": leaf.to_bundle("web", "server", "ca")}
    finding = only(lint(bundles, None, now), "chain ends at")
    assert finding.severity == "error" and finding.certificate == "web"


def test_huawei_size_and_depth_limits(ca: Issued, now: datetime) -> None:
    rsa_ca = issue_ca(CA, "rsa-4096", 30, now)
    leaf = issue_server(rsa_ca, LEAF, "rsa-4096", 30, now, dns_names=("a.example",))
    twelve = leaf.certificate_pem + rsa_ca.certificate_pem * 11
    findings = lint_pem("big", "server", twelve, now=now)
    assert only(findings, "the chain has 12 certificates").severity == "error"
    assert 20000 < len(twelve) <= 65536
    assert only(findings, "the v3 SDK documents at most 20000").severity == "warning"
    huge = lint_pem("huge", "server", leaf.certificate_pem + rsa_ca.certificate_pem * 40, now=now)
    assert only(huge, "ELB accepts at most 65536").severity == "error"


def test_key_pem_over_8192_characters_is_an_error(ca: Issued, now: datetime) -> None:
    leaf = issue_client(ca, LEAF, "ec-p256", 30, now)
    padded = "Bag Attributes: " + "x" * 8200 + "\n" + leaf.key_pem  # as `openssl pkcs12` prints
    findings = lint_pem("x", "client", leaf.certificate_pem, key_pem=padded, now=now)
    assert only(findings, "private key PEM has").severity == "error"


def test_unreadable_input_is_a_finding_not_an_exception(now: datetime) -> None:
    findings = lint_pem("junk", "server", "not a certificate", now=now)
    assert findings[0].severity == "error" and "not a PEM certificate" in findings[0].problem
    ca = issue_ca(CA, "ec-p256", 30, now)
    bad_key = lint_pem("k", "ca", ca.certificate_pem, key_pem="garbage", now=now)
    assert "not a PEM private key" in bad_key[0].problem


def test_errors_sort_before_warnings_and_render_with_a_fix(ca: Issued, now: datetime) -> None:
    long = issue_client(ca, LEAF, "ec-p256", 825, now).to_bundle("long", "client")
    wrong = issue_client(ca, LEAF, "ec-p256", 90, now).to_bundle("wrong", "server")
    findings = lint({"long": long, "wrong": wrong}, None, now)
    assert [f.severity for f in findings] == ["error", "error", "warning"]
    assert str(findings[-1]).startswith("warning: long: the certificate is valid for 825 days")
    assert "\n  fix: " in str(findings[-1])


def test_bundle_key_mismatch_is_an_error(ca: Issued, now: datetime) -> None:
    bundle = issue_client(ca, LEAF, "ec-p256", 30, now).to_bundle("a", "client")
    other = Bundle(**{**bundle.__dict__, "key_pem": key_to_pem(generate_key("ec-p256"))})
    assert only(lint({"a": other}, None, now), "does not belong").severity == "error"
