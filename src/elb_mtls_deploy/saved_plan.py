"""The saved plan (`plan --out plan.json`): its JSON shape, loading it back, and the checks
that decide whether `apply plan.json` may go ahead. Pure: documents in, documents out.

The shape is the one Terraform users' tools read (`terraform show -json`): a
`resource_changes[]` list whose `change.actions` is `["create"]`, `["update"]`,
`["delete"]`, `["create", "delete"]` (create before destroy) or `["delete", "create"]`
(destroy before create), with `before`/`after` objects. Beside it, what apply re-checks:
the spec's path and digest, each certificate's fingerprint, and a digest of the cloud as
observed. Secrets are never in it: records carry fingerprints, payloads stay out.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elb_mtls_deploy.desired import is_known_after_apply
from elb_mtls_deploy.errors import PlanError
from elb_mtls_deploy.plan import Action, Plan, destroy_first
from elb_mtls_deploy.state import Ref, State

PLAN_FORMAT = 2
TERRAFORM_FORMAT_VERSION = "1.2"  # the `terraform show -json` format this follows
MAX_PLAN_BYTES = 16 * 1024 * 1024
_SECRET_FIELDS = frozenset({"private_key", "certificate", "password", "payload"})
_AGAIN = "run `deploy plan SPEC --out plan.json` again, review it, and apply the new plan"


def to_json(
    plan: Plan, spec_path: str, spec_digest: str, certificates: Mapping[str, str | None]
) -> dict[str, Any]:
    """The saved-plan document; `certificates` maps name to fingerprint (None: not issued)."""
    return {
        "format_version": TERRAFORM_FORMAT_VERSION,
        "format": PLAN_FORMAT,
        "tool": "elb-mtls-deploy",
        "stack": plan.stack,
        "flavour": plan.flavour,
        "spec": {"path": spec_path, "sha256": spec_digest},
        "certificates": dict(sorted(certificates.items())),
        "observed_digest": plan.observed_digest,
        "summary": plan.counts(),
        "conflicts": list(plan.conflicts),
        "notes": list(plan.notes),
        "resource_changes": resource_changes(plan),
    }


def certificate_fingerprints(desired: State) -> dict[str, str | None]:
    """Name -> fingerprint of every certificate the desired state uploads."""
    return {
        record.key.name: record.fields.get("fingerprint")
        for record in desired.by_kind("certificate")
    }


def resource_changes(plan: Plan) -> list[dict[str, Any]]:
    """One entry per resource in plan order; a replacement's two halves are one entry."""
    first = destroy_first(plan)
    halves = {a.key: a for a in plan.actions if a.replacement and a.op == "delete"}
    entries: list[dict[str, Any]] = []
    seen: set[Ref] = set()
    for action in plan.actions:
        if action.replacement and action.op == "delete":
            continue
        if action.replacement:
            old = halves.get(action.key)
            order = ["delete", "create"] if first.get(action.key) else ["create", "delete"]
            entries.append(_entry(action, order, _before(old), _after(action)))
        elif action.op == "create":
            entries.append(_entry(action, ["create"], None, _after(action)))
        elif action.op == "update":
            before = {"id": action.id, "name": action.name}
            before |= {c.field: _plain(c.old) for c in action.changes}
            after = {"id": action.id, "name": action.name}
            after |= {c.field: _plain(c.new) for c in action.changes}
            entries.append(_entry(action, ["update"], before, after))
        else:
            entry = _entry(action, ["delete"], _before(action), None)
            if action.key in seen:  # a duplicate left by an interrupted run: Terraform's word
                entry["deposed"] = action.id
            entries.append(entry)
        seen.add(action.key)
    return entries


