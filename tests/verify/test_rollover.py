"""Client-CA rollover end to end on the emulator, driven only by the spec (docs/rotation.md):

1. `client_ca: client-ca`               clients of the old CA are accepted;
2. `client_ca: [client-ca, new-ca]`     one certificate `client-ca+new-ca` replaces the single
                                        one, the listener is updated in place; both accepted;
   re-issue clients from new-ca         (change their `issuer`);
3. `client_ca: new-ca`                  old-CA clients are refused, new ones accepted.
"""

from __future__ import annotations

import json
import re

import pytest

from elb_mtls_deploy.verify.handshake import ClientIdentity, Probe, attempt
from tests.verify.conftest import Live, spec_text

pytestmark = pytest.mark.slow

NEW_CA = "        - name: new-ca\n          subject: {common_name: Verify Client CA 2}\n"


def clients(alice: str, bob: bool = False) -> str:
    text = f"        - {{name: alice, issuer: {alice}, subject: {{common_name: alice}}}}\n"
    text += "        - {name: legacy, issuer: client-ca, subject: {common_name: legacy}}\n"
    if bob:
        text += "        - {name: bob, issuer: new-ca, subject: {common_name: bob}}\n"
    return text


def step(live: Live, client_ca: str, alice: str, bob: bool) -> str:
    live.write(
        spec_text(live.members, client_ca=client_ca, clients=clients(alice, bob), extra_cas=NEW_CA)
    )
    code, out, err = live.run("plan", str(live.spec))
    assert code == 0, out + err
    live.apply()
    return out


def accepted(live: Live) -> dict[str, str]:
    """verify's client:NAME rows: 'accepted' / 'refused' per spec client (all must pass)."""
    code, out, err = live.verify("--output", "json")
    rows = json.loads(out)["results"]
    assert code == 0, err
    return {
        r["check"].split(":", 1)[1]: r["detail"].split()[0]
        for r in rows
        if r["check"].startswith("client:")
    }


def actions(plan_text: str) -> list[str]:
    return [
        " ".join(line.split()[:3])
        for line in plan_text.splitlines()
        if re.match(r"  (\+|-|~|-/\+) ", line)
    ]


def test_client_ca_rollover_end_to_end(live: Live) -> None:
    # step 1: the old CA only
    step(live, "client-ca", alice="client-ca", bob=False)
    assert accepted(live) == {"alice": "accepted", "legacy": "accepted"}
    old_alice = live.bundles()["alice"]
    old_identity = ClientIdentity("old-alice", old_alice.certificate_pem, old_alice.key_pem or "")
    [single] = [c for c in live.owned("certificates") if c["name"] == "vfy-client-ca"]

    # step 2: old + new in one certificate; new clients join
    plan = step(live, "[client-ca, new-ca]", alice="client-ca", bob=True)
    assert actions(plan) == [
        "+ certificate client-ca+new-ca",
        "~ listener www",
        "- certificate client-ca",
    ]
    [bundle] = [c for c in live.owned("certificates") if c["name"] == "vfy-client-ca+new-ca"]
    assert bundle["type"] == "client" and bundle["certificate"].count("BEGIN CERTIFICATE") == 2
    [listener] = live.owned("listeners")
    assert listener["client_ca_tls_container_ref"] == bundle["id"]
    assert single["id"] not in {c["id"] for c in live.owned("certificates")}
    assert accepted(live) == {"alice": "accepted", "legacy": "accepted", "bob": "accepted"}

    # ... re-issue alice from the new CA (the old certificate still works meanwhile)
    plan = step(live, "[client-ca, new-ca]", alice="new-ca", bob=True)
    assert actions(plan) == []  # a client certificate is not uploaded: nothing in the cloud
    assert live.bundles()["alice"].issuer_name == "new-ca"
    assert accepted(live)["alice"] == "accepted"
    assert _direct(live, old_identity) == "accepted"

    # step 3: retire the old CA
    plan = step(live, "new-ca", alice="new-ca", bob=True)
    assert actions(plan) == [
        "+ certificate new-ca",
        "~ listener www",
        "- certificate client-ca+new-ca",
    ]
    # legacy (issuer client-ca) is expected refused now: its row passes as "refused"
    assert accepted(live) == {"alice": "accepted", "legacy": "refused", "bob": "accepted"}
    assert _direct(live, old_identity) == "refused"
    code, out, _ = live.verify("--client", "legacy")
    assert code == 0 and "client:legacy" in out and "client:alice" not in out


def test_a_retired_ca_still_trusted_in_the_cloud_fails_its_client_row(live: Live) -> None:
    step(live, "[client-ca, new-ca]", alice="new-ca", bob=False)
    # the spec retires client-ca, but the cloud still has the bundle bound
    live.write(
        spec_text(live.members, client_ca="new-ca", clients=clients("new-ca"), extra_cas=NEW_CA)
    )
    code, _, err = live.verify()
    assert code == 1
    assert "client:legacy" in err and "is not in client_ca, yet the listener accepted it" in err


def _direct(live: Live, client: ClientIdentity) -> str:
    return attempt("127.0.0.1", live.port(), Probe("www.test.com", client)).outcome
