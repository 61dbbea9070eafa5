"""`--fail-on-expiry DAYS`: which notes plan and verify add, and which of them fail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from elb_mtls_deploy.state import State
from elb_mtls_deploy.workflow.notes import expiring, expiry_notes, served_expiry


@dataclass
class Bundle:
    name: str
    not_after: datetime


def soon(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def test_verify_names_each_served_certificate_ending_within_the_days() -> None:
    bundles = [Bundle("web", soon(5)), Bundle("ca", soon(400))]
    notes = served_expiry(bundles, 30)
    assert len(notes) == 1 and notes[0].startswith("EXPIRING: certificate web expires ")
    assert "(within 30 days)" in notes[0]
    assert served_expiry(bundles, None) == []  # not asked: no note, whatever the dates
    assert served_expiry(bundles, 1) == []


def test_plan_adds_no_note_unless_asked_and_reads_no_pki_then() -> None:
    loaded: Any = None  # the PKI is not read without --fail-on-expiry
    assert expiry_notes(loaded, State(), None) == []


def test_only_expiring_notes_fail() -> None:
    assert expiring(["EXPIRING: certificate web expires 2027-01-01 (within 30 days)"])
    assert not expiring(["WARNING: listener web stops trusting CA old", "ISSUE at apply: x"])
    assert not expiring([])
