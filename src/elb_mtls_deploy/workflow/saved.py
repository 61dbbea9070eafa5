"""`apply PLAN.json`: reading a saved plan back and deciding whether it may still go ahead.

A saved plan is the approval, so apply refuses it unless everything it was made from is
unchanged: the spec (path and digest), each certificate's fingerprint, the cloud as
observed, and the certificates apply will issue (`saved_plan` owns the document checks).
"""

from __future__ import annotations

from pathlib import Path

from elb_mtls_deploy.errors import PlanError
from elb_mtls_deploy.saved_plan import (
    MAX_PLAN_BYTES,
    SavedPlan,
    certificate_fingerprints,
    check_fresh,
    check_spec,
    parse,
)
from elb_mtls_deploy.workflow.notes import ISSUE_NOTE
from elb_mtls_deploy.workflow.planning import Planned
from elb_mtls_deploy.workflow.session import Loaded


def is_saved_plan(path: Path) -> bool:
    """`apply` takes a spec or a plan saved with `plan --out` (always JSON; specs are YAML)."""
    return path.suffix == ".json"


def read(path: Path) -> SavedPlan | None:
    """The saved plan at `path`, or None when `path` is a spec."""
    if not is_saved_plan(path):
        return None
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_PLAN_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot read the plan file ({exc})") from None
    return parse(text, str(path))


def spec_path(saved: SavedPlan | None, given: Path, pinned: Path | None) -> Path:
    """The spec apply loads: the given one, or the saved plan's (`--spec` pins it)."""
    if saved is None:
        return given
    return pinned if pinned is not None else Path(saved.spec_path)


def check_made_from(saved: SavedPlan, source: Path, loaded: Loaded) -> None:
    """Before connecting: the plan was made from this spec, as it is now."""
    check_spec(saved, str(source), str(loaded.path), loaded.digest)


def check_still_valid(saved: SavedPlan, source: Path, planned: Planned) -> None:
    """After a fresh plan: the cloud, the certificates and what apply issues are unchanged."""
    check_fresh(saved, str(source), planned.plan, certificate_fingerprints(planned.desired))
    check_issuance(list(saved.notes), planned)


def check_issuance(saved_notes: list[str], planned: Planned) -> None:
    """`apply PLAN.json` issues exactly what the saved plan said it would."""
    saved = [n for n in saved_notes if n.startswith(ISSUE_NOTE)]
    fresh = [n for n in planned.plan.notes if n.startswith(ISSUE_NOTE)]
    if saved != fresh:
        raise PlanError(
            "the PKI directory changed since this plan was made: it would issue "
            f"{fresh or 'nothing'} instead of {saved or 'nothing'}; refusing to apply it",
            hint="run `deploy plan` again, review, and apply the new plan",
        )
