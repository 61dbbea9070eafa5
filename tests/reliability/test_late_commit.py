"""A certificate create whose reply times out and which commits *later* (after the
client looked it up, found nothing and sent it again) must not leave a duplicate after
"Apply complete" (issue 14 item 2). End to end: `deploy apply` through the SDK, a loopback
fault proxy that holds the first certificate create past the client's read timeout and
forwards it 3 s after it was sent (1 s read timeout + 2 s), and the emulator; then the
independent audit.

The negative control runs the same with the settle window off: the late copy survives,
so the positive case is not passing by luck of timing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "reliability"))

import campaigns
from audit import audit
from proxy import ProxyFaults

from elb_mtls_deploy.emulator.control.admin import state as emulator_state

pytestmark = pytest.mark.slow
LATE = ProxyFaults(0, 0, 0, 0, read_timeout=1.0, late_max=2.0, late_certificate_creates=1)


def apply_with_a_late_certificate(
    tmp_path: Path, settle: float
) -> tuple[campaigns.ProxiedStage, int, str, list[str]]:
    campaigns._IN_DOUBT.clear()
    with campaigns.instrumented(settle_seconds=settle), campaigns.read_timeout(LATE.read_timeout):
        stage = campaigns.ProxiedStage(tmp_path, "example", LATE)
        try:
            code, out, err = campaigns.run_cli(
                "apply", str(stage.spec), "--auto-approve", *campaigns.PROXY_RETRY_ARGS
            )
            assert stage.proxy.late_committed.wait(timeout=30), "the late create never committed"
        except BaseException:
            stage.close()
            raise
    return stage, code, out + err, list(campaigns._IN_DOUBT)


def test_a_late_certificate_commit_is_seen_and_removed(tmp_path: Path) -> None:
    stage, code, output, doubted = apply_with_a_late_certificate(tmp_path, settle=3.0)
    try:
        assert code == 0, output
        assert len(doubted) == 1 and doubted[0].startswith("certificate ")
        assert "converging again" in output  # the post-apply plan saw the late copy
        findings = audit(emulator_state(stage.server.emulator), stage.base, stage.stack)
        assert findings.duplicates == [] and findings.clean, findings
    finally:
        stage.close()


def test_negative_control_without_the_settle_window_the_copy_survives(tmp_path: Path) -> None:
    stage, code, output, doubted = apply_with_a_late_certificate(tmp_path, settle=0.0)
    try:
        assert code == 0 and len(doubted) == 1, output
        assert "Apply complete" in output
        findings = audit(emulator_state(stage.server.emulator), stage.base, stage.stack)
        assert any("certificates named" in d for d in findings.duplicates), findings
    finally:
        stage.close()
