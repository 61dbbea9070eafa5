"""The command line: the only place that prints and chooses exit codes (0 ok, 1 error,
2 changes pending with `plan --detailed-exitcode`).

Imports are deferred into each command so `deploy --help` stays fast: the SDK, pydantic
models and cryptography load only when a command needs them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy import __version__

if TYPE_CHECKING:
    from elb_mtls_deploy.apply import Outcome, Report
    from elb_mtls_deploy.plan import Plan
    from elb_mtls_deploy.workflow import Connection, Loaded, Planned

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
MAX_PASSES = 3  # apply passes before giving up on a cloud that keeps changing under us


class Out:
    """Where output goes; colour only on a terminal, JSON when asked."""

    def __init__(self, json_mode: bool) -> None:
        self.json = json_mode
        self.colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR") and not json_mode

    def line(self, text: str = "") -> None:
        if not self.json:
            print(text, flush=True)

    def err(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def data(self, value: Any) -> None:
        if self.json:
            print(json.dumps(value, indent=2, sort_keys=True, default=str))


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    out = Out(getattr(args, "output", "text") == "json")
    try:
        if args.func.__module__.startswith("elb_mtls_deploy.emulator"):
            return int(args.func(args))  # the emulator's own commands print for themselves
        return int(args.func(args, out))
    except KeyboardInterrupt:
        out.err("interrupted")
        return 130
    except Exception as exc:  # mapped once here: one clear message, no traceback unless --debug
        if args.debug:
            raise
        from elb_mtls_deploy.errors import DeployError

        if isinstance(exc, DeployError):
            out.err(f"error: {exc}")
        else:
            out.err(
                f"error: unexpected {type(exc).__name__}; this is a bug in elb-mtls-deploy "
                "(run again with --debug for the traceback and report it)"
            )
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    common.add_argument("--output", choices=("text", "json"), default="text")
    common.add_argument(
        "--retries",
        type=int,
        default=5,
        metavar="N",
        help="retries per API call on throttling, server errors and timeouts (default 5)",
    )
    common.add_argument(
        "--retry-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="give up retrying a call after this long (default 120)",
    )
    parser = argparse.ArgumentParser(
        prog="deploy",
        description="HTTPS with mutual TLS on Huawei Cloud ELB, from one reviewed YAML spec.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"elb-mtls-deploy {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, func: Callable[..., int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    p = command("validate", cmd_validate, "check the spec and lint its certificates (no network)")
    p.add_argument("spec", type=Path)
    p = command("certs", cmd_certs, "issue or import every certificate into the PKI directory")
    p.add_argument("spec", type=Path)
    p.add_argument(
        "--history", action="store_true", help="list every kept generation (writes nothing)"
    )
    p = command("sign", cmd_sign, "sign a client's own certificate request (its key stays put)")
    p.add_argument("spec", type=Path)
    p.add_argument("--ca", required=True, help="the spec CA that signs")
    p.add_argument("--csr", type=Path, required=True, help="the PEM certificate request")
    p.add_argument("--out", type=Path, required=True, help="where to write the certificate")
    p.add_argument("--days", type=int, default=397, help="validity in days (default 397)")
    command("schema", cmd_schema, "print the JSON Schema of the spec (editor completion)")
    p = command("plan", cmd_plan, "show what apply would change")
    p.add_argument("spec", type=Path)
    p.add_argument("--out", type=Path, help="save the plan (JSON, no key material)")
    p.add_argument("--gitlab-report", type=Path, help='write {"create","update","delete"} counts')
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when changes pending")
    p.add_argument(
        "--fail-on-expiry",
        type=int,
        metavar="DAYS",
        help="exit 1 if a certificate expires within DAYS",
    )
    p = command("apply", cmd_apply, "converge the cloud to the spec (or apply a saved plan)")
    p.add_argument("spec", type=Path, help="a spec file or a plan saved with plan --out")
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    p.add_argument("--workers", type=int, default=8, help="parallel API calls (default 8)")
    p = command("destroy", cmd_destroy, "delete everything this stack owns, certificates last")
    p.add_argument("spec", type=Path)
    p.add_argument("--auto-approve", action="store_true")
    p.add_argument(
        "--purge-pki",
        action="store_true",
        help="also delete the PKI directory (keys included) once the cloud is clean",
    )
    p = command("verify", cmd_verify, "prove mutual TLS works with real handshakes")
    p.add_argument("spec", type=Path)
    p.add_argument("--address", help="HOST:PORT to connect to instead of the resolved one")
    p.add_argument("--server-name", help="SNI / hostname to check (default: first SAN)")
    p.add_argument("--junit", type=Path, help="write a JUnit XML report")
    p.add_argument(
        "--listener",
        action="append",
        default=[],
        metavar="NAME",
        help="verify only this listener (repeatable; needed with --address for several)",
    )
    p.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="NAME",
        help="report only these spec clients in the client:NAME rows (repeatable)",
    )
    from elb_mtls_deploy.emulator.cli import register

    register(sub)
    _add_debug_everywhere(parser)
    return parser


def _add_debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--debug` is accepted after any (sub)command, including the emulator's."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if not any(a.dest == "debug" for a in child._actions):
                    child.add_argument("--debug", action="store_true", help="show tracebacks")
                _add_debug_everywhere(child)


# --- commands -------------------------------------------------------------------------


def _policy(args: argparse.Namespace) -> Any:
    from elb_mtls_deploy.retry import RetryPolicy

    return RetryPolicy(attempts=args.retries + 1, total_seconds=args.retry_timeout)


def cmd_schema(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy.spec.model import Spec

    print(json.dumps(Spec.model_json_schema(by_alias=True), indent=2))
    return EXIT_OK


def cmd_sign(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow

    loaded = workflow.load(args.spec, os.environ)
    certificate = workflow.sign_request(loaded, args.ca, args.csr, args.out, args.days)
    row = {
        "subject": certificate.subject.rfc4514_string(),
        "serial": format(certificate.serial_number, "x"),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "out": str(args.out),
    }
    out.line(f"signed {row['subject']} (serial {row['serial']}, expires {row['not_after'][:10]})")
    out.line(f"  -> {args.out}")
    out.data(row)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow

    loaded = workflow.load(args.spec, os.environ)
    findings, missing = workflow.lint_existing(loaded)
    _print_findings(out, findings)
    for name in missing:
        out.line(f"note: {name}: not issued yet (run `deploy certs {args.spec}`)")
    errors = [f for f in findings if f.severity == "error"]
    out.data({"valid": not errors, "findings": [vars(f) for f in findings], "not_issued": missing})
    if errors:
        out.err(f"error: {args.spec}: {len(errors)} certificate error(s); see above")
        return EXIT_ERROR
    listeners = len(loaded.spec.listeners)
    out.line(f"{args.spec}: valid (stack {loaded.spec.stack!r}, {listeners} listener(s))")
    return EXIT_OK


def cmd_certs(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow

    loaded = workflow.load(args.spec, os.environ)
    if args.history:
        return _print_history(out, workflow.history(loaded))
    report = _certs(loaded, out)
    out.data(
        {
            "certificates": [_cert_row(c) for c in report.certificates],
            "findings": [vars(f) for f in report.findings],
        }
    )
    return EXIT_OK


def _certs(loaded: Loaded, out: Out) -> Any:
    from elb_mtls_deploy import workflow

    report = workflow.ensure_certs(loaded)
    for cert in report.certificates:
        out.line(
            f"  {cert.action:<8} {cert.role:<6} {cert.name:<24} sha256:{cert.fingerprint[:16]}…  "
            f"expires {cert.not_after:%Y-%m-%d}" + (f"  ({cert.reason})" if cert.reason else "")
        )
    _print_findings(out, [f for f in report.findings if f.severity != "error"])
    return report


def _print_history(out: Out, rows: Sequence[Any]) -> int:
    for r in rows:
        mark = "current" if r.current else ("abandoned" if r.abandoned else "")
        out.line(
            f"  {r.name:<20} {r.generation}  {mark:<9} {r.created[:19]}  "
            f"sha256:{r.fingerprint[:16]}…  {r.directory}  ({r.reason})"
        )
    out.data([{k: str(v) for k, v in vars(r).items()} for r in rows])
    return EXIT_OK


def _cert_row(cert: Any) -> dict[str, Any]:
    return {
        "name": cert.name,
        "role": cert.role,
        "action": cert.action,
        "reason": cert.reason,
        "fingerprint": cert.fingerprint,
        "not_after": cert.not_after.isoformat(),
        "files": [str(f) for f in cert.files],
    }


def _print_findings(out: Out, findings: Sequence[Any]) -> None:
    for finding in findings:
        out.line(str(finding))


def cmd_plan(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.plan import to_json
    from elb_mtls_deploy.render import render_text

    loaded = workflow.load(args.spec, os.environ)
    with workflow.connect(loaded, _policy(args), read_only=True) as conn:  # plan writes nothing
        planned = workflow.make_plan(loaded, conn)
    plan = _with_expiry_notes(planned.plan, loaded, args.fail_on_expiry, planned.observed)
    document = to_json(plan, str(args.spec), loaded.digest)
    if args.out:
        _write_json(args.out, document)
    if args.gitlab_report:
        _write_json(args.gitlab_report, plan.counts())
    out.line(render_text(plan, out.colour))
    out.data(document)
    if plan.conflicts or _expiring(plan):
        return EXIT_ERROR
    if args.detailed_exitcode and (not plan.empty or _issues(planned)):
        return EXIT_CHANGES
    return EXIT_OK


def _issues(planned: Planned) -> bool:
    """Certificates apply will issue count as pending changes, even with no cloud change."""
    return bool(planned.pki is not None and planned.pki.pending)


def _with_expiry_notes(plan: Plan, loaded: Loaded, days: int | None, observed: Any) -> Plan:
    """With `--fail-on-expiry DAYS`: the plan carries one EXPIRING note per certificate."""
    if days is None:
        return plan
    from dataclasses import replace

    from elb_mtls_deploy.expiry import expiry_notes
    from elb_mtls_deploy.workflow import now, pki_view

    bundles = pki_view(loaded).bundles.values()  # public certificates only: no key read
    return replace(plan, notes=(*plan.notes, *expiry_notes(bundles, observed, now(), days)))


def _expiring(plan: Plan) -> bool:
    return any(n.startswith("EXPIRING:") for n in plan.notes)


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def cmd_apply(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow

    saved = _saved_plan(args.spec)
    spec_path = Path(saved.spec_path) if saved else args.spec
    loaded = workflow.load(spec_path, os.environ)
    if saved and saved.spec_digest != loaded.digest:
        from elb_mtls_deploy.errors import PlanError

        raise PlanError(
            f"{args.spec}: the spec {spec_path} changed since this plan was made",
            hint="run `deploy plan` again and apply the new plan",
        )
    workflow.preflight(loaded)  # a CA key that must sign and is missing: exit 1, no API call
    with workflow.connect(loaded, _policy(args)) as conn:
        planned = workflow.make_plan(loaded, conn)
        if saved:
            _check_saved(saved, planned.plan, args.spec)
            workflow.saved_issuance(json.loads(args.spec.read_text()).get("notes", []), planned)
        return _converge(planned, loaded, conn, out, args)


def _saved_plan(path: Path) -> Any:
    if path.suffix != ".json":
        return None
    from elb_mtls_deploy.errors import PlanError
    from elb_mtls_deploy.plan import read_saved

    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path}: cannot read the plan file ({exc})") from None
    return read_saved(document, str(path))


def _check_saved(saved: Any, plan: Plan, source: Path) -> None:
    from elb_mtls_deploy.errors import PlanError
    from elb_mtls_deploy.plan import same_actions

    if saved.stack != plan.stack:
        raise PlanError(f"{source}: the plan is for stack {saved.stack!r}, not {plan.stack!r}")
    if saved.observed_digest != plan.observed_digest or not same_actions(saved, plan):
        raise PlanError(
            f"{source}: the cloud changed since this plan was made; refusing to apply it",
            hint="run `deploy plan` again, review, and apply the new plan",
        )


def _converge(planned: Planned, loaded: Loaded, conn: Connection, out: Out, args: Any) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.errors import DeployError
    from elb_mtls_deploy.render import render_text

    plan = planned.plan
    out.line(render_text(plan, out.colour))
    if plan.conflicts:
        raise DeployError("the plan has conflicts; nothing was changed", hint="see the plan above")
    if plan.empty and not _issues(planned):
        _where(conn, out)
        return EXIT_OK
    if not args.auto_approve and not _confirm(out):
        out.err("apply cancelled; nothing was changed")
        return EXIT_ERROR
    destroy = plan_is_destroy(args)
    for attempt in range(1, MAX_PASSES + 1):
        planned = _issue(planned, loaded, conn, out)
        report = _run(planned, loaded, out, conn, getattr(args, "workers", 8))
        _print_report(report, out)
        if report.interrupted:
            return 130
        if report.failed:
            return EXIT_ERROR
        planned = workflow.make_plan(loaded, conn, destroy=destroy, issued=planned.issued)
        if planned.plan.empty:
            break
        if attempt == MAX_PASSES or planned.plan.conflicts:
            out.err("error: the cloud still differs from the spec after apply:")
            out.err(render_text(planned.plan))
            out.err(
                "Another writer may be changing this stack at the same time (a second "
                "pipeline?). Serialise applies (GitLab resource_group) and re-run apply."
            )
            return EXIT_ERROR
        # Someone else changed the stack while we applied (or left duplicates): go again.
        out.line(f"The cloud changed during apply; converging again (pass {attempt + 1}):")
        out.line(render_text(planned.plan, out.colour))
    out.line("Apply complete; a fresh plan shows no changes.")
    if not destroy:
        _where(conn, out)
    return EXIT_OK


def _issue(planned: Planned, loaded: Loaded, conn: Connection, out: Out) -> Planned:
    """After approval: issue what the plan said (the PKI is written here, never in plan)."""
    from elb_mtls_deploy import workflow

    issued, report = workflow.issue_planned(loaded, conn, planned)
    for cert in report.certificates if report is not None else ():
        if cert.action != "kept" or cert.files:
            out.line(
                f"  {cert.action:<8} {cert.role:<6} {cert.name:<24} "
                f"sha256:{cert.fingerprint[:16]}…  ({cert.reason})"
            )
    return issued


def plan_is_destroy(args: Any) -> bool:
    return bool(getattr(args, "func", None) is cmd_destroy)


def _confirm(out: Out) -> bool:
    if not sys.stdin.isatty():
        out.err("error: refusing to apply without confirmation; pass --auto-approve (e.g. in CI)")
        return False
    answer = input("Apply these changes? Only 'yes' will be accepted: ")
    return answer.strip() == "yes"


def _run(planned: Planned, loaded: Loaded, out: Out, conn: Connection, workers: int) -> Report:
    from elb_mtls_deploy.apply import Engine, initial_ids

    ids = initial_ids(planned.observed.records)

    def progress(outcome: Outcome) -> None:
        mark = {"done": "ok", "failed": "FAILED", "not started": "skipped"}[outcome.status]
        out.line(f"  {mark:<7} {outcome.action.label:<48} {outcome.seconds:6.2f}s")

    engine = Engine(conn.cloud, loaded.spec.stack, ids, workers=workers, on_outcome=progress)
    conn.cloud.stop = engine.stop  # Ctrl-C or a failure also ends retry back-offs
    started = time.monotonic()
    report = engine.run(planned.plan)
    out.line(f"  ({time.monotonic() - started:.2f}s)")
    return report


def _print_report(report: Report, out: Out) -> None:
    done, failed, skipped = (report.count(s) for s in ("done", "failed", "not started"))
    if report.interrupted:
        out.err("Interrupted: calls in flight were finished; nothing new was started.")
    out.line(f"Applied: {done} done, {failed} failed, {skipped} not started.")
    for outcome in report.failed:
        out.err(f"error: {outcome.action.label}: {outcome.error}")
    if failed:
        out.err("Re-run apply to continue from where the cloud is now.")
    out.data(
        {
            "done": done,
            "failed": failed,
            "not_started": skipped,
            "errors": [
                {
                    "action": o.action.label,
                    "message": o.error.message if o.error else None,
                    "code": getattr(o.error, "code", None),
                    "request_id": getattr(o.error, "request_id", None),
                }
                for o in report.failed
            ],
        }
    )


def _where(conn: Connection, out: Out) -> None:
    if conn.embedded_state_dir is None:
        return
    out.line(
        f"The embedded emulator keeps this cloud in {conn.embedded_state_dir}/. "
        "Run `deploy emulator serve` to keep the listeners up, then `deploy verify SPEC`."
    )


def cmd_destroy(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow

    loaded = workflow.load(args.spec, os.environ)
    if args.purge_pki:
        from elb_mtls_deploy.pki.purge import check_purge

        check_purge(loaded.spec, loaded.base_dir)  # refused before anything is deleted
    with workflow.connect(loaded, _policy(args)) as conn:
        planned = workflow.make_plan(loaded, conn, destroy=True)
        code = _converge(planned, loaded, conn, out, args)
    if code == EXIT_OK and args.purge_pki:
        from elb_mtls_deploy.pki.purge import purge

        deleted = purge(loaded.spec, loaded.base_dir)
        out.line(
            f"Deleted {len(deleted)} PKI file(s) this stack made, per its manifest "
            "(as asked with --purge-pki)."
        )
    elif code == EXIT_OK:
        out.line("The PKI files were kept; pass --purge-pki to delete them too.")
    return code


def cmd_verify(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.pki import load_bundles
    from elb_mtls_deploy.verify import Options, failed, verify_listeners
    from elb_mtls_deploy.verify import junit as junit_report

    loaded = workflow.load(args.spec, os.environ)
    bundles = load_bundles(loaded.spec, loaded.base_dir, loaded.env)
    options = Options(args.address, args.server_name, args.listener, args.client)
    with workflow.connect(loaded) as conn:
        embedded = conn.endpoint if conn.embedded_state_dir is not None else None
        report = verify_listeners(
            loaded.spec, bundles, conn.loadbalancers, embedded, options, workflow.now()
        )
    results = [r for _, rows in report for r in rows]
    if args.junit:
        junit_report.write(args.junit, results)
    _print_verify(out, report)
    bad = failed(results)
    if bad:
        out.err(f"error: {len(bad)} check(s) failed:")
        for r in bad:
            out.err(f"  {r.listener} {r.check}: {r.detail}")
        return EXIT_ERROR
    return EXIT_OK


def _print_verify(out: Out, report: Any) -> None:
    marks = {"pass": "ok", "fail": "FAILED", "skip": "skipped"}
    for where, rows in report:
        out.line(f"listener {where.listener} at {where.address} ({where.source})")
        for r in rows:
            out.line(f"  {r.check:<22} {marks[r.status]:<8} {r.detail}")
    results = [r for _, rows in report for r in rows]
    counts = {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "skip")}
    out.line(f"Verify: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped.")
    out.data(
        {
            "listeners": [
                {"listener": w.listener, "address": w.address, "source": w.source}
                for w, _ in report
            ],
            "results": [vars(r) for r in results],
            "counts": counts,
        }
    )
