"""`deploy probe` against the embedded emulator: every probe reports the emulator's
documented behaviour (docs/emulator.md), with the provisioning model off and on; nothing
is left behind; an interrupted run cleans up, and a SIGKILLed one leaves only resources
under the probe marker, which the next run removes first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.emulator import DEMO_SK, RunningServer, start_server
from elb_mtls_deploy.emulator.control.admin import state as emulator_state
from elb_mtls_deploy.probe import checks
from elb_mtls_deploy.probe.stack import MARKER_PREFIX

pytestmark = pytest.mark.slow

KINDS = ("certificates", "listeners", "pools", "members", "healthmonitors")
V3_PROBES = {
    "certificate_text",
    "pool_binding",
    "second_pool",
    "busy",
    "insert_headers",
    "clientcert_headers",
    "multi_ca_trust",
    "clientcert_headers_arrive",
    "ca_unbind",
    "filter_url_length",
}


def resources(server: RunningServer) -> dict[str, list[dict[str, Any]]]:
    dump = emulator_state(server.emulator)
    return {kind: dump.get(kind, []) for kind in KINDS}


def ids(server: RunningServer) -> dict[str, set[str]]:
    return {kind: {r["id"] for r in items} for kind, items in resources(server).items()}


@pytest.fixture(params=[0, 400], ids=["provisioning-off", "provisioning-400ms"])
def cloud(request: pytest.FixtureRequest, workdir: Path) -> Iterator[RunningServer]:
    state_dir = workdir / "state"
    state_dir.mkdir()
    with start_server(state_dir, announce=True, provisioning_ms=request.param) as server:
        yield server


def probe(workdir: Path, *extra: str, lb: str = "emulator-dedicated-lb") -> tuple[int, Any]:
    out = workdir / "probe.json"
    out.unlink(missing_ok=True)
    argv = ["probe", "--embedded", "--state-dir", str(workdir / "state"), "--loadbalancer", lb]
    code = main([*argv, "--yes", "--out", str(out), *extra])
    return code, json.loads(out.read_text()) if out.exists() else None


def by_name(document: Any) -> dict[str, Any]:
    return {p["name"]: p for p in document["probes"]}


def test_every_v3_probe_matches_the_emulator_and_nothing_is_left(
    workdir: Path, cloud: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ids(cloud)
    code, document = probe(workdir)
    assert code == 0, capsys.readouterr().err
    assert ids(cloud) == before
    found = by_name(document)
    assert set(found) == V3_PROBES
    assert {n: p["match"] for n, p in found.items()} == dict.fromkeys(V3_PROBES, True)
    assert document["api"] == "v3" and document["region"] == "embedded"
    assert document["loadbalancer"]["type"] == "dedicated"
    assert document["sdk_version"] == "3.1.219"
    assert document["cleanup"]["left_behind"] == [] and document["aborted"] is None
    # three certificates, the listener, its pool, the echo member (the second pool: refused)
    assert len(document["cleanup"]["removed"]) == 6
    busy = found["busy"]
    if cloud.emulator.provisioning.busy_ms:  # the provisioning model: the documented 409
        assert busy["answer"]["status"] == 409 and busy["answer"]["code"] == "ELB.8908"
        assert busy["fields"]["provisioning_status_after_first"] == "PENDING_UPDATE"
    else:
        assert busy["answer"]["ok"] is True
        assert busy["fields"]["provisioning_status_after_first"] == "ACTIVE"
    assert found["second_pool"]["answer"]["status"] == 409
    assert found["insert_headers"]["observed"] == "merges (A still on)"
    captured = capsys.readouterr()
    assert "certificate_text" in captured.out and "match" in captured.out
    for text in (json.dumps(document), captured.out, captured.err):
        assert "PRIVATE KEY" not in text and DEMO_SK not in text


def test_v2_on_the_shared_load_balancer_skips_what_v2_cannot_express(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "state").mkdir()
    with start_server(workdir / "state", announce=True) as server:
        before = ids(server)
        code, document = probe(workdir, "--api", "v2", lb="emulator-shared-lb")
        assert code == 0, capsys.readouterr().err
        assert ids(server) == before
    found = by_name(document)
    assert set(found) == V3_PROBES
    skipped = {n for n, p in found.items() if p["match"] is None}
    assert skipped == {"clientcert_headers", "clientcert_headers_arrive", "filter_url_length"}
    assert all(p["match"] for n, p in found.items() if n not in skipped)
    assert "unbinds the CA (v2)" in found["ca_unbind"]["question"]


def test_without_yes_and_without_a_terminal_it_refuses_before_any_call(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["probe", "--embedded", "--state-dir", str(workdir / "state")]
    assert main([*argv, "--loadbalancer", "emulator-dedicated-lb"]) == 1
    assert "pass --yes" in capsys.readouterr().err
    assert not (workdir / "state").exists()  # no emulator was even started


def test_a_failing_probe_still_removes_everything(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from elb_mtls_deploy.errors import DeployError

    def boom(ctx: checks.Context) -> None:
        raise DeployError("injected failure in the middle of the run")

    monkeypatch.setattr(checks, "insert_headers", boom)
    (workdir / "state").mkdir()
    with start_server(workdir / "state", announce=True) as server:
        before = ids(server)
        code, document = probe(workdir)
        assert ids(server) == before
    assert code == 1
    assert document["aborted"] == "injected failure in the middle of the run"
    assert "injected failure" in capsys.readouterr().err


def _spawn(workdir: Path) -> subprocess.Popen[str]:
    argv = ["probe", "--embedded", "--state-dir", str(workdir / "state")]
    return subprocess.Popen(
        [sys.executable, "-m", "elb_mtls_deploy", *argv, "--loadbalancer",
         "emulator-dedicated-lb", "--yes"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def _wait_for(proc: subprocess.Popen[str], prefix: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(prefix):
            return
    raise AssertionError(f"the probe ended before {prefix!r}: {proc.communicate()}")


@pytest.fixture
def slow_cloud(workdir: Path) -> Iterator[RunningServer]:
    (workdir / "state").mkdir()
    # A 300 ms busy window after every change: the run is slow enough to be interrupted.
    with start_server(workdir / "state", announce=True, provisioning_ms=300) as server:
        yield server


def test_sigterm_mid_run_removes_what_was_made_and_exits_143(
    workdir: Path, slow_cloud: RunningServer
) -> None:
    before = ids(slow_cloud)
    proc = _spawn(workdir)
    _wait_for(proc, "  pool_binding:")  # certificates, listener and pool exist now
    assert ids(slow_cloud) != before
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert ids(slow_cloud) == before


def test_sigkill_leaves_only_marked_resources_and_the_next_run_removes_them(
    workdir: Path, slow_cloud: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ids(slow_cloud)
    proc = _spawn(workdir)
    _wait_for(proc, "  pool_binding:")
    proc.kill()
    proc.communicate(timeout=60)
    left = resources(slow_cloud)
    new = {k: [r for r in items if r["id"] not in before[k]] for k, items in left.items()}
    probe_pools = {p["id"] for p in new["pools"]}
    assert new["certificates"] and new["listeners"] and new["pools"]
    for kind in ("certificates", "listeners", "pools"):
        assert all(r["description"].startswith(MARKER_PREFIX) for r in new[kind]), new[kind]
    assert all(m["pool_id"] in probe_pools for m in new["members"])
    code, document = probe(workdir)
    assert code == 0, capsys.readouterr().err
    removed = document["cleanup"]["leftovers_removed"]
    assert len(removed) == sum(len(items) for items in new.values())
    assert ids(slow_cloud) == before


def test_on_a_terminal_it_shows_the_plan_and_creates_nothing_unless_told_yes(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")  # only "yes" is accepted
    (workdir / "state").mkdir()
    with start_server(workdir / "state", announce=True) as server:
        before = ids(server)
        argv = ["probe", "--embedded", "--state-dir", str(workdir / "state")]
        assert main([*argv, "--loadbalancer", "emulator-dedicated-lb"]) == 1
        assert ids(server) == before
    captured = capsys.readouterr()
    assert "create HTTPS listener elbprobe-" in captured.out
    assert "cancelled; nothing was created" in captured.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--region", "cn-north-4", "--state-dir", "x"], "--state-dir is the emulator's"),
        (["--embedded", "--project-id", "p"], "not with --embedded"),
        (["--region", "cn-north-4", "--address", "host:70000"], "is not HOST:PORT"),
    ],
)
def test_bad_options_are_one_clear_message_before_any_call(
    workdir: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["probe", "--loadbalancer", "lb", "--yes", *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
