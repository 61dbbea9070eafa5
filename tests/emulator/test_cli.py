"""`deploy emulator serve|state|reset` as wired by `register(subparsers)`."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cp_helpers import DEDICATED, https_listener, pool, sdk_client, server_cert
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import DEMO_AK, DEMO_PROJECT_ID, discover_server, start_server
from elb_mtls_deploy.emulator.cli import register

DRIVER = (
    "import argparse, sys\n"
    "from elb_mtls_deploy.emulator.cli import register\n"
    "parser = argparse.ArgumentParser(prog='deploy')\n"
    "register(parser.add_subparsers())\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="deploy")
    register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    result: int = args.func(args)
    return result


def test_state_lists_resources_without_keys(
    state_dir: Path, pki: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with start_server(state_dir, dataplane=False) as server:
        client = sdk_client("v3", server.endpoint)
        https_listener(client, server_cert(client, pki, name="site").id, name="front")
    assert run("emulator", "state", "--state-dir", str(state_dir)) == 0
    out = capsys.readouterr().out
    assert "emulator-dedicated-lb" in out and "site" in out and "front" in out
    assert "HTTPS:443" in out and "PRIVATE KEY" not in out


def test_reset_refuses_foreign_directories(tmp_path: Path) -> None:
    foreign = tmp_path / "important"
    foreign.mkdir()
    (foreign / "data.txt").write_text("keep me")
    assert run("emulator", "reset", "--state-dir", str(foreign)) == 1
    assert (foreign / "data.txt").exists()


def test_reset_deletes_emulator_state(state_dir: Path) -> None:
    start_server(state_dir, dataplane=False).close()
    assert run("emulator", "reset", "--state-dir", str(state_dir)) == 0
    assert not state_dir.exists()


def test_reset_deletes_only_the_emulators_own_files(state_dir: Path) -> None:
    """`reset --state-dir DIR` once ran rmtree(DIR): a PKI or a spec kept there went too."""
    start_server(state_dir, dataplane=False).close()
    (state_dir / "keep.yaml").write_text("stack: mine\n")
    (state_dir / "pki").mkdir()
    (state_dir / "pki" / "ca.key").write_text("key")
    assert run("emulator", "reset", "--state-dir", str(state_dir)) == 0
    assert sorted(p.name for p in state_dir.iterdir()) == ["keep.yaml", "pki"]
    assert (state_dir / "pki" / "ca.key").read_text() == "key"


def test_serve_bad_fault_options(state_dir: Path) -> None:
    assert run("emulator", "serve", "--state-dir", str(state_dir), "--error-rate", "2") == 1
    assert run("emulator", "serve", "--state-dir", str(state_dir), "--provisioning-ms", "-5") == 1


@pytest.mark.slow
def test_serve_turns_the_provisioning_model_on(state_dir: Path) -> None:
    argv = ["emulator", "serve", "--state-dir", str(state_dir), "--no-dataplane"]
    argv += ["--provisioning-ms", "60000"]
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, *argv], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().rsplit(" ", 1)[-1].strip()
        client = sdk_client("v3", endpoint)
        pool(client, lb_id=DEDICATED)
        request = sdk.ShowLoadBalancerRequest(loadbalancer_id=DEDICATED)
        assert client.show_load_balancer(request).loadbalancer.provisioning_status == (
            "PENDING_UPDATE"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.slow
def test_serve_announces_itself_and_stops_on_sigterm(state_dir: Path) -> None:
    argv = ["emulator", "serve", "--state-dir", str(state_dir), "--no-dataplane"]
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, *argv], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        endpoint = first.rsplit(" ", 1)[-1].strip()
        banner = "".join(proc.stdout.readline() for _ in range(5))
        assert endpoint.startswith("http://127.0.0.1:")
        assert DEMO_AK in banner and DEMO_PROJECT_ID in banner and "public demo" in banner
        assert discover_server(state_dir) == endpoint
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
    assert discover_server(state_dir) is None


@pytest.mark.slow
def test_serve_prints_where_each_listener_answers(state_dir: Path, pki: Any) -> None:
    with start_server(state_dir, dataplane=False) as server:
        client = sdk_client("v3", server.endpoint)
        https_listener(client, server_cert(client, pki, name="site").id, name="front")
    argv = ["emulator", "serve", "--state-dir", str(state_dir), "--no-demo-backends"]
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, *argv], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("Press Ctrl-C"):
            lines.append(proc.stdout.readline())
        [served] = [line for line in lines if "data plane:" in line]
        assert "front (HTTPS:443, one-way TLS) -> https://127.0.0.1:" in served
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
