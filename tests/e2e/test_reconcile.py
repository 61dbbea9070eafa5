"""plan / apply / destroy end to end: CLI -> official SDK -> HTTP -> emulator (v3 and v2)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Stack, spec_text

pytestmark = pytest.mark.slow

FLAVOURS = [
    pytest.param("emulator-dedicated-lb", "HTTPS", id="v3"),
    pytest.param("emulator-shared-lb", "TERMINATED_HTTPS", id="v2"),
]


def apply(stack: Stack) -> str:
    code, out, err = stack.run("apply", str(stack.spec), "--auto-approve")
    assert code == 0, out + err
    assert "Apply complete; a fresh plan shows no changes." in out
    return out


def plan(stack: Stack, *extra: str) -> tuple[int, str]:
    code, out, err = stack.run("plan", str(stack.spec), "--detailed-exitcode", *extra)
    assert "Traceback" not in err
    return code, out


@pytest.mark.parametrize(("lb", "protocol"), FLAVOURS)
def test_lifecycle(stack: Stack, lb: str, protocol: str) -> None:
    stack.write(spec_text(lb=lb))
    code, out = plan(stack)
    assert code == 2
    assert "Plan: 7 to add, 0 to change, 0 to destroy." in out

    apply(stack)
    [listener] = stack.owned("listeners")
    assert listener["protocol"] == protocol and listener["protocol_port"] == 443
    certs = {c["name"]: c for c in stack.owned("certificates")}
    assert certs["e2e-client-ca"]["type"] == "client"
    assert listener["client_ca_tls_container_ref"] == certs["e2e-client-ca"]["id"]
    assert listener["default_tls_container_ref"] == certs["e2e-www"]["id"]
    assert plan(stack) == (0, plan(stack)[1]) and "No changes" in plan(stack)[1]

    # a member weight -> one update
    stack.write(spec_text(lb=lb, weights=(5, 1)))
    code, out = plan(stack)
    assert code == 2 and "Plan: 0 to add, 1 to change, 0 to destroy." in out
    assert "~ weight: 1 -> 5" in out
    apply(stack)
    assert sorted(m["weight"] for m in stack.cloud()["members"]) == [1, 5]

    # one more member -> one create
    stack.write(spec_text(lb=lb, weights=(5, 1, 3)))
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan(stack)[1]
    apply(stack)

    # rotate the server certificate: in place, same id, listener untouched
    listener_before = stack.owned("listeners")[0]
    www_before = next(c for c in stack.owned("certificates") if c["name"] == "e2e-www")
    stack.write(spec_text(lb=lb, weights=(5, 1, 3), server_cn="pay.test.com"))
    code, out = plan(stack)
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in out
    assert "~ certificate   www" in out
    apply(stack)
    www_after = next(c for c in stack.owned("certificates") if c["name"] == "e2e-www")
    assert www_after["id"] == www_before["id"]
    assert www_after["certificate"] != www_before["certificate"]
    assert stack.owned("listeners")[0] == listener_before

    # change the port -> replace listener, pool, monitor and members
    stack.write(spec_text(lb=lb, weights=(5, 1, 3), server_cn="pay.test.com", port=8443))
    code, out = plan(stack)
    assert "+/- listener" in out and "protocol_port: 443 -> 8443 forces replacement" in out
    apply(stack)
    [moved] = stack.owned("listeners")
    assert moved["protocol_port"] == 8443 and moved["id"] != listener_before["id"]
    assert len(stack.owned("pools")) == 1 and len(stack.cloud()["members"]) == 3

    # destroy -> nothing owned left
    code, out, err = stack.run("destroy", str(stack.spec), "--auto-approve")
    assert code == 0, out + err
    for kind in ("certificates", "listeners", "pools"):
        assert stack.owned(kind) == []
    assert stack.cloud()["members"] == [] and stack.cloud()["healthmonitors"] == []
    # every request was signed and accepted
    assert "401" not in stack.statuses()


def test_removing_a_listener_deletes_its_pool_and_members_then_certificates(stack: Stack) -> None:
    second = """\
      - name: api
        loadbalancer: {name: emulator-dedicated-lb}
        port: 9443
        server_certificate: api
        pool:
          members:
            - {address: 127.0.0.1, port: 19100}