def _entry(
    action: Action, actions: list[str], before: dict[str, Any] | None, after: dict[str, Any] | None
) -> dict[str, Any]:
    kind = action.kind
    name, index = action.key.member_parts() if kind == "member" else (action.key.name, None)
    address = f"elb_{kind}.{name}" + (f'["{index}"]' if index is not None else "")
    entry: dict[str, Any] = {
        "address": address,
        "mode": "managed",
        "type": f"elb_{kind}",
        "name": name,
        "provider_name": "elb-mtls-deploy",
        "change": {
            "actions": actions,
            "before": before,
            "after": after,
            "after_unknown": _unknown(after),
        },
        "key": str(action.key),
    }
    if index is not None:
        entry["index"] = index
    if action.parent_id:
        entry["parent_id"] = action.parent_id
    if action.reason:
        entry["reason"] = action.reason
    if len(actions) == 2:
        entry["action_reason"] = "replace_because_cannot_update"
    return entry


def _unknown(after: dict[str, Any] | None) -> dict[str, bool]:
    """Terraform's `after_unknown`: the id of what is created, and what apply must issue."""
    if after is None:
        return {}
    unknown = {k: True for k, v in after.items() if is_known_after_apply(v)}
    return {"id": True, **unknown} if "id" not in after else unknown


def _before(action: Action | None) -> dict[str, Any] | None:
    if action is None:
        return None
    return {"id": action.id, "name": action.name, **_fields(action)}


def _after(action: Action) -> dict[str, Any]:
    return {"name": action.name, **_fields(action)}


def _fields(action: Action) -> dict[str, Any]:
    return {k: _plain(v) for k, v in action.fields.items() if k not in _SECRET_FIELDS}


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --- loading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedPlan:
    stack: str
    spec_path: str
    spec_digest: str
    certificates: Mapping[str, str | None]
    observed_digest: str
    resource_changes: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...] = ()  # what the plan said, incl. what apply will issue


def parse(text: str, source: str) -> SavedPlan:
    """A saved plan from its text, or one PlanError saying what is wrong with the file."""
    if len(text) > MAX_PLAN_BYTES:
        raise PlanError(f"{source}: larger than {MAX_PLAN_BYTES} bytes; not a plan file")
    try:
        document = json.loads(text)
    except RecursionError:
        raise PlanError(
            f"{source}: cannot read the plan file: nested too deeply", hint=_AGAIN
        ) from None
    except ValueError as exc:
        raise PlanError(
            f"{source}: cannot read the plan file: not valid JSON ({exc})", hint=_AGAIN
        ) from None
    return read_saved(document, source)


