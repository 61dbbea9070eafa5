"""The plan: ordered actions that turn the observed state into the desired one.

Owns the `Action`/`Plan` values and their JSON form (a saved plan). The same action
objects are rendered as text and executed by `apply`, as alembic's ops are. A saved
plan never contains key material: payloads are re-read from the PKI at apply time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from elb_mtls_deploy.errors import PlanError
from elb_mtls_deploy.state import Flavour, Kind

Op = Literal["create", "update", "delete"]
PLAN_FORMAT = 1


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Action:
    """One API-level step. `replacement` marks the halves of a -/+ pair."""

    op: Op
    kind: Kind
    key: str
    name: str
    id: str | None = None  # the observed id, for update and delete
    parent_id: str | None = None  # observed pool id of a member/health monitor being changed
    fields: Mapping[str, Any] = field(default_factory=dict)  # desired fields (create/update)
    changes: tuple[Change, ...] = ()
    replacement: bool = False
    reason: str = ""
    payload: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.op} {self.kind} {self.key.split(':', 1)[1]}"


@dataclass(frozen=True)
class Plan:
    stack: str
    flavour: Flavour
    actions: tuple[Action, ...] = ()
    waves: tuple[tuple[int, ...], ...] = ()  # indices into actions; a wave runs in parallel
    conflicts: tuple[str, ...] = ()  # problems that make the plan unappliable
    observed_digest: str = ""
    notes: tuple[str, ...] = ()  # warnings shown with the plan (expiry, ...)

    @property
    def empty(self) -> bool:
        return not self.actions and not self.conflicts

    def counts(self) -> dict[str, int]:
        """GitLab's terraform report: a replacement counts as one create and one delete."""
        return {
            op: sum(1 for a in self.actions if a.op == op) for op in ("create", "update", "delete")
        }


def digest(source: Any) -> str:
    text = json.dumps(source, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def to_json(plan: Plan, spec_path: str, spec_digest: str) -> dict[str, Any]:
    """The saved-plan document; versioned, no payloads."""
    return {
        "format": PLAN_FORMAT,
        "tool": "elb-mtls-deploy",
        "stack": plan.stack,
        "flavour": plan.flavour,
        "spec": {"path": spec_path, "sha256": spec_digest},
        "observed_digest": plan.observed_digest,
        "summary": plan.counts(),
        "conflicts": list(plan.conflicts),
        "notes": list(plan.notes),
        "actions": [_action_json(a) for a in plan.actions],
        "waves": [list(w) for w in plan.waves],
    }


def _action_json(action: Action) -> dict[str, Any]:
    return {
        "op": action.op,
        "kind": action.kind,
        "key": action.key,
        "name": action.name,
        "id": action.id,
        "parent_id": action.parent_id,
        "replacement": action.replacement,
        "reason": action.reason,
        "fields": _plain(dict(action.fields)),
        "changes": [
            {"field": c.field, "old": _plain(c.old), "new": _plain(c.new)} for c in action.changes
        ],
    }


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@dataclass(frozen=True)
class SavedPlan:
    stack: str
    spec_path: str
    spec_digest: str
    observed_digest: str
    actions: tuple[Mapping[str, Any], ...]


def read_saved(document: Mapping[str, Any], source: str) -> SavedPlan:
    """Validate a saved-plan document just enough to compare it with a fresh plan."""
    if document.get("tool") != "elb-mtls-deploy" or document.get("format") != PLAN_FORMAT:
        raise PlanError(
            f"{source}: not a plan file of this tool (format {PLAN_FORMAT})",
            hint="create one with `deploy plan SPEC --out plan.json`",
        )
    try:
        spec = document["spec"]
        return SavedPlan(
            stack=str(document["stack"]),
            spec_path=str(spec["path"]),
            spec_digest=str(spec["sha256"]),
            observed_digest=str(document["observed_digest"]),
            actions=tuple(document["actions"]),
        )
    except (KeyError, TypeError) as exc:
        raise PlanError(f"{source}: the plan file is incomplete ({exc})") from None


def same_actions(saved: SavedPlan, fresh: Plan) -> bool:
    mine = [_comparable(_action_json(a)) for a in fresh.actions]
    theirs = [_comparable(dict(a)) for a in saved.actions]
    return mine == theirs


def _comparable(action: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        action.get("op"),
        action.get("key"),
        action.get("id"),
        action.get("replacement"),
        json.dumps(action.get("fields"), sort_keys=True),
    )
