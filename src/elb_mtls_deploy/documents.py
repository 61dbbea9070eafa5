"""The JSON documents the commands print with `--output json` (and `plan --out` beside
them, in `saved_plan`): one shape per command, built from reports and states. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy.state import Ref  # light: dataclasses only

if TYPE_CHECKING:
    from elb_mtls_deploy.apply import Outcome, Report
    from elb_mtls_deploy.state import State


def error_rows(reports: Iterable[Report]) -> list[dict[str, Any]]:
    return [
        {
            "action": o.action.label,
            "message": o.error.message if o.error else None,
            "code": getattr(o.error, "code", None),
            "request_id": getattr(o.error, "request_id", None),
        }
        for report in reports
        for o in report.failed
    ]


def resource_rows(
    before: State, reports: Sequence[Report], after: State | None
) -> list[dict[str, Any]]:
    """Every resource the stack holds or touched, with its id and what apply did to it.

    Outcomes: created, updated, replaced, deleted, unchanged, failed, not started. A
    duplicate deleted beside a kept record is its own row (`deposed: true`).
    """
    final = after if after is not None else before
    rows: dict[tuple[Ref, str], dict[str, Any]] = {}
    for record in final.records.values():
        rows[(record.key, "")] = _row(record.key, record.kind, record.name, record.id, "unchanged")
    for report in reports:
        for outcome in report.outcomes:
            _apply_outcome(rows, outcome, final)
    return [rows[k] for k in sorted(rows)]


def _row(key: Ref, kind: str, name: str, id_: str | None, outcome: str) -> dict[str, Any]:
    return {"key": str(key), "kind": kind, "name": name, "id": id_, "outcome": outcome}


def _apply_outcome(
    rows: dict[tuple[Ref, str], dict[str, Any]], outcome: Outcome, final: State
) -> None:
    action = outcome.action
    kept = final.records.get(action.key)
    if action.op == "delete" and kept is not None and kept.id != action.id:
        # the old half of a replacement, or a duplicate deleted beside the kept record
        if not action.replacement:
            row = _row(action.key, action.kind, action.name, action.id, _word(outcome))
            rows[(action.key, str(action.id))] = {**row, "deposed": True}
        elif outcome.status == "done":
            rows[(action.key, "")]["replaced_id"] = action.id
        else:
            rows[(action.key, "")]["outcome"] = _word(outcome)
        return
    row = rows.setdefault(
        (action.key, ""), _row(action.key, action.kind, action.name, action.id, "unchanged")
    )
    if outcome.status != "done":
        row["outcome"] = _word(outcome)
        return
    row["outcome"] = _word(outcome)
    row["id"] = kept.id if kept is not None else (outcome.id or action.id)


def _word(outcome: Outcome) -> str:
    if outcome.status != "done":
        return outcome.status
    action = outcome.action
    if action.replacement:
        return "replaced"
    return {"create": "created", "update": "updated", "delete": "deleted"}[action.op]


def apply_document(
    command: str,
    stack: str,
    status: str,
    before: State,
    reports: Sequence[Report],
    after: State | None,
) -> dict[str, Any]:
    rows = resource_rows(before, reports, after)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    return {
        "command": command,
        "stack": stack,
        "status": status,
        "passes": len(reports),
        "summary": dict(sorted(counts.items())),
        "resources": rows,
        "errors": error_rows(reports),
    }


def cert_row(cert: Any) -> dict[str, Any]:
    return {
        "name": cert.name,
        "role": cert.role,
        "action": cert.action,
        "reason": cert.reason,
        "fingerprint": cert.fingerprint,
        "not_after": cert.not_after.isoformat(),
        "files": [str(f) for f in cert.files],
    }


def signed_row(certificate: Any, out: Path) -> dict[str, str]:
    """`deploy sign`: what was signed, and where it was written."""
    return {
        "subject": certificate.subject.rfc4514_string(),
        "serial": format(certificate.serial_number, "x"),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "out": str(out),
    }


def import_document(result: Any) -> dict[str, Any]:
    """`deploy import --output json`: what was written, and what to look at next."""
    return {
        "spec": str(result.spec),
        "files": [str(f) for f in result.files],
        "notes": list(result.notes),
        "findings": [vars(f) for f in result.findings],
        "problems": list(result.problems),
    }


def verify_counts(report: Any) -> dict[str, int]:
    results = [r for _, rows in report for r in rows]
    return {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "skip")}


def verify_document(report: Any) -> dict[str, Any]:
    return {
        "listeners": [
            {"listener": w.listener, "address": w.address, "source": w.source} for w, _ in report
        ],
        "results": [vars(r) for _, rows in report for r in rows],
        "counts": verify_counts(report),
    }


def stack_outputs(
    spec: Any,
    loadbalancers: Mapping[Any, Any],
    observed: State,
    served: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """`deploy output`: ids, addresses and (on the emulator) data-plane endpoints.

    `served` is the emulator's data plane (None: not the emulator, or not running).
    """
    records = observed.records

    def ident(ref: Ref) -> str | None:
        record = records.get(ref)
        return record.id if record is not None else None

    lbs = loadbalancers
    listeners = []
    for listener in spec.listeners:
        lb = lbs[listener.loadbalancer]
        cloud = f"{spec.stack}-{listener.name}"
        host = lb.public_address or lb.vip_address
        endpoint = next(
            (
                f"https://{item['address']}:{item['port']}/"
                for item in served or ()
                if item.get("name") == cloud and item.get("loadbalancer_id") == lb.id
            ),
            None,
        )
        pool = listener.pool_name
        deployed = records.get(Ref("listener", listener.name))
        # the port the cloud has (the spec's may not be applied yet)
        port = int(deployed.fields.get("protocol_port") or listener.port) if deployed else None
        listeners.append(
            {
                "name": listener.name,
                "id": deployed.id if deployed else None,
                "port": port if port is not None else listener.port,
                "deployed": deployed is not None,
                "loadbalancer_id": lb.id,
                "address": f"{host}:{port}" if host and port is not None else None,
                "dataplane": endpoint,
                "pool": {"name": pool, "id": ident(Ref("pool", pool))},
                "members": [
                    {
                        "address": m.address,
                        "port": m.port,
                        "id": ident(Ref.member(pool, m.address, m.port)),
                    }
                    for m in listener.pool.members
                ],
                "server_certificate": listener.server_certificate,
                "client_ca": listener.client_ca_bundle,
            }
        )
    certificates = [
        {"name": r.key.name, "id": r.id, "fingerprint": r.fields.get("fingerprint")}
        for r in observed.by_kind("certificate")
    ]
    return {
        "stack": spec.stack,
        "loadbalancers": [
            {
                "id": lb.id,
                "name": lb.name,
                "type": "dedicated" if lb.guaranteed else "shared",
                "vip_address": lb.vip_address,
                "public_address": lb.public_address,
            }
            for lb in sorted(lbs.values(), key=lambda lb: lb.name)
        ],
        "listeners": listeners,
        "certificates": sorted(certificates, key=lambda c: c["name"]),
    }
