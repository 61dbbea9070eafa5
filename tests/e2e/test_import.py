"""`deploy import` (issue 16): a console-made mutual-TLS setup is adopted in place.

The setup is built the way the console guide builds it: certificates from the guide's own
openssl recipe (tests/pki/seed_recipe.sh: SHA-1, 5000 days, CN only), uploaded and wired
with the raw SDK, no name prefix, no marker. Then `deploy import` writes the spec, `deploy
plan` shows only in-place ownership updates, `deploy apply` makes them, the next plan is
empty and every id is unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, start_server
from elb_mtls_deploy.emulator.constants import (
    SEEDED_DEDICATED_LB_ID,
    SEEDED_NO_IP_TARGET_LB_ID,
    SEEDED_SHARED_LB_ID,
    SEEDED_SUBNET_ID,
)
from elb_mtls_deploy.emulator.control.admin import state as emulator_state
from elb_mtls_deploy.state import marker

RECIPE = Path(__file__).parents[1] / "pki" / "seed_recipe.sh"
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def guide_pki(root: Path) -> Path:
    """The guide's recipe, run for real: server/{ca,server}.*, client/{ca,client}.*."""
    env = {**os.environ, "SEED_P12_PASSWORD": "guide-test"}
    for side in ("server", "client"):
        subprocess.run(
            ["sh", str(RECIPE), str(root), side], check=True, capture_output=True, env=env
        )
    return root


@dataclass
class Console:
    """What a person does in the console, through the official SDK."""

    endpoint: str
    flavour: str

    def client(self) -> Any:
        if self.flavour == "v3":
            from huaweicloudsdkelb.v3 import ElbClient
        else:
            from huaweicloudsdkelb.v2 import ElbClient
        return (
            ElbClient.new_builder()
            .with_credentials(BasicCredentials(DEMO_AK, DEMO_SK, DEMO_PROJECT_ID))
            .with_endpoint(self.endpoint)
            .build()
        )

    def certificate(self, name: str, pem: str, key: str | None = None) -> str:
        c = self.client()
        if self.flavour == "v3":
            from huaweicloudsdkelb import v3

            option = v3.CreateCertificateOption(
                name=name, certificate=pem, private_key=key, type="server" if key else "client"
            )
            body = v3.CreateCertificateRequestBody(certificate=option)
            return str(c.create_certificate(v3.CreateCertificateRequest(body=body)).certificate.id)
        from huaweicloudsdkelb import v2

        body2 = v2.CreateCertificateRequestBody(
            name=name, certificate=pem, private_key=key, type="server" if key else "client"
        )
        return str(c.create_certificate(v2.CreateCertificateRequest(body=body2)).id)

    def setup(self, lb: str, port: int, server: str, ca: str, member_port: int) -> dict[str, str]:
        """Listener (two-way authentication), pool, HTTP health check, one member."""
        c = self.client()
        if self.flavour == "v3":
            from huaweicloudsdkelb import v3 as m

            listener = c.create_listener(
                m.CreateListenerRequest(
                    body=m.CreateListenerRequestBody(
                        listener=m.CreateListenerOption(
                            name="listener-https", loadbalancer_id=lb, protocol="HTTPS",
                            protocol_port=port, default_tls_container_ref=server,
                            client_ca_tls_container_ref=ca,
                        )
                    )
                )
            ).listener  # fmt: skip
            pool = c.create_pool(
                m.CreatePoolRequest(
                    body=m.CreatePoolRequestBody(
                        pool=m.CreatePoolOption(
                            name="server_group-web", lb_algorithm="ROUND_ROBIN",
                            protocol="HTTP", listener_id=listener.id,
                        )
                    )
                )
            ).pool  # fmt: skip
            c.create_health_monitor(
                m.CreateHealthMonitorRequest(
                    body=m.CreateHealthMonitorRequestBody(
                        healthmonitor=m.CreateHealthMonitorOption(
                            pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3,
                            url_path="/", name="check",
                        )
                    )
                )
            )  # fmt: skip
            member = c.create_member(
                m.CreateMemberRequest(
                    pool_id=pool.id,
                    body=m.CreateMemberRequestBody(
                        member=m.CreateMemberOption(
                            address="127.0.0.1", protocol_port=member_port, name="backend-1"
                        )
                    ),
                )
            ).member
            return {"listener": listener.id, "pool": pool.id, "member": member.id}
        from huaweicloudsdkelb import v2 as n

        listener = c.create_listener(
            n.CreateListenerRequest(
                body=n.CreateListenerRequestBody(
                    listener=n.CreateListenerReq(
                        name="listener-https", loadbalancer_id=lb, protocol="TERMINATED_HTTPS",
                        protocol_port=port, default_tls_container_ref=server,
                        client_ca_tls_container_ref=ca,
                    )
                )
            )
        ).listener  # fmt: skip
        pool = c.create_pool(
            n.CreatePoolRequest(
                body=n.CreatePoolRequestBody(
                    pool=n.CreatePoolReq(
                        name="server_group-web", lb_algorithm="ROUND_ROBIN", protocol="HTTP",
                        listener_id=listener.id,
                    )
                )
            )
        ).pool  # fmt: skip
        c.create_healthmonitor(
            n.CreateHealthmonitorRequest(
                body=n.CreateHealthmonitorRequestBody(
                    healthmonitor=n.CreateHealthmonitorReq(
                        pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3,
                        url_path="/", name="check",
                    )
                )
            )
        )  # fmt: skip
        member = c.create_member(
            n.CreateMemberRequest(
                pool_id=pool.id,
                body=n.CreateMemberRequestBody(
                    member=n.CreateMemberReq(
                        address="127.0.0.1", protocol_port=member_port, name="backend-1",
                        subnet_id=SEEDED_SUBNET_ID,
                    )
                ),
            )
        ).member  # fmt: skip
        return {"listener": listener.id, "pool": pool.id, "member": member.id}


