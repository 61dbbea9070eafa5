"""What the CLI shows: text for people, one JSON document for machines (`--output json`).

Owns the `Out` sink (colour only on a terminal, never with `--no-color` or `NO_COLOR`),
the text lines of every command, and `show_*`: how each command's result is printed
(the documents' shapes are `documents.py`'s). The CLI decides when to call them.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy.documents import (
    apply_document,
    cert_row,
    import_document,
    signed_row,
    stack_outputs,
    verify_counts,
    verify_document,
)

if TYPE_CHECKING:  # imported lazily so `deploy --help` stays fast
    from elb_mtls_deploy.apply import Outcome, Report
    from elb_mtls_deploy.workflow import Deployed, Events, Validated
    from elb_mtls_deploy.workflow.commands import Outputs, Verified

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

    def lines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.line(str(line))


def show_validated(out: Out, found: Validated, path: Path) -> None:
    """`deploy validate`: the findings, what is not issued yet, and the verdict."""
    out.lines(found.findings)
    out.lines(f"note: {n}: not issued yet (run `deploy certs {path}`)" for n in found.not_issued)
    findings = [vars(f) for f in found.findings]
    out.data({"valid": not found.errors, "findings": findings, "not_issued": found.not_issued})
    if found.errors:
        out.err(f"error: {path}: {len(found.errors)} certificate error(s); see above")
        return
    listeners = len(found.spec.listeners)
    out.line(f"{path}: valid (stack {found.spec.stack!r}, {listeners} listener(s))")


def show_certs(out: Out, report: Any) -> None:
    """`deploy certs`: each certificate and what was done to it, then the warnings."""
    out.lines(cert_line(cert) for cert in report.certificates)
    out.lines(f for f in report.findings if f.severity != "error")
    out.data(
        {
            "certificates": [cert_row(c) for c in report.certificates],
            "findings": [vars(f) for f in report.findings],
        }
    )


def show_history(out: Out, rows: Sequence[Any]) -> None:
    out.lines(history_line(r) for r in rows)
    out.data([{k: str(v) for k, v in vars(r).items()} for r in rows])


def show_signed(out: Out, certificate: Any, path: Path) -> None:
    row = signed_row(certificate, path)
    out.line(f"signed {row['subject']} (serial {row['serial']}, expires {row['not_after'][:10]})")
    out.line(f"  -> {path}")
    out.data(row)


def show_deployed(out: Out, done: Deployed) -> None:
    """What apply or destroy did, in words and as one JSON report of every resource."""
    from elb_mtls_deploy.render import render_text

    if done.status == "cancelled":
        out.err(f"{done.command} cancelled; nothing was changed")
    if done.remaining is not None:
        out.err("error: the cloud still differs from the spec after apply:")
        out.err(render_text(done.remaining))
        out.err(
            "Another writer may be changing this stack at the same time (a second "
            "pipeline?). Serialise applies (GitLab resource_group) and re-run apply."
        )
    if done.status == "applied":
        out.line("Apply complete; a fresh plan shows no changes.")
    if done.emulator_dir is not None:
        out.line(emulator_hint(done.emulator_dir))
    out.data(
        apply_document(done.command, done.stack, done.status, done.before, done.reports, done.after)
    )
    if done.purged is not None:
        out.line(
            f"Deleted {len(done.purged)} PKI file(s) this stack made, per its manifest "
            "(as asked with --purge-pki)."
        )
    elif done.command == "destroy" and done.ok:
        out.line("The PKI files were kept; pass --purge-pki to delete them too.")


def apply_events(out: Out, engine: Callable[[threading.Event | None], None]) -> Events:
    """What the converge loop reports, as it happens, on `out`."""
    from elb_mtls_deploy.render import render_text
    from elb_mtls_deploy.workflow import Events

    def again(plan: Any, attempt: int) -> None:
        out.line(f"The cloud changed during apply; converging again (pass {attempt}):")
        out.line(render_text(plan, out.colour))

    return Events(
        issued=lambda cert: out.line(rollout_line(cert)),
        outcome=lambda outcome: out.line(progress_line(outcome)),
        engine=engine,
        passed=lambda report, seconds: show_pass(out, report, seconds),
        again=again,
    )


def show_pass(out: Out, report: Report, seconds: float) -> None:
    """The end of one apply pass: its time, its counts, and each failure."""
    out.line(f"  ({seconds:.2f}s)")
    if report.interrupted:
        out.err("Interrupted: calls in flight were finished; nothing new was started.")
    out.lines(summary_lines(report))
    for outcome in report.failed:
        out.err(f"error: {outcome.action.label}: {outcome.error}")
    if report.failed or report.interrupted:
        out.err("Re-run apply to continue from where the cloud is now.")


def show_verified(out: Out, found: Verified) -> None:
    out.lines(verify_lines(found.report))
    out.data({**verify_document(found.report), "expiring": found.expiring})
    if found.failed:
        out.err(f"error: {len(found.failed)} check(s) failed:")
        for r in found.failed:
            out.err(f"  {r.listener} {r.check}: {r.detail}")
    for note in found.expiring:
        out.err(f"error: {note}")


def show_imported(out: Out, result: Any, next_steps: str) -> None:
    out.line(f"wrote {result.spec} and {len(result.files)} certificate file(s) next to it")
    out.lines(f"note: {note}" for note in result.notes)
    out.lines(result.findings)
    out.lines(f"note: {result.spec} does not validate yet: {p}" for p in result.problems)
    out.line(next_steps)
    out.data(import_document(result))


def show_probed(out: Out, report: Any, table: Iterable[str], document: Any) -> None:
    out.lines(table)
    out.data(document)
    for problem in report.left_behind:
        out.err(f"error: left behind: {problem}")
    if report.aborted:
        out.err(f"error: the probe run stopped: {report.aborted}")


def progress_line(outcome: Outcome) -> str:
    """One line per finished call; with the resource's id once it has one (Terraform's
    `[id=...]`)."""
    line = f"  {_MARK[outcome.status]:<7} {outcome.action.label:<48} {outcome.seconds:6.2f}s"
    ident = outcome.id or outcome.action.id
    return f"{line}  [id={ident}]" if ident and outcome.status == "done" else line


def summary_lines(report: Report) -> list[str]:
    done, failed, skipped = (report.count(s) for s in ("done", "failed", "not started"))
    return [f"Applied: {done} done, {failed} failed, {skipped} not started."]


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


def write_json(path: Any, value: Mapping[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    except OSError as exc:  # a full disk fails at close, without a file name: add it
        raise OSError(exc.errno, exc.strerror, exc.filename or str(path)) from exc


def show_outputs(out: Out, found: Outputs) -> None:
    """`deploy output`: the stack as deployed, in lines and as one document."""
    document = stack_outputs(found.spec, found.loadbalancers, found.observed, found.dataplane)
    out.lines(output_lines(document, found.note))
    out.data(document)


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
