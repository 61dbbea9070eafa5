"""`deploy verify --fail-on-expiry DAYS`: the scheduled check alerts on a certificate that
runs out soon, even when every handshake passes."""

from __future__ import annotations

import json

import pytest

from tests.verify.conftest import Live, live, spec_text

__all__ = ["live"]

pytestmark = pytest.mark.slow


def test_expiring_certificates_fail_verify_only_when_asked(live: Live) -> None:
    live.write(spec_text(live.members))
    live.apply()
    code, out, err = live.verify("--fail-on-expiry", "30")
    assert code == 0, out + err
    code, out, err = live.verify("--fail-on-expiry", "36500", "--output", "json")
    assert code == 1
    assert "error: EXPIRING: certificate www expires" in err
    document = json.loads(out)
    assert document["counts"]["fail"] == 0 and len(document["expiring"]) >= 3
