"""The reliability campaigns (bench/reliability/), small in the default run, full size with
ELB_RELIABILITY=1 (`ELB_RELIABILITY=1 pytest -m reliability tests/reliability`).

Every round must converge (faults: within its own retries or at most 3 re-runs), leave no
duplicate and no orphan, and end with an empty fresh plan. docs/reliability.md has the
figures of the full runs and how to replay a seed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "reliability"))

import campaigns

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
