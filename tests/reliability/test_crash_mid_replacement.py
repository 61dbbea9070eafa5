"""An apply killed in the middle of a listener *replacement* (a port change: the new
listener, pool, monitor and members are created under the same names, then the old ones
are deleted) leaves two same-named listeners and pools. Found by the crash campaign (seed
20240601, round 12): observe used to keep the old listener and map the old pool's members
onto the kept pool, so the old pool was deleted before its members (409). Observe now keeps
the candidates closest to the spec and makes the rest, children included, duplicates that
are deleted children first: one apply converges."""

from __future__ import annotations

import copy
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "reliability"))

import campaigns
from audit import audit
from campaign_specs import write

from elb_mtls_deploy.emulator.control.admin import state as emulator_state

pytestmark = pytest.mark.slow


def test_one_apply_recovers_from_a_kill_mid_replacement(tmp_path: Path) -> None:
    with campaigns.instrumented(), campaigns.stages(tmp_path, ["example"]) as opened:
        stage = opened["example"]
        moved = copy.deepcopy(stage.base)
        moved["listeners"][0]["port"] = 10443
        write(moved, stage.spec)
        assert campaigns.run_cli("apply", str(stage.spec), "--auto-approve")[0] == 0
        write(stage.base, stage.spec)  # back to 443: replace listener, pool, monitor, members
        original = stage.server.emulator.handle
        child: Any = None

        def handle(method: str, target: str, headers: Any, body: bytes) -> Any:
            response = original(method, target, headers, body)
            if method == "DELETE" and "/healthmonitors/" in target:  # creates done, deletes begun
                os.kill(child.pid, signal.SIGKILL)
            return response

        stage.server.emulator.handle = handle  # type: ignore[method-assign]
        child = campaigns._deploy("apply", str(stage.spec), "--auto-approve", cwd=stage.root)
        child.communicate(timeout=120)
        stage.server.emulator.handle = original  # type: ignore[method-assign]
        assert child.returncode == -signal.SIGKILL
        dump = emulator_state(stage.server.emulator)
        assert (
            "2 listeners named demo-payments-www" in audit(dump, stage.base, stage.stack).duplicates
        )

        code, out, err = campaigns.run_cli("apply", str(stage.spec), "--auto-approve")
        assert code == 0, out + err
        assert audit(emulator_state(stage.server.emulator), stage.base, stage.stack).clean
