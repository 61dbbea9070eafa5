"""What the CLI shows: text for people, one JSON document for machines (`--output json`).

Owns the `Out` sink (colour only on a terminal, never with `--no-color` or `NO_COLOR`)
and the shapes of the apply/destroy report and the other command documents. Builds
values from reports and states; the CLI decides when to print them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily so `deploy --help` stays fast
    from elb_mtls_deploy.apply import Outcome, Report
    from elb_mtls_deploy.state import State

_MARK = {"done": "ok", "failed": "FAILED", "not started": "skipped"}


class Out:
    """Where output goes; colour only on a terminal, JSON when asked."""

    def __init__(self, json_mode: bool, no_color: bool = False) -> None:
        self.json = json_mode
        off = json_mode or no_color or bool(os.environ.get("NO_COLOR"))
        self.colour = not off and sys.stdout.isatty()

    def line(self, text: str = "") -> None:
        if not self.json:
            print(text, flush=True)

    def err(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def data(self, value: Any) -> None:
        if self.json:
            print(json.dumps(value, indent=2, sort_keys=True, default=str), flush=True)


def progress_line(outcome: Outcome) -> str:
    """One line per finished call; with the resource's id once it has one (Terraform's
    `[id=...]`)."""
    line = f"  {_MARK[outcome.status]:<7} {outcome.action.label:<48} {outcome.seconds:6.2f}s"
    ident = outcome.id or outcome.action.id
    return f"{line}  [id={ident}]" if ident and outcome.status == "done" else line


def summary_lines(report: Report) -> list[str]:
    done, failed, skipped = (report.count(s) for s in ("done", "failed", "not started"))
    return [f"Applied: {done} done, {failed} failed, {skipped} not started."]


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
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for record in final.records.values():
        rows[(record.key, "")] = _row(record.key, record.kind, record.name, record.id, "unchanged")
    for report in reports:
        for outcome in report.outcomes:
            _apply_outcome(rows, outcome, final)
    return [rows[k] for k in sorted(rows)]


def _row(key: str, kind: str, name: str, id_: str | None, outcome: str) -> dict[str, Any]:
    return {"key": key, "kind": kind, "name": name, "id": id_, "outcome": outcome}


def _apply_outcome(
    rows: dict[tuple[str, str], dict[str, Any]], outcome: Outcome, final: State
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


def cert_line(cert: Any) -> str:
    return (
        f"  {cert.action:<8} {cert.role:<6} {cert.name:<24} sha256:{cert.fingerprint[:16]}…  "
        f"expires {cert.not_after:%Y-%m-%d}" + (f"  ({cert.reason})" if cert.reason else "")
    )


def rollout_line(cert: Any) -> str:
    """A certificate apply issued or renewed, after approval."""
    return (
        f"  {cert.action:<8} {cert.role:<6} {cert.name:<24} "
        f"sha256:{cert.fingerprint[:16]}…  ({cert.reason})"
    )


def history_line(row: Any) -> str:
    """`deploy certs --history`: one kept generation."""
    mark = "current" if row.current else ("abandoned" if row.abandoned else "")
    return (
        f"  {row.name:<20} {row.generation}  {mark:<9} {row.created[:19]}  "
        f"sha256:{row.fingerprint[:16]}…  {row.directory}  ({row.reason})"
    )


def signed_row(certificate: Any, out: Path) -> dict[str, str]:
    """`deploy sign`: what was signed, and where it was written."""
    return {
        "subject": certificate.subject.rfc4514_string(),
        "serial": format(certificate.serial_number, "x"),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "out": str(out),
    }


def emulator_hint(state_dir: Path) -> str:
    """After an apply on the embedded emulator: how to keep it serving, and verify it."""
    where = _relative(state_dir)
    return (
        f"The embedded emulator keeps this cloud in {where}/. Run `deploy emulator serve "
        f"--state-dir {where}` to keep the listeners up, then `deploy verify SPEC` (`deploy "
        "output SPEC` shows where each listener answers)."
    )


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def import_document(result: Any) -> dict[str, Any]:
    """`deploy import --output json`: what was written, and what to look at next."""
    return {
        "spec": str(result.spec),
        "files": [str(f) for f in result.files],
        "notes": list(result.notes),
        "findings": [vars(f) for f in result.findings],
        "problems": list(result.problems),
    }


def verify_lines(report: Any) -> list[str]:
    marks = {"pass": "ok", "fail": "FAILED", "skip": "skipped"}
    lines = []
    for where, rows in report:
        lines.append(f"listener {where.listener} at {where.address} ({where.source})")
        lines.extend(f"  {r.check:<22} {marks[r.status]:<8} {r.detail}" for r in rows)
    counts = verify_counts(report)
    lines.append(
        f"Verify: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped."
    )
    return lines


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


def write_json(path: Any, value: Mapping[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    except OSError as exc:  # a full disk fails at close, without a file name: add it
        raise OSError(exc.errno, exc.strerror, exc.filename or str(path)) from exc


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

    def ident(kind: str, local: str) -> str | None:
        record = records.get(f"{kind}:{local}")
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
        deployed = records.get(f"listener:{listener.name}")
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
                "pool": {"name": pool, "id": ident("pool", pool)},
                "members": [
                    {
                        "address": m.address,
                        "port": m.port,
                        "id": ident("member", f"{pool}:{m.address}:{m.port}"),
                    }
                    for m in listener.pool.members
                ],
                "server_certificate": listener.server_certificate,
                "client_ca": listener.client_ca_bundle,
            }
        )
    certificates = [
        {"name": r.key.split(":", 1)[1], "id": r.id, "fingerprint": r.fields.get("fingerprint")}
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


def output_lines(document: Mapping[str, Any], dataplane_note: str | None) -> list[str]:
    lines = [f"stack {document['stack']}"]
    for lb in document["loadbalancers"]:
        lines.append(
            f"loadbalancer {lb['name']}  id {lb['id']}  ({lb['type']})  "
            f"vip {lb['vip_address'] or '-'}  public {lb['public_address'] or '-'}"
        )
    for item in document["listeners"]:
        where = f"  address {item['address']}" if item["address"] else ""
        plane = f"  data plane {item['dataplane']}" if item["dataplane"] else ""
        lines.append(
            f"listener {item['name']}  id {item['id'] or '(not deployed)'}  port {item['port']}"
            f"{where}{plane}"
        )
        lines.append(f"  pool {item['pool']['name']}  id {item['pool']['id'] or '-'}")
        lines.extend(
            f"  member {m['address']}:{m['port']}  id {m['id'] or '-'}" for m in item["members"]
        )
    for cert in document["certificates"]:
        fingerprint = cert["fingerprint"] or ""
        lines.append(f"certificate {cert['name']}  id {cert['id']}  sha256:{fingerprint[:16]}…")
    if dataplane_note:
        lines.append(f"note: {dataplane_note}")
    return lines
