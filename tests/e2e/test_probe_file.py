"""`target.probe_file`: a `deploy probe` result that found the client-certificate headers
refused on the account makes apply refuse a listener that switches them on, before any
change; with the probe's own (matching) result the same spec applies."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Stack, spec_text

pytestmark = pytest.mark.slow


def test_a_probe_that_found_a_behaviour_missing_refuses_the_change_that_needs_it(
    stack: Stack,
) -> None:
    probe_json = stack.root / "probe.json"
    argv = ["probe", "--embedded", "--state-dir", str(stack.root / ".elb-emulator")]
    code, _, err = stack.run(
        *argv, "--loadbalancer", "emulator-dedicated-lb", "--yes", "--out", str(probe_json)
    )
    assert code == 0, err
    text = spec_text().replace("{kind: embedded}", "{kind: embedded, probe_file: probe.json}")
    text = text.replace(
        "        server_certificate: www\n",
        "        server_certificate: www\n        insert_headers: {client_cert_subject_dn: true}\n",
    )
    spec = str(stack.write(text))
    matching = json.loads(probe_json.read_text())
    refused = json.loads(probe_json.read_text())
    for finding in refused["probes"]:
        if finding["name"] == "clientcert_headers":  # as an account without the feature
            finding.update(match=False, answer={"ok": False, "status": 400, "code": "ELB.8902"})
    probe_json.write_text(json.dumps(refused))

    code, out, err = stack.run("plan", spec)
    assert code == 1
    assert "listener www: probe run" in out and "client-certificate headers refused" in out
    code, out, err = stack.run("apply", spec, "--auto-approve")
    assert code == 1 and "the plan has conflicts; nothing was changed" in err
    assert stack.owned("listeners") == [] and stack.owned("certificates") == []

    probe_json.write_text(json.dumps(matching))
    code, out, err = stack.run("apply", spec, "--auto-approve")
    assert code == 0, err
    assert len(stack.owned("listeners")) == 1


def test_an_unreadable_probe_file_is_a_spec_error(stack: Stack) -> None:
    (stack.root / "probe.json").write_text('{"format": "something else"}')
    text = spec_text().replace("{kind: embedded}", "{kind: embedded, probe_file: probe.json}")
    code, _, err = stack.run("plan", str(stack.write(text)))
    assert code == 1
    assert "target.probe_file" in err and "not a `deploy probe --out` result" in err
    assert "Traceback" not in err
