"""`deploy emulator serve|state|reset --output json` (before or after the subcommand)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.emulator import DEMO_AK, start_server


def test_state_and_reset_print_one_json_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "emu"
    start_server(state_dir, dataplane=False).close()
    assert main(["emulator", "state", "--state-dir", str(state_dir), "--output", "json"]) == 0
    dump = json.loads(capsys.readouterr().out)
    assert {lb["name"] for lb in dump["loadbalancers"]} >= {"emulator-dedicated-lb"}
    assert dump["listeners"] == [] and "PRIVATE KEY" not in json.dumps(dump)

    assert main(["--output", "json", "emulator", "reset", "--state-dir", str(state_dir)]) == 0
    # only the emulator's own files go (issue 12): here its database, then the empty dir
    assert json.loads(capsys.readouterr().out) == {
        "removed": str(state_dir),
        "files": ["emulator.db"],
    }
    assert main(["--output", "json", "emulator", "reset", "--state-dir", str(state_dir)]) == 0
    assert json.loads(capsys.readouterr().out) == {"removed": None}


@pytest.mark.slow
def test_serve_announces_itself_as_one_json_line(tmp_path: Path) -> None:
    state_dir = tmp_path / "emu"
    proc = subprocess.Popen(
        [sys.executable, "-m", "elb_mtls_deploy", "--output", "json", "emulator", "serve",
         "--state-dir", str(state_dir), "--no-dataplane"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        first = json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=60)
    assert first["endpoint"].startswith("http://127.0.0.1:") and first["ak"] == DEMO_AK
    assert first["state_dir"] == str(state_dir.resolve()) and first["dataplane"] == []
    assert proc.returncode == 0, err
    assert rest == ""  # nothing but the JSON line on stdout
