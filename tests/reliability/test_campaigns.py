"""The reliability campaigns (bench/reliability/), small in the default run, full size with
ELB_RELIABILITY=1 (`ELB_RELIABILITY=1 pytest -m reliability tests/reliability`). The proxy
campaign puts faults on the wire (late-committing timeouts, cut replies, junk list bodies,
Retry-After abuse, the emulator killed and restarted) and scans every output for secrets.

Every round must converge (faults: within its own retries or at most 3 re-runs), leave no
duplicate and no orphan, and end with an empty fresh plan. docs/reliability.md has the
figures of the full runs and how to replay a seed.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "reliability"))

import campaigns
from proxy import ProxyFaults

pytestmark = pytest.mark.slow
FULL = bool(os.environ.get("ELB_RELIABILITY"))
SEED = 20240601


def check(results: list[campaigns.Round], rounds: int) -> None:
    assert len(results) == rounds
    bad = [
        (r.campaign, r.spec, r.index, r.seed, r.codes, r.findings, r.detail)
        for r in results
        if not r.ok
    ]
    assert bad == []


def test_faults_small(tmp_path: Path) -> None:
    results = campaigns.fault_campaign(tmp_path, ["example", "large"], 3, SEED, retry_after=0)
    check(results, 6)
    assert sum(r.requests for r in results) > 0
    assert sum(sum(r.faults.values()) for r in results) > 0  # faults really fired


def test_crashes_small(tmp_path: Path) -> None:
    results = campaigns.crash_campaign(tmp_path, ["example", "large"], 4, SEED)
    check(results, 4)


def test_concurrency_small(tmp_path: Path) -> None:
    results = campaigns.concurrency_campaign(tmp_path, ["example"], 2, SEED)
    check(results, 2)


# Higher rates than the full run, so that every kind of wire fault fires in a few rounds.
HOT = ProxyFaults(timeout_rate=0.08, cut_rate=0.08, junk_rate=0.1, retry_after_rate=0.02)


def test_proxy_small(tmp_path: Path) -> None:
    results = campaigns.proxy_campaign(tmp_path, ["example"], 3, SEED, kill_rate=0.75, rates=HOT)
    check(results, 3)
    fired: Counter[str] = Counter()
    for r in results:
        fired.update(r.faults)
    assert fired["timeout"] and fired["cut"] and fired["junk"] and fired["kill"], fired
    assert all(not r.leaks for r in results)


@pytest.mark.reliability
@pytest.mark.skipif(not FULL, reason="full campaign: set ELB_RELIABILITY=1")
@pytest.mark.timeout(3600)
def test_faults_full(tmp_path: Path) -> None:
    check(campaigns.fault_campaign(tmp_path, ["example", "large"], 100, SEED), 200)


@pytest.mark.reliability
@pytest.mark.skipif(not FULL, reason="full campaign: set ELB_RELIABILITY=1")
@pytest.mark.timeout(3600)
def test_crashes_full(tmp_path: Path) -> None:
    check(campaigns.crash_campaign(tmp_path, ["example", "large"], 30, SEED), 30)


@pytest.mark.reliability
@pytest.mark.skipif(not FULL, reason="full campaign: set ELB_RELIABILITY=1")
@pytest.mark.timeout(3600)
def test_concurrency_full(tmp_path: Path) -> None:
    check(campaigns.concurrency_campaign(tmp_path, ["example", "large"], 10, SEED), 10)


@pytest.mark.reliability
@pytest.mark.skipif(not FULL, reason="full campaign: set ELB_RELIABILITY=1")
@pytest.mark.timeout(3600)
def test_proxy_full(tmp_path: Path) -> None:
    check(campaigns.proxy_campaign(tmp_path, ["example", "large"], 50, SEED), 100)
