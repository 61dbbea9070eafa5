"""SIGTERM (GitLab's cancel, `docker stop`) during a slow apply stops like Ctrl-C: calls in
flight finish, nothing new starts, the summary is printed, exit 143; the next apply
converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.emulator import FaultConfig, RunningServer, start_server
from elb_mtls_deploy.emulator.control.admin import state as emulator_state
from tests.cli.conftest import spec_text

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_cloud(workdir: Path) -> Iterator[RunningServer]:
    state_dir = workdir / ".elb-emulator"
    state_dir.mkdir()
    # Only writes are slow, so observe is quick and the apply is long enough to interrupt.
    faults = FaultConfig(latency_ms=800, only_methods=("POST", "PUT"))
    with start_server(state_dir, announce=True, dataplane=False, faults=faults) as server:
        yield server


def test_sigterm_stops_gracefully_with_143_and_the_next_apply_converges(
    workdir: Path, slow_cloud: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = workdir / "spec.yaml"
    spec.write_text(textwrap.dedent(spec_text(weights=(1, 1, 1, 1))))
    assert main(["certs", str(spec)]) == 0  # issue first: the interrupted run only applies
    proc = subprocess.Popen(
        [sys.executable, "-m", "elb_mtls_deploy", "apply", str(spec), "--auto-approve"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("  ok "):  # the first call has landed: the apply is under way
            proc.send_signal(signal.SIGTERM)
            break
    rest, err = proc.communicate(timeout=120)
    out = "".join(seen) + rest
    assert proc.returncode == 143, out + err
    assert "Interrupted: calls in flight were finished; nothing new was started." in err
    assert "Traceback" not in err
    [summary] = [line for line in out.splitlines() if line.startswith("Applied: ")]
    assert " 0 failed" in summary and not summary.endswith(" 0 not started.")
    assert "Apply complete" not in out

    capsys.readouterr()
    assert main(["apply", str(spec), "--auto-approve"]) == 0
    assert "Apply complete; a fresh plan shows no changes." in capsys.readouterr().out
    cloud = emulator_state(slow_cloud.emulator)
    assert len(cloud["members"]) == 4 and len(cloud["listeners"]) == 1