@dataclass
class World:
    root: Path
    endpoint: str
    server: Any
    ids: dict[str, str]
    capsys: pytest.CaptureFixture[str]

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def verify(self, spec: Path) -> dict[str, str]:
        """`deploy verify`: check name -> status."""
        _, out, _ = self.run("--output", "json", "verify", str(spec))
        document = json.loads(out)
        return {r["check"]: r["status"] for r in document["results"]}

    def cloud(self) -> dict[str, Any]:
        return emulator_state(self.server.emulator)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["v3", "v2"])
def world(
    request: pytest.FixtureRequest, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[World]:
    flavour = str(request.param)
    pki = guide_pki(workdir / "guide")
    state_dir = workdir / ".elb-emulator"
    state_dir.mkdir()
    with start_server(state_dir, announce=True, dataplane=True) as server:
        console = Console(server.endpoint, flavour)
        server_id = console.certificate(
            "server-cert",
            (pki / "server" / "server.crt").read_text(),
            (pki / "server" / "server.key").read_text(),
        )
        ca_id = console.certificate("ca-cert", (pki / "client" / "ca.crt").read_text())
        lb = SEEDED_DEDICATED_LB_ID if flavour == "v3" else SEEDED_SHARED_LB_ID
        ids = console.setup(lb, 443, server_id, ca_id, free_port())
        ids |= {"server": server_id, "ca": ca_id, "lb": lb}
        yield World(workdir, server.endpoint, server, ids, capsys)


def test_import_plan_apply_adopts_in_place(world: World) -> None:
    spec = world.root / "spec.yaml"
    code, out, err = world.run(
        "import", "--loadbalancer", world.ids["lb"], "--stack", "shop", "--out", str(spec),
        "--embedded",
    )  # fmt: skip
    assert code == 0, err
    text = spec.read_text()
    assert "import:" in text and "adopt:" in text
    assert f"listener-https: {world.ids['listener']}" in text
    # The PEM next to the spec; the key (returned by this API) 0600 and never printed.
    key = world.root / "imported" / "server-cert.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in out + err
    # The guide's weaknesses are shown with the fix, as warnings of the adopted material.
    assert "signed with SHA1" in out and "fix: re-issue with SHA-256" in out
    assert "no subjectAltName" in out and "valid for 5000 days" in out

    code, out, err = world.run("validate", str(spec))
    assert code == 0, out + err
    before = world.verify(spec)
    # The data plane serves the adopted listener; mutual TLS refuses what it must. The one
    # failure is the truth about the guide's certificate: modern clients reject SHA-1.
    assert before["no-client-cert"] == before["foreign-ca"] == "pass"
    assert before["hostname"] == "fail"

    code, out, err = world.run("--output", "json", "plan", str(spec))
    assert code == 0, err
    plan = json.loads(out)
    changes = plan["resource_changes"]
    assert plan["summary"] == {"create": 0, "delete": 0, "update": 6}, changes
    assert {c["type"] for c in changes} == {
        "elb_certificate", "elb_listener", "elb_pool", "elb_healthmonitor", "elb_member",
    }  # fmt: skip
    for change in changes:
        assert change["change"]["actions"] == ["update"]
        assert set(change["change"]["after"]) <= {"id", "name", "description"}, change
        assert change["change"]["after"]["name"].startswith("shop-")
    ids_before = _ids(world.cloud())

    code, out, err = world.run("apply", str(spec), "--auto-approve")
    assert code == 0, out + err
    cloud = world.cloud()
    assert _ids(cloud) == ids_before
    [listener] = cloud["listeners"]
    assert listener["name"] == "shop-listener-https"
    assert listener["description"] == marker("shop")
    assert {c["name"] for c in cloud["certificates"]} == {"shop-server-cert", "shop-ca-cert"}

    code, out, err = world.run("--output", "json", "plan", str(spec), "--detailed-exitcode")
    assert code == 0, out + err
    assert json.loads(out)["resource_changes"] == []
    assert world.verify(spec) == before  # adoption changed nothing the data plane serves


def _ids(cloud: dict[str, Any]) -> dict[str, list[str]]:
    kinds = ("certificates", "listeners", "pools", "members", "healthmonitors")
    return {kind: sorted(r["id"] for r in cloud[kind]) for kind in kinds}


# --- refusals: exit 1, one message, nothing written ------------------------------------


def _refused(world: World, *extra: str, out_name: str = "spec.yaml") -> str:
    spec = world.root / out_name
    existed = spec.exists()
    code, out, err = world.run(
        "import", "--loadbalancer", world.ids["lb"], "--stack", "shop", "--out", str(spec),
        "--embedded", *extra,
    )  # fmt: skip
    assert code == 1, out + err
    assert err.startswith("error: ") and "Traceback" not in err
    assert spec.exists() == existed
    assert not (world.root / "imported").exists()
    return err


def _raw_listener(world: World, lb: str) -> str:
    from huaweicloudsdkelb import v3 as m

    option = m.CreateListenerOption(
        name="other-site", loadbalancer_id=lb, protocol="HTTPS", protocol_port=443,
        default_tls_container_ref=world.ids["server"],
    )  # fmt: skip
    body = m.CreateListenerRequestBody(listener=option)
    client = Console(world.endpoint, "v3").client()
    return str(client.create_listener(m.CreateListenerRequest(body=body)).listener.id)


@pytest.mark.parametrize("world", ["v3"], indirect=True)
def test_refuses_a_listener_another_stack_owns(world: World) -> None:
    from huaweicloudsdkelb import v3 as m

    option = m.UpdateListenerOption(name="other-www", description=marker("other"))
    Console(world.endpoint, "v3").client().update_listener(
        m.UpdateListenerRequest(
            listener_id=world.ids["listener"], body=m.UpdateListenerRequestBody(listener=option)
        )
    )
    err = _refused(world)
    assert "is owned by stack 'other'" in err


@pytest.mark.parametrize("world", ["v3"], indirect=True)
def test_refuses_listeners_of_several_load_balancers(world: World) -> None:
    elsewhere = _raw_listener(world, SEEDED_NO_IP_TARGET_LB_ID)
    err = _refused(world, "--listener", world.ids["listener"], "--listener", elsewhere)
    assert f"listener {elsewhere} is not on load balancer" in err
    assert "one import covers one load balancer" in err


@pytest.mark.parametrize("world", ["v3"], indirect=True)
def test_refuses_a_certificate_bound_outside_the_import(world: World) -> None:
    elsewhere = _raw_listener(world, SEEDED_NO_IP_TARGET_LB_ID)
    err = _refused(world)
    assert f"is also used by listener(s) other-site ({elsewhere}) outside this import" in err


@pytest.mark.parametrize("world", ["v3"], indirect=True)
def test_refuses_an_existing_out_file(world: World) -> None:
    spec = world.root / "spec.yaml"
    spec.write_text("# mine\n")
    calls = dict(world.server.emulator.stats.snapshot()["by_status"])  # the console's setup
    err = _refused(world)
    assert "already exists; deploy import never overwrites a spec" in err
    assert spec.read_text() == "# mine\n"
    assert world.server.emulator.stats.snapshot()["by_status"] == calls  # no API call made


# --- adoption, then in-place rotation to modern certificates, under traffic ------------


def legacy_request(port: int, pki: Path) -> tuple[bool, str]:
    """One new connection of a console-era client (the guide's client certificate, which
    chains to the adopted CA): (answered 200, sha256 of the served leaf)."""
    import hashlib
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # the guide's SHA-1 client certificate
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the served leaf changes during the test: recorded
    context.load_cert_chain(str(pki / "client" / "client.crt"), str(pki / "client" / "client.key"))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="www.test.com") as tls,
        ):
            leaf = hashlib.sha256(tls.getpeercert(binary_form=True) or b"").hexdigest()
            tls.sendall(b"GET / HTTP/1.1\r\nHost: www.test.com\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := tls.recv(65536):
                reply += chunk
    except (OSError, ssl.SSLError) as exc:
        return False, repr(exc)
    return reply.startswith(b"HTTP/1.1 200"), leaf


def test_adoption_and_rotation_drop_no_request_of_an_old_client(world: World) -> None:
    import threading

    import yaml

    from elb_mtls_deploy.emulator.control.admin import dataplane

    spec = world.root / "spec.yaml"
    code, out, err = world.run(
        "import", "--loadbalancer", world.ids["lb"], "--stack", "shop", "--out", str(spec),
        "--embedded",
    )  # fmt: skip
    assert code == 0, err
    [served] = dataplane(world.server.emulator)["listeners"]
    port = int(served["port"])
    seen: list[tuple[bool, str]] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            seen.append(legacy_request(port, world.root / "guide"))

    worker = threading.Thread(target=traffic, name="legacy-client")
    worker.start()
    try:
        while len(seen) < 3:
            stop.wait(0.01)
        code, out, err = world.run("apply", str(spec), "--auto-approve")  # the adoption
        assert code == 0, out + err
        adopted = len(seen)
        # Step 1: the client CA rolled over (old + new trusted together), a new server CA.
        doc = yaml.safe_load(spec.read_text())
        doc["certificates"]["cas"] += [
            {"name": "server-ca", "subject": {"common_name": "Shop Server CA"}},
            {"name": "new-ca", "subject": {"common_name": "Shop Client CA 2026"}},
        ]
        doc["certificates"]["clients"] = [
            {"name": "teller", "issuer": "new-ca", "subject": {"common_name": "teller"}}
        ]
        doc["listeners"][0]["client_ca"] = ["ca-cert", "new-ca"]
        spec.write_text(yaml.safe_dump(doc, sort_keys=False))
        code, out, err = world.run("apply", str(spec), "--auto-approve")
        assert code == 0, out + err
        # Step 2: a modern server certificate under the same name: same id, listener untouched.
        doc["certificates"]["servers"] = [
            {"name": "server-cert", "issuer": "server-ca",
             "subject": {"common_name": "www.test.com"}, "dns_names": ["www.test.com"]},
        ]  # fmt: skip
        spec.write_text(yaml.safe_dump(doc, sort_keys=False))
        code, out, err = world.run("plan", str(spec))
        assert "~ certificate   server-cert" in out, out + err
        assert "Plan: 0 to add, 1 to change, 0 to destroy." in out, out
        code, out, err = world.run("apply", str(spec), "--auto-approve")
        assert code == 0, out + err
        rotated = len(seen)
        while len(seen) < rotated + 3:
            stop.wait(0.01)
    finally:
        stop.set()
        worker.join(timeout=30)
    failures = [s for s in seen if not s[0]]
    assert failures == [], failures[:3]
    assert adopted > 3 and rotated > adopted  # requests ran during both applies
    leaves = [leaf for _, leaf in seen]
    assert len(set(leaves[:adopted])) == 1 and leaves[-1] != leaves[0]  # rotated after
    cloud = world.cloud()
    assert [x["id"] for x in cloud["listeners"]] == [world.ids["listener"]]
    server_cert = next(c for c in cloud["certificates"] if c["name"] == "shop-server-cert")
    assert server_cert["id"] == world.ids["server"]  # rotated in place
    code, out, err = world.run("verify", str(spec))
    assert code == 0, out + err
    code, out, err = world.run("plan", str(spec), "--detailed-exitcode")
    assert code == 0, out + err


@pytest.mark.parametrize("world", ["v3"], indirect=True)
def test_a_key_the_api_masks_is_asked_for_not_invented(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Private-key echo off (the SDK path is tests/cloud/test_cloud_import_reads.py): no key
    file, a note naming the file to fill in, and once it is there the spec validates."""
    from elb_mtls_deploy.cloud.sdk import SdkCloud

    monkeypatch.setattr(SdkCloud, "private_key", lambda self, certificate_id: None)
    spec = world.root / "spec.yaml"
    code, out, err = world.run(
        "import", "--loadbalancer", "emulator-dedicated-lb", "--stack", "shop", "--out",
        str(spec), "--embedded",
    )  # fmt: skip
    assert code == 0, err
    key = world.root / "imported" / "server-cert.key"
    assert not key.exists()
    assert "copy the key to imported/server-cert.key (mode 0600)" in out
    assert "does not validate yet" in out
    code, out, err = world.run("validate", str(spec))
    assert code == 1
    key.write_text((world.root / "guide" / "server" / "server.key").read_text())
    key.chmod(0o600)
    code, out, err = world.run("validate", str(spec))
    assert code == 0, out + err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--stack", "Shop_1", "--embedded"), "--stack 'Shop_1' is not a stack name"),
        (("--stack", "shop", "--region", "cn-north-4", "--state-dir", "x"),
         "--state-dir goes with --embedded"),
        (("--stack", "shop", "--region", "cn-north-4"), "HUAWEICLOUD_SDK_AK"),
        (("--stack", "shop", "--embedded", "--state-dir", "missing"), "no emulator state in"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_before_any_call(
    workdir: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    code = main(["import", "--loadbalancer", "lb", "--out", str(workdir / "s.yaml"), *extra])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err, err
    assert list(workdir.iterdir()) == []
