"""Certificate rotation: re-issue inside renew_before or on a spec change, an in-place
`~ certificate` update with the listener untouched, zero failed requests while it happens;
and the expiry gate of `plan --fail-on-expiry`."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable

import pytest

from elb_mtls_deploy.verify.handshake import Attempt, ClientIdentity, Probe, attempt
from tests.verify.conftest import Live, spec_text

pytestmark = pytest.mark.slow


def _plan(live: Live, *extra: str) -> tuple[int, str]:
    code, out, err = live.run("plan", str(live.spec), "--detailed-exitcode", *extra)
    assert "Traceback" not in err
    return code, out + err


CHANGES: dict[str, Callable[[tuple[int, int]], str]] = {
    "sans": lambda m: spec_text(m, dns_names="[www.test.com, pay.test.com]"),
    "renew_before": lambda m: spec_text(m, renew_before_days=3000),
    "key_type": lambda m: spec_text(m).replace(
        "          renew_before_days", "          key_type: rsa-2048\n          renew_before_days"
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_reissue_is_an_in_place_certificate_update(live: Live, change: str) -> None:
    live.write(spec_text(live.members))
    live.apply()
    www_before = next(c for c in live.owned("certificates") if c["name"] == "vfy-www")
    [listener_before] = live.owned("listeners")
    live.write(CHANGES[change](live.members))
    code, out = _plan(live)
    assert code == 2
    reason = {"sans": "subjectAltName changed", "renew_before": "expires on", "key_type": "key "}
    assert f"ISSUE at apply: server www ({reason[change]}" in out  # issued by apply, not plan
    assert "-> (known after apply: " in out
    assert "~ certificate   www" in out
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in out
    actions = [line.split()[:2] for line in out.splitlines() if re.match(r"  (\+|-|~|-/\+) ", line)]
    assert actions == [["~", "certificate"]]  # the listener is untouched
    live.apply()
    www_after = next(c for c in live.owned("certificates") if c["name"] == "vfy-www")
    assert www_after["id"] == www_before["id"]
    assert www_after["certificate"] != www_before["certificate"]
    assert live.owned("listeners") == [listener_before]
    code, out, err = live.verify()
    assert code == 0, out + err


def test_rotation_through_the_data_plane_drops_no_request(live: Live) -> None:
    live.write(spec_text(live.members))
    live.apply()
    teller = live.bundles()["teller"]
    client = ClientIdentity("teller", teller.certificate_pem, teller.key_pem or "")
    old = live.bundles()["www"].fingerprint
    port = live.port()
    seen: list[Attempt] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():  # a new connection (and handshake) every time
            seen.append(attempt("127.0.0.1", port, Probe("www.test.com", client)))

    worker = threading.Thread(target=traffic, name="mtls-traffic")
    worker.start()
    try:
        while len(seen) < 5:
            stop.wait(0.01)
        before_apply = len(seen)
        live.write(spec_text(live.members, dns_names="[www.test.com, localhost, pay.test.com]"))
        out = live.apply()
        during_apply = len(seen) - before_apply
        after_apply = len(seen)
        while len(seen) < after_apply + 5:
            stop.wait(0.01)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert "~ certificate   www" in out
    failures = [a for a in seen if a.outcome != "accepted" or a.status != 200]
    assert failures == [], failures[:3]
    assert during_apply > 0
    new = live.bundles()["www"].fingerprint
    assert new != old

    served = [hashlib.sha256(a.peer_der or b"").hexdigest() for a in seen]
    assert served[0] == old
    assert set(served[after_apply:]) == {new}
    assert set(served) == {old, new}
    assert live.port() == port  # same listening socket: only the TLS context was swapped


def test_expiry_gate_lists_local_and_cloud_certificates(live: Live) -> None:
    live.write(spec_text(live.members))
    live.apply()
    code, out = _plan(live)
    assert code == 0 and "EXPIRING" not in out  # without the flag nothing fails
    code, out = _plan(live, "--fail-on-expiry", "30")
    assert code == 0 and "EXPIRING" not in out  # leaves last 397 days
    code, out = _plan(live, "--fail-on-expiry", "400")
    assert code == 1
    assert "note: EXPIRING: certificate www expires" in out
    assert "note: EXPIRING: certificate teller expires" in out
    assert "note: EXPIRING: cloud certificate vfy-www (id " in out
    assert "cloud certificate vfy-client-ca" not in out  # CAs last ten years


def test_expiry_gate_sees_a_cloud_certificate_the_spec_no_longer_has(live: Live) -> None:
    from datetime import UTC, datetime, timedelta

    from elb_mtls_deploy.pki import issue_server
    from elb_mtls_deploy.spec.model import Subject
    from elb_mtls_deploy.state import marker

    live.write(spec_text(live.members))
    live.apply()
    soon = issue_server(
        live.bundles()["server-ca"],
        Subject(common_name="old.test.com"),
        "ec-p256",
        5,
        datetime.now(UTC),
        dns_names=("old.test.com",),
        not_after=datetime.now(UTC) + timedelta(days=5),
    )
    from huaweicloudsdkelb.v3 import model

    option = model.CreateCertificateOption(
        name="vfy-old",
        type="server",
        certificate=soon.certificate_pem,
        private_key=soon.key_pem,
        description=marker("vfy"),
    )
    live.sdk().create_certificate(
        model.CreateCertificateRequest(body=model.CreateCertificateRequestBody(certificate=option))
    )
    code, out = _plan(live, "--fail-on-expiry", "10")
    assert code == 1
    assert "note: EXPIRING: cloud certificate vfy-old (id " in out
    assert "certificate www expires" not in out
