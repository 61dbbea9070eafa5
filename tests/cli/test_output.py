"""`deploy output SPEC`: ids, the load balancer address and, on the emulator, each
listener's data-plane endpoint, in text and JSON (scripts need not parse `emulator state`)."""

from __future__ import annotations

import json

import pytest

from elb_mtls_deploy.verify.handshake import ClientIdentity, Probe, attempt
from tests.verify.conftest import Live, live, spec_text

__all__ = ["live"]

pytestmark = pytest.mark.slow


def test_output_names_ids_addresses_and_the_data_plane(live: Live) -> None:
    live.write(spec_text(live.members))
    code, out, err = live.run("output", str(live.spec), "--output", "json")
    assert code == 0, err
    before = json.loads(out)
    [listener] = before["listeners"]
    assert listener["id"] is None and listener["dataplane"] is None  # nothing deployed yet
    assert listener["deployed"] is False and listener["address"] is None

    live.apply()
    code, out, err = live.run("output", str(live.spec), "--output", "json")
    assert code == 0, err
    document = json.loads(out)
    [listener] = document["listeners"]
    [owned] = live.owned("listeners")
    assert listener["id"] == owned["id"] and listener["port"] == 443
    [lb] = document["loadbalancers"]
    assert lb["name"] == "emulator-dedicated-lb" and listener["loadbalancer_id"] == lb["id"]
    assert listener["address"] == f"{lb['public_address'] or lb['vip_address']}:443"
    assert listener["dataplane"] == f"https://127.0.0.1:{live.port()}/"
    assert {c["name"] for c in document["certificates"]} == {"www", "client-ca"}
    assert all(m["id"] for m in listener["members"]) and listener["pool"]["id"]

    # the endpoint is the listener: mutual TLS with the spec's client certificate succeeds
    host, port = listener["dataplane"].removeprefix("https://").rstrip("/").split(":")
    teller = live.bundles()["teller"]
    identity = ClientIdentity("teller", teller.certificate_pem, teller.key_pem or "")
    seen = attempt(host, int(port), Probe("www.test.com", identity))
    assert seen.outcome == "accepted" and seen.verify_error is None, seen.detail

    # what is deployed, not what the spec says next
    live.write(spec_text(live.members).replace("port: 443", "port: 8443"))
    code, out, _ = live.run("output", str(live.spec), "--output", "json")
    assert json.loads(out)["listeners"][0]["port"] == 443
    live.write(spec_text(live.members))

    code, text, _ = live.run("output", str(live.spec))
    assert code == 0
    assert f"listener www  id {owned['id']}  port 443" in text
    assert f"data plane https://127.0.0.1:{live.port()}/" in text
