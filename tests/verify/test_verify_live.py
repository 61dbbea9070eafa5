"""`deploy verify` against the emulator's real TLS listeners: it passes on a correct
listener and fails, naming the right check, when the cloud is bent behind the tool's back."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from elb_mtls_deploy.pki import issue_ca, issue_client, issue_server
from elb_mtls_deploy.spec.model import Subject
from tests.verify.conftest import Live, now, spec_text

pytestmark = pytest.mark.slow

MUTUAL_CHECKS = [
    "valid-client",
    "no-client-cert",
    "foreign-ca",
    "expired-client",
    "client:teller",
    "server-fingerprint",
    "hostname",
    "tls-version",
    "old-tls-refused",
]


def results(live: Live, *extra: str) -> tuple[int, dict[str, dict[str, str]], str]:
    code, out, err = live.verify("--output", "json", *extra)
    document = json.loads(out)
    rows = {r["check"]: r for r in document["results"]}
    return code, rows, err


def statuses(rows: dict[str, dict[str, str]]) -> dict[str, str]:
    return {check: row["status"] for check, row in rows.items()}


def failing(rows: dict[str, dict[str, str]]) -> set[str]:
    return {check for check, row in rows.items() if row["status"] == "fail"}


@pytest.fixture
def deployed(live: Live) -> Live:
    live.write(spec_text(live.members))
    live.apply()
    return live


def test_correct_listener_passes_every_check(deployed: Live) -> None:
    code, out, err = deployed.verify()
    assert code == 0, out + err
    assert "listener www at 127.0.0.1:" in out and "(emulator data plane)" in out
    for check in MUTUAL_CHECKS:
        assert any(line.split()[:2] == [check, "ok"] for line in out.splitlines()), check
    assert "Verify: 9 passed, 0 failed, 0 skipped." in out


def test_valid_client_reaches_the_demo_backend_with_its_identity(deployed: Live) -> None:
    seen = deployed.handshake("teller")
    assert seen.outcome == "accepted" and seen.status == 200
    assert deployed.handshake(None).outcome == "refused"


def test_mutual_auth_off_fails_no_client_cert(deployed: Live) -> None:
    deployed.update_listener(client_ca_tls_container_ref="")
    code, rows, err = results(deployed)
    assert code == 1
    assert rows["valid-client"]["status"] == "pass"
    assert {"no-client-cert", "foreign-ca", "expired-client"} <= failing(rows)
    assert "mutual auth appears to be off on listener www" in rows["no-client-cert"]["detail"]
    assert "no-client-cert" in err and "deploy apply" in err


def test_spec_without_client_ca_applied_fails_against_the_mutual_spec(live: Live) -> None:
    one_way = live.root / "one-way.yaml"
    one_way.write_text(textwrap.dedent(spec_text(live.members, client_ca=None)))
    live.apply(one_way)
    live.write(spec_text(live.members))
    code, rows, _ = results(live)
    assert code == 1 and "no-client-cert" in failing(rows)
    # the one-way spec itself verifies with the one-way subset
    code, out, err = live.verify(spec=one_way)
    assert code == 0, out + err
    checks = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert checks == ["connect", "server-fingerprint", "hostname", "tls-version", "old-tls-refused"]


def test_wrong_ca_bound_fails_valid_client(deployed: Live) -> None:
    other = issue_ca(Subject(common_name="Someone Else CA"), "ec-p256", 30, now())
    other_id = deployed.upload("someone-else-ca", "client", other.certificate_pem)
    deployed.update_listener(client_ca_tls_container_ref=other_id)
    code, rows, _ = results(deployed)
    assert code == 1
    assert failing(rows) == {"valid-client", "client:teller"}
    assert rows["no-client-cert"]["status"] == "pass"
    assert "no client certificate was accepted" in rows["valid-client"]["detail"]
    assert "does not trust client-ca" in rows["valid-client"]["detail"]


def test_wrong_server_certificate_bound_fails_fingerprint_and_hostname(deployed: Live) -> None:
    rogue_ca = issue_ca(Subject(common_name="Rogue CA"), "ec-p256", 30, now())
    rogue = issue_server(
        rogue_ca,
        Subject(common_name="www.test.com"),
        "ec-p256",
        30,
        now(),
        dns_names=("www.test.com", "localhost"),
    )
    rogue_id = deployed.upload("rogue-www", "server", rogue.certificate_pem, rogue.key_pem)
    deployed.update_listener(default_tls_container_ref=rogue_id)
    code, rows, _ = results(deployed)
    assert code == 1
    assert failing(rows) == {"server-fingerprint", "hostname"}
    assert "another certificate is bound" in rows["server-fingerprint"]["detail"]


def test_same_ca_other_leaf_fails_only_the_fingerprint(deployed: Live) -> None:
    server_ca = deployed.bundles()["server-ca"]
    twin = issue_server(
        server_ca,
        Subject(common_name="www.test.com"),
        "ec-p256",
        30,
        now(),
        dns_names=("www.test.com",),
    )
    twin_id = deployed.upload("twin-www", "server", twin.certificate_pem, twin.key_pem)
    deployed.update_listener(default_tls_container_ref=twin_id)
    code, rows, _ = results(deployed)
    assert code == 1 and failing(rows) == {"server-fingerprint"}


def test_hostname_mismatch_names_the_hostname_check(deployed: Live) -> None:
    code, rows, _ = results(deployed, "--server-name", "api.example.org")
    assert code == 1 and failing(rows) == {"hostname"}
    assert "api.example.org" in rows["hostname"]["detail"]


def test_tls13_policy_refusals_surface_after_the_handshake(live: Live) -> None:
    live.write(spec_text(live.members, tls_policy="tls-1-2-fs-with-1-3"))
    live.apply()
    code, rows, err = results(live)
    assert code == 0, err
    assert "TLSv1.3" in rows["tls-version"]["detail"]
    assert rows["no-client-cert"]["status"] == "pass"


def test_old_ca_client_without_ca_key_skips_expired_check(live: Live) -> None:
    # an imported CA without its key: no expired certificate can be made
    live.write(spec_text(live.members))
    live.apply()
    ca = live.bundles()["client-ca"]
    (live.root / "ext-ca.crt").write_text(ca.certificate_pem)
    text = spec_text(live.members).replace(
        "        - name: client-ca\n          subject: {common_name: Verify Client CA}\n",
        "        - name: client-ca\n          import: {certificate: ext-ca.crt}\n",
    )
    spec = live.root / "imported.yaml"
    spec.write_text(textwrap.dedent(text))
    code, out, err = live.run("certs", str(spec))
    assert code == 0, out + err
    code, out, err = live.verify(spec=spec)
    assert code == 0, out + err
    assert any(
        line.split()[:2] == ["expired-client", "skipped"] and "key" in line
        for line in out.splitlines()
    )


def test_unreachable_listener_is_one_failed_reachable_check(deployed: Live) -> None:
    code, out, err = deployed.verify("--address", "127.0.0.1:1")
    assert code == 1
    assert "reachable" in out and "cannot connect to 127.0.0.1:1" in err


def test_address_with_several_listeners_needs_listener(deployed: Live) -> None:
    text = spec_text(deployed.members).replace("port: 443", "port: 443").rstrip("\n")
    second = text + (
        "\n      - name: api\n        loadbalancer: {name: emulator-dedicated-lb}\n"
        "        port: 8443\n        server_certificate: www\n        pool: {}\n"
    )
    deployed.write(second)
    code, _, err = deployed.verify("--address", "127.0.0.1:9")
    assert code == 1 and "--listener NAME" in err
    code, _, err = deployed.verify("--listener", "nope")
    assert code == 1 and "choose one of: www, api" in err


def test_junit_report_one_testcase_per_check_and_no_secrets(deployed: Live, tmp_path: Path) -> None:
    deployed.update_listener(client_ca_tls_container_ref="")
    report = tmp_path / "reports" / "verify.xml"
    code, out, err = deployed.verify("--junit", str(report))
    assert code == 1
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    [suite] = root
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == MUTUAL_CHECKS
    assert {c.get("classname") for c in cases} == {"www"}
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {"no-client-cert", "foreign-ca", "expired-client"}
    assert suite.get("tests") == "9" and suite.get("failures") == "3"
    assert all(c.find("failure").get("message") for c in cases if c.get("name") in failed)
    _assert_no_secrets(deployed, report.read_text() + out + err)


def test_json_output_has_no_secrets(deployed: Live) -> None:
    code, out, err = deployed.verify("--output", "json")
    assert code == 0
    document = json.loads(out)
    assert document["counts"] == {"pass": 9, "fail": 0, "skip": 0}
    _assert_no_secrets(deployed, out + err)


def _assert_no_secrets(live: Live, text: str) -> None:
    assert "PRIVATE KEY" not in text and "BEGIN" not in text
    for bundle in live.bundles().values():
        if bundle.key_pem:
            body = "".join(bundle.key_pem.splitlines()[1:-1])
            assert body[:40] not in text.replace("\n", "")
    for p12_password in live.root.rglob("*.password"):
        assert p12_password.read_text().strip() not in text
    from elb_mtls_deploy.emulator import DEMO_SK

    assert DEMO_SK not in text


def test_foreign_client_is_refused_directly(deployed: Live) -> None:
    ca = issue_ca(Subject(common_name="Stranger CA"), "ec-p256", 1, now())
    stranger = issue_client(ca, Subject(common_name="stranger"), "ec-p256", 1, now())
    from elb_mtls_deploy.verify.handshake import ClientIdentity, Probe, attempt

    seen = attempt(
        "127.0.0.1",
        deployed.port(),
        Probe("www.test.com", ClientIdentity("x", stranger.certificate_pem, stranger.key_pem)),
    )
    assert seen.outcome == "refused"
