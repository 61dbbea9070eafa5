"""Render a plan as Terraform-style text (its JSON form is `saved_plan.py`). Pure: returns
strings.

Symbols are Terraform's: `+` create, `~` update in place, `-` destroy, `+/-` replace by
creating the new one first, `-/+` replace by destroying the old one first (only where the
API forbids both at once: `order.py`). Certificates show fingerprints, never PEM or keys
(`Action.payload` is excluded from every rendering by construction).
"""

from __future__ import annotations

from typing import Any

from elb_mtls_deploy.plan import Action, Plan, destroy_first
from elb_mtls_deploy.state import CloudRef, Ref

_SYMBOL = {"create": "+", "update": "~", "delete": "-"}
_COLOUR = {"+": "32", "~": "33", "-": "31", "+/-": "35", "-/+": "35"}
_MEANING = {
    "+": "create",
    "~": "update in place",
    "-": "destroy",
    "+/-": "create replacement, then destroy",
    "-/+": "destroy, then create replacement",
}
_HIDDEN = {"payload"}


def render_text(plan: Plan, colour: bool = False, legend: bool = False) -> str:
    """The plan as text; `legend` adds one line explaining the symbols the plan uses."""
    lines: list[str] = []
    if plan.conflicts:
        lines.append("Conflicts (apply will refuse this plan):")
        lines.extend(f"  ! {c}" for c in plan.conflicts)
        lines.append("")
    if not plan.actions:
        lines.append(f"No changes. Stack {plan.stack!r} matches the spec.")
    else:
        lines.append(
            f"Stack {plan.stack!r} (ELB {plan.flavour}) needs these changes, in this order:"
        )
        lines.append("")
        entries = _merged(plan)
        for entry in entries:
            lines.extend(_render_action(entry, colour))
        lines.append("")
        lines.append(summary_line(plan))
        if legend:
            lines.append(legend_line({symbol for symbol, _, _ in entries}))
    lines.extend(_note(n, colour) for n in plan.notes)
    return "\n".join(lines) + "\n"


def _note(note: str, colour: bool) -> str:
    """A WARNING (e.g. a client CA no longer trusted: its clients are locked out) in red."""
    line = f"note: {note}"
    return f"\x1b[31m{line}\x1b[0m" if colour and note.startswith("WARNING:") else line


def summary_line(plan: Plan) -> str:
    counts = plan.counts()
    return (
        f"Plan: {counts['create']} to add, {counts['update']} to change, "
        f"{counts['delete']} to destroy."
    )


def legend_line(symbols: set[str]) -> str:
    used = [f"{s} {meaning}" for s, meaning in _MEANING.items() if s in symbols]
    return "Symbols: " + ", ".join(used) + "."


def _merged(plan: Plan) -> list[tuple[str, Action, Action | None]]:
    """Pair each replacement's create and delete into one entry, at the create's place."""
    first = destroy_first(plan)
    old_halves = {a.key: a for a in plan.actions if a.replacement and a.op == "delete"}
    merged: list[tuple[str, Action, Action | None]] = []
    for action in plan.actions:
        if action.replacement and action.op == "delete":
            continue
        if action.replacement:
            symbol = "-/+" if first.get(action.key) else "+/-"
            merged.append((symbol, action, old_halves.get(action.key)))
        else:
            merged.append((_SYMBOL[action.op], action, None))
    return merged


def _render_action(entry: tuple[str, Action, Action | None], colour: bool) -> list[str]:
    symbol, action, old = entry
    head = f"{symbol:>3} {action.kind:<13} {action.key.name}"
    detail = f"  ({action.name}{', id ' + action.id if action.id else ''})"
    if old is not None:
        detail = f"  ({action.name}, replaces id {old.id})"
    line = head + detail
    if colour:
        line = f"\x1b[{_COLOUR[symbol]}m{line}\x1b[0m"
    out = [line]
    if action.reason:
        out.append(f"      # {action.reason}")
    if action.op == "update":
        out.extend(f"      ~ {c.field}: {_value(c.old)} -> {_value(c.new)}" for c in action.changes)
    elif action.op == "create":
        out.extend(
            f"      {name}: {_value(value)}"
            for name, value in sorted(action.fields.items())
            if name not in _HIDDEN and value not in (None, {}, (), [])
        )
    return out


def _value(value: Any) -> str:
    if isinstance(value, (Ref, CloudRef)):
        return f'"{value}"'
    if isinstance(value, str):
        if value.startswith("(known after apply"):  # issued at apply (desired.py)
            return value
        if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            return f"sha256:{value[:16]}…"
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in sorted(value.items())) + "}"
    if value is None:
        return "(none)"
    return str(value).lower() if isinstance(value, bool) else str(value)