"""
    text = spec_text(listeners=second).replace(
        "      clients:",
        "        - name: api\n          issuer: server-ca\n          subject: {common_name: api}\n"
        "          dns_names: [api.test.com]\n      clients:",
    )
    stack.write(text)
    apply(stack)
    assert len(stack.owned("listeners")) == 2
    stack.write(spec_text())
    code, out = plan(stack)
    assert code == 2
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("- ")]
    assert lines == [
        "- member        api:127.0.0.1:19100  (e2e-api-127.0.0.1-19100, id "
        + lines[0].split("id ")[1],
        "- pool          api  (e2e-api, id " + lines[1].split("id ")[1],
        "- listener      api  (e2e-api, id " + lines[2].split("id ")[1],
        "- certificate   api  (e2e-api, id " + lines[3].split("id ")[1],
    ]
    apply(stack)
    assert [listener["name"] for listener in stack.owned("listeners")] == ["e2e-www"]


def test_foreign_listener_is_never_touched_and_its_port_is_a_plan_conflict(stack: Stack) -> None:
    stack.write(spec_text())
    apply(stack)
    foreign = _create_foreign_listener(stack, port=7443)
    assert plan(stack)[0] == 0  # not ours: no change planned
    stack.write(spec_text(port=7443))
    code, out = plan(stack)
    assert code == 1
    assert "is taken by listener 'someone-else'" in out
    code, out, err = stack.run("apply", str(stack.spec), "--auto-approve")
    assert code == 1 and "conflicts" in err
    stack.write(spec_text())
    code, out, err = stack.run("destroy", str(stack.spec), "--auto-approve")
    assert code == 0
    ids = [listener["id"] for listener in stack.cloud()["listeners"]]
    assert ids == [foreign]


def test_stale_saved_plan_is_refused(stack: Stack) -> None:
    stack.write(spec_text())
    plan_file = stack.root / "plan.json"
    report = stack.root / "report.json"
    code, out = plan(stack, "--out", str(plan_file), "--gitlab-report", str(report))
    assert code == 2
    assert json.loads(report.read_text()) == {"create": 7, "delete": 0, "update": 0}
    saved = plan_file.read_text()
    assert "PRIVATE KEY" not in saved and "BEGIN CERTIFICATE" not in saved
    # someone else changes the stack in between
    stack.write(spec_text(weights=(2, 2)))
    apply(stack)
    stack.write(spec_text())
    code, out, err = stack.run("apply", str(plan_file), "--auto-approve")
    assert code == 1
    assert "changed since this plan was made" in err
    # a fresh saved plan applies
    code, _ = plan(stack, "--out", str(plan_file))
    assert code == 2
    code, out, err = stack.run("apply", str(plan_file), "--auto-approve")
    assert code == 0, out + err


def _create_foreign_listener(stack: Stack, port: int) -> str:
    from huaweicloudsdkelb.v3 import model

    from elb_mtls_deploy.emulator import SEEDED_DEDICATED_LB_ID

    client = stack.sdk()
    option = model.CreateListenerOption(
        loadbalancer_id=SEEDED_DEDICATED_LB_ID,
        protocol="HTTP",
        protocol_port=port,
        name="someone-else",
    )
    response = client.create_listener(
        model.CreateListenerRequest(body=model.CreateListenerRequestBody(listener=option))
    )
    return str(response.listener.id)


def test_destroy_keeps_the_pki_unless_asked(stack: Stack) -> None:
    stack.write(spec_text())
    apply(stack)
    code, out, _ = stack.run("destroy", str(stack.spec), "--auto-approve")
    assert code == 0 and "The PKI files were kept" in out
    assert (stack.root / "pki" / "e2e" / "www" / "0001" / "www.key").exists()
    code, out, _ = stack.run("destroy", str(stack.spec), "--auto-approve", "--purge-pki")
    assert code == 0 and "PKI file(s) this stack made" in out
    assert not (stack.root / "pki").exists()
