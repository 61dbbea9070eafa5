"""The plan: ordered actions that turn the observed state into the desired one.

Owns the `Action`/`Plan` values (their JSON form, the saved plan, is `saved_plan.py`).
The same action objects are rendered as text and executed by `apply`, as alembic's ops
are. Payloads (PEM, keys) never leave the process: they are re-read at apply time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from elb_mtls_deploy.state import Flavour, Kind, Ref

Op = Literal["create", "update", "delete"]


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
    key: Ref
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
        return f"{self.op} {self.kind} {self.key.name}"


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


def destroy_first(plan: Plan) -> dict[Ref, bool]:
    """Replaced key -> True when its old half is deleted before the new one is created.

    Replacements are create-before-destroy unless the API forbids two at once (a port, a
    member address); `order.py` then puts the delete in an earlier wave.
    """
    index = {(a.key, a.op): i for i, a in enumerate(plan.actions) if a.replacement}
    return {
        key: index[(key, "delete")] < index[(key, "create")]
        for key, op in index
        if op == "create" and (key, "delete") in index
    }
