"""The matrix's decisions with a scripted `connect`: no sockets, literal outcomes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from elb_mtls_deploy.errors import DeployError
from elb_mtls_deploy.verify.handshake import Attempt, ClientIdentity, Probe, _complete, _status
from elb_mtls_deploy.verify.junit import to_xml
from elb_mtls_deploy.verify.matrix import Material, Result, run_matrix
from elb_mtls_deploy.verify.target import Where, parse_address

NOW = datetime(2030, 1, 1, tzinfo=UTC)
WHERE = Where("www", "127.0.0.1", 8443, "emulator data plane")
DER = b"leaf"
FP = "5a6c0a9a3b2e79d0d4b4b9c3a0a8a3d4f4e1e5f3c6c0c8e2f0f3c4b2b1a0a9a8"  # not sha256(DER)


def identity(label: str) -> ClientIdentity:
    return ClientIdentity(label, "CERT", "KEY")


def material(**overrides: object) -> Material:
    import hashlib

    values: dict[str, object] = dict(
        listener="www",
        mutual=True,
        client_cas=("client-ca",),
        server_name="www.test.com",
        server_fingerprint=hashlib.sha256(DER).hexdigest(),
        server_label="www",
        trust_pem="CA",
        policy="tls-1-2",
        valid=identity("teller"),
        valid_note="spec client teller (issuer client-ca)",
        foreign=identity("foreign"),
        expired=identity("expired"),
        expired_note="client-ca",
        clients=(),
    )
    values.update(overrides)
    return Material(**values)  # type: ignore[arg-type]


OK = Attempt("accepted", "HTTP 200", "TLSv1.2", DER, 200)
REFUSED = Attempt("refused", "handshake failed: TLSV1_ALERT_UNKNOWN_CA", server_alert=True)


def scripted(mutual_on: bool = True, old_tls: Attempt = REFUSED) -> object:
    def connect(host: str, port: int, probe: Probe) -> Attempt:
        if probe.minimum is not None:
            return old_tls
        if probe.client is None or probe.client.label in ("foreign", "expired"):
            return OK if not mutual_on else REFUSED
        return OK

    return connect


def by_check(results: list[Result]) -> dict[str, str]:
    return {r.check: r.status for r in results}


def test_correct_mutual_listener() -> None:
    results = run_matrix(WHERE, material(), scripted())  # type: ignore[arg-type]
    assert by_check(results) == {
        "valid-client": "pass",
        "no-client-cert": "pass",
        "foreign-ca": "pass",
        "expired-client": "pass",
        "server-fingerprint": "pass",
        "hostname": "pass",
        "tls-version": "pass",
        "old-tls-refused": "pass",
    }


def test_mutual_auth_off_names_no_client_cert() -> None:
    results = run_matrix(WHERE, material(), scripted(mutual_on=False))  # type: ignore[arg-type]
    failed = {r.check: r.detail for r in results if r.status == "fail"}
    assert set(failed) == {"no-client-cert", "foreign-ca", "expired-client"}
    assert "mutual auth appears to be off on listener www" in failed["no-client-cert"]


def test_one_way_subset() -> None:
    m = material(mutual=False, client_cas=(), valid=None, foreign=None, expired=None)
    checks = [r.check for r in run_matrix(WHERE, m, scripted(mutual_on=False))]  # type: ignore[arg-type]
    assert checks == ["connect", "server-fingerprint", "hostname", "tls-version", "old-tls-refused"]


def test_without_a_ca_key_expired_is_skipped_with_the_reason() -> None:
    m = material(expired=None, expired_note="the key of client-ca is not available")
    [row] = [r for r in run_matrix(WHERE, m, scripted()) if r.check == "expired-client"]  # type: ignore[arg-type]
    assert row.status == "skip" and "not available" in row.detail


def test_local_openssl_without_tls11_skips_the_old_version_check() -> None:
    cannot = Attempt("unreachable", "local OpenSSL cannot offer this", cannot_try=True)
    results = run_matrix(WHERE, material(), scripted(old_tls=cannot))  # type: ignore[arg-type]
    [row] = [r for r in results if r.check == "old-tls-refused"]
    assert row.status == "skip" and "cannot offer TLSv1.1" in row.detail


def test_old_tls_accepted_fails() -> None:
    results = run_matrix(WHERE, material(), scripted(old_tls=OK))  # type: ignore[arg-type]
    assert by_check(results)["old-tls-refused"] == "fail"


def test_policy_allowing_tls10_has_nothing_older_to_try() -> None:
    results = run_matrix(WHERE, material(policy="tls-1-0"), scripted())  # type: ignore[arg-type]
    assert by_check(results)["old-tls-refused"] == "skip"


def test_wrong_fingerprint_and_low_version() -> None:
    old = Attempt("accepted", "HTTP 200", "TLSv1.1", b"other", 200)

    def connect(host: str, port: int, probe: Probe) -> Attempt:
        teller = probe.client is not None and probe.client.label == "teller"
        return old if teller and probe.minimum is None else REFUSED

    failed = {r.check for r in run_matrix(WHERE, material(), connect) if r.status == "fail"}
    assert failed == {"server-fingerprint", "tls-version"}


def test_unreachable_is_one_row() -> None:
    def connect(host: str, port: int, probe: Probe) -> Attempt:
        return Attempt("unreachable", "cannot connect to 127.0.0.1:8443: Connection refused")

    [row] = run_matrix(WHERE, material(), connect)
    assert (row.check, row.status) == ("reachable", "fail")
    assert "deploy apply" in row.detail


def test_a_listener_not_found_is_one_row() -> None:
    where = Where("www", "127.0.0.1", 0, "emulator data plane", problem="not deployed")
    assert run_matrix(where, material(), scripted()) == [  # type: ignore[arg-type]
        Result("www", "reachable", "fail", "not deployed")
    ]


def test_junit_document() -> None:
    results = [
        Result("www", "valid-client", "pass", "HTTP 200"),
        Result("www", "no-client-cert", "fail", "mutual auth appears to be off"),
        Result("api", "expired-client", "skip", "no CA key"),
    ]
    root = ET.fromstring(to_xml(results))
    [suite] = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("www", "valid-client"),
        ("www", "no-client-cert"),
        ("api", "expired-client"),
    ]
    assert cases[1].find("failure").get("message") == "mutual auth appears to be off"  # type: ignore[union-attr]
    assert cases[2].find("skipped") is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:443", ("127.0.0.1", 443)), ("[::1]:8443", ("::1", 8443)), ("lb:1", ("lb", 1))],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", ":443", "host:0", "host:99999", "host:x"])
def test_parse_address_rejects(text: str) -> None:
    with pytest.raises(DeployError, match="HOST:PORT"):
        parse_address(text)


def test_http_parsing() -> None:
    assert _status(b"HTTP/1.1 502 Bad Gateway\r\n") == 502
    assert _status(b"garbage") is None
    assert _complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert not _complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok")
    assert not _complete(b"HTTP/1.1 200 OK\r\n")


def test_identity_repr_hides_the_key() -> None:
    assert "KEY" not in repr(identity("x")) and "CERT" not in repr(identity("x"))