def read_saved(document: Any, source: str) -> SavedPlan:
    """Validate a saved-plan document just enough to compare it with a fresh plan."""
    if not isinstance(document, dict) or document.get("tool") != "elb-mtls-deploy":
        raise PlanError(f"{source}: not a plan file of elb-mtls-deploy", hint=_AGAIN)
    if document.get("format") != PLAN_FORMAT:
        raise PlanError(
            f"{source}: plan format {document.get('format')!r}, this version reads "
            f"{PLAN_FORMAT} (made by another version of the tool?)",
            hint=_AGAIN,
        )
    spec = _object(document, "spec", source)
    certificates = _object(document, "certificates", source)
    changes = document.get("resource_changes")
    if not isinstance(changes, list) or not all(_is_change(c) for c in changes):
        raise PlanError(
            f"{source}: 'resource_changes' must be a list of objects with change.actions",
            hint=_AGAIN,
        )
    fields = (document.get("stack"), spec.get("path"), spec.get("sha256"))
    digest = document.get("observed_digest")
    if not all(isinstance(v, str) for v in (*fields, digest)) or not all(
        v is None or isinstance(v, str) for v in certificates.values()
    ):
        raise PlanError(f"{source}: the plan file is incomplete or damaged", hint=_AGAIN)
    return SavedPlan(
        str(document["stack"]),
        str(spec["path"]),
        str(spec["sha256"]),
        dict(certificates),
        str(digest),
        tuple(changes),
        tuple(n for n in _list(document.get("notes")) if isinstance(n, str)),
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _object(document: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    value = document.get(name)
    if not isinstance(value, dict):
        raise PlanError(f"{source}: '{name}' must be an object", hint=_AGAIN)
    return value


def _is_change(entry: Any) -> bool:
    change = entry.get("change") if isinstance(entry, dict) else None
    actions = change.get("actions") if isinstance(change, dict) else None
    return isinstance(actions, list) and all(isinstance(a, str) for a in actions)


# --- the checks apply makes ------------------------------------------------------------


def check_spec(saved: SavedPlan, source: str, spec_path: str, spec_digest: str) -> None:
    """The plan must come from this very spec file, unchanged."""
    if posixpath.normpath(saved.spec_path) != posixpath.normpath(spec_path):
        raise PlanError(
            f"{source}: refusing a plan made from the spec {saved.spec_path}, not {spec_path}",
            hint=f"plan {spec_path} and apply that plan",
        )
    if saved.spec_digest != spec_digest:
        raise PlanError(
            f"{source}: the spec {spec_path} changed since this plan was made", hint=_AGAIN
        )


def check_fresh(
    saved: SavedPlan,
    source: str,
    fresh: Plan,
    certificates: Mapping[str, str | None],
) -> None:
    """Refuse the saved plan unless a fresh one is the same; say which part differed."""
    if saved.stack != fresh.stack:
        raise PlanError(f"{source}: the plan is for stack {saved.stack!r}, not {fresh.stack!r}")
    moved = sorted(
        name for name, seen in saved.certificates.items() if certificates.get(name) != seen
    )
    mine = resource_changes(fresh)
    parts = []
    if moved:
        seen = [
            f"{n}: {_short(saved.certificates[n])} -> {_short(certificates.get(n))}" for n in moved
        ]
        parts.append(
            f"the certificates ({', '.join(seen)}; is this job's PKI directory the one the "
            "plan saw, or is the PKI cache missing or stale?)"
        )
    if saved.observed_digest != fresh.observed_digest:
        where = ", ".join(_differing(saved.resource_changes, mine)) or "resources the plan keeps"
        parts.append(f"the cloud ({where})")
    if parts:
        raise PlanError(
            f"{source}: {' and '.join(parts)} changed since this plan was made; refusing to "
            "apply it",
            hint=_AGAIN,
        )
    if _differing(saved.resource_changes, mine):
        raise PlanError(
            f"{source}: a fresh plan of the same spec, certificates and cloud differs from this "
            "one (made by another version of the tool?)",
            hint=_AGAIN,
        )


def _short(fingerprint: str | None) -> str:
    if fingerprint is None:
        return "missing"
    return fingerprint if is_known_after_apply(fingerprint) else f"sha256:{fingerprint[:16]}…"


def _differing(saved: Sequence[Mapping[str, Any]], fresh: Sequence[Mapping[str, Any]]) -> list[str]:
    """Addresses whose planned change is not the same in both (unknown values match anything)."""
    theirs = {_ident(e): e for e in saved}
    mine = {_ident(e): e for e in fresh}
    return sorted(
        str(ident[0])
        for ident in theirs.keys() | mine.keys()
        if _comparable(theirs.get(ident), theirs.get(ident))
        != _comparable(mine.get(ident), theirs.get(ident))
    )


def _ident(entry: Mapping[str, Any]) -> tuple[str, str]:
    return (str(entry.get("address")), str(entry.get("deposed", "")))


def _comparable(entry: Mapping[str, Any] | None, saved: Mapping[str, Any] | None) -> str:
    if entry is None:
        return ""
    change = dict(entry.get("change") or {})
    unknown = (saved or {}).get("change", {}).get("after_unknown") or {}
    after = change.get("after")
    if isinstance(after, dict) and isinstance(unknown, dict):
        change["after"] = {k: v for k, v in after.items() if unknown.get(k) is not True}
    change.pop("after_unknown", None)
    return json.dumps(change, sort_keys=True, default=str)
