"""What the commands decide, below the CLI: pending changes, refusals, the command a
converge runs as, and the saved-plan checks (each was only reachable through `main`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from elb_mtls_deploy.errors import DeployError, PlanError
from elb_mtls_deploy.pki.store import Pending, PkiView
from elb_mtls_deploy.plan import Action, Plan
from elb_mtls_deploy.saved_plan import SavedPlan
from elb_mtls_deploy.state import Ref, State
from elb_mtls_deploy.workflow import Deployed, Hooks, Planned, PlanReport, saved
from elb_mtls_deploy.workflow.deploy import _run
from elb_mtls_deploy.workflow.notes import ISSUE_NOTE
from elb_mtls_deploy.workflow.session import Connection

CREATE = Action("create", "pool", Ref("pool", "web"), "web")


def planned(plan: Plan, pending: dict[str, Pending] | None = None) -> Planned:
    view = PkiView(Path("pki"), pending=pending or {}) if pending is not None else None
    return Planned(plan, State(), State(), view)


def test_certificates_to_issue_are_pending_changes_even_with_no_cloud_change() -> None:
    empty = Plan("shop", "v3")
    assert not planned(empty).changes
    assert not planned(empty, {}).changes
    assert planned(empty, {"ca": Pending("ca", "ca", "expiring")}).changes
    assert planned(Plan("shop", "v3", actions=(CREATE,))).changes  # destroy: no PKI view


@pytest.mark.parametrize(
    ("plan", "refused"),
    [
        (Plan("shop", "v3", notes=("WARNING: listener web stops trusting CA old",)), False),
        (Plan("shop", "v3", conflicts=("CA root: its key is not in the PKI",)), True),
        (Plan("shop", "v3", notes=("EXPIRING: certificate web expires 2027-01-01",)), True),
    ],
)
def test_plan_exits_1_on_conflicts_and_expiring_certificates(plan: Plan, refused: bool) -> None:
    assert PlanReport(plan, {}, changes=False).refused is refused


class Recorder:
    def __init__(self, approve: bool) -> None:
        self.shown: list[Plan] = []
        self.asked = 0
        self.answer = approve

    def hooks(self) -> Hooks:
        def approve() -> bool:
            self.asked += 1
            return self.answer

        return Hooks(show=self.shown.append, approve=approve)


def connection(state_dir: Path | None) -> Connection:
    return Connection(None, "v3", {}, "", state_dir)  # type: ignore[arg-type]


def run(command: Any, plan: Plan, approve: bool = True, **pki: Any) -> tuple[Deployed, Recorder]:
    recorder = Recorder(approve)
    loaded: Any = None  # not read before converge, which these paths never reach
    done = _run(command, planned(plan, **pki), loaded, connection(Path("emu")), recorder.hooks())
    return done, recorder


def test_nothing_to_do_is_shown_and_never_asked() -> None:
    done, asked = run("apply", Plan("shop", "v3"))
    assert (done.status, done.ok, asked.asked, len(asked.shown)) == ("no changes", True, 0, 1)
    assert done.emulator_dir == Path("emu")  # apply says where the emulator keeps the cloud
    destroyed, _ = run("destroy", Plan("shop", "v3"))
    assert (destroyed.command, destroyed.emulator_dir) == ("destroy", None)


def test_a_refused_approval_changes_nothing() -> None:
    done, asked = run("destroy", Plan("shop", "v3", actions=(CREATE,)), approve=False)
    assert (done.status, done.ok, asked.asked, done.reports) == ("cancelled", False, 1, ())
    assert done.after is done.before  # the cloud as observed: untouched


def test_conflicts_refuse_after_the_plan_is_shown_without_asking() -> None:
    recorder = Recorder(approve=True)
    plan = Plan("shop", "v3", conflicts=("CA root: lost",))
    with pytest.raises(DeployError, match="the plan has conflicts; nothing was changed"):
        _run("apply", planned(plan), None, connection(None), recorder.hooks())  # type: ignore[arg-type]
    assert recorder.shown == [plan] and recorder.asked == 0


def saved_plan(notes: tuple[str, ...] = ()) -> SavedPlan:
    return SavedPlan("shop", "config/spec.yaml", "sha", {}, "", (), notes)


def test_apply_loads_the_spec_a_saved_plan_names_unless_pinned(tmp_path: Path) -> None:
    given = tmp_path / "plan.json"
    assert saved.spec_path(None, tmp_path / "spec.yaml", None) == tmp_path / "spec.yaml"
    assert saved.spec_path(saved_plan(), given, None) == Path("config/spec.yaml")
    assert saved.spec_path(saved_plan(), given, Path("other.yaml")) == Path("other.yaml")


def test_only_json_is_read_as_a_saved_plan(tmp_path: Path) -> None:
    assert saved.read(tmp_path / "missing.yaml") is None  # a spec: not opened here
    with pytest.raises(PlanError, match="cannot read the plan file"):
        saved.read(tmp_path / "missing.json")
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(PlanError, match="cannot read the plan file"):
        saved.read(tmp_path / "latin1.json")


def test_a_saved_plan_must_issue_exactly_what_it_said() -> None:
    issue = f"{ISSUE_NOTE} ca root (new)"
    fresh = planned(Plan("shop", "v3", notes=(issue, "REVOKED: client bob")))
    saved.check_issuance([issue], fresh)  # other notes may differ
    with pytest.raises(PlanError, match=r"it would issue \['ISSUE at apply: ca root \(new\)'\]"):
        saved.check_issuance([], fresh)
    with pytest.raises(PlanError, match="instead of"):
        saved.check_issuance([issue, f"{ISSUE_NOTE} server web (expiring)"], fresh)
