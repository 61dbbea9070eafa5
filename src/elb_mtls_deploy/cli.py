"""The command line: parses (`cli_args`), makes one workflow call per command, prints what it
returns and chooses the exit code (0 ok, 1 error, 2 changes pending with `plan
--detailed-exitcode`). The only place that prints, asks for confirmation or maps errors.

Imports are deferred into each command so `deploy --help` stays fast: the SDK, pydantic
models and cryptography load only when a command needs them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy import cli_args
from elb_mtls_deploy.cli_args import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
)
from elb_mtls_deploy.output import Out

if TYPE_CHECKING:
    from elb_mtls_deploy.apply import Report
    from elb_mtls_deploy.workflow import Deployed, Hooks


class _Termination:
    """SIGTERM (GitLab's cancel, `docker stop`) stops like Ctrl-C: while an apply runs, the
    engine's stop event is set (calls in flight finish, nothing new starts, the summary is
    printed); at any other moment the command is interrupted where it is."""

    def __init__(self) -> None:
        self.received = False
        self.engine_stop: threading.Event | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.received = True
        if self.engine_stop is None:
            raise KeyboardInterrupt
        self.engine_stop.set()


TERMINATION = _Termination()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    cli_args.fill_globals(parser, args)
    out = Out(args.output == "json", no_color=args.no_color)
    TERMINATION.received, TERMINATION.engine_stop = False, None
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, TERMINATION) if main_thread else None
    try:
        if args.func.__module__.startswith("elb_mtls_deploy.emulator"):
            return int(args.func(args))  # the emulator's own commands print for themselves
        return int(args.func(args, out))
    except KeyboardInterrupt:
        out.err("interrupted")
        return _interrupted()
    except Exception as exc:  # mapped once here: one clear message, no traceback unless --debug
        if args.debug:
            raise
        from elb_mtls_deploy.errors import DeployError, from_os_error

        exc = exc if isinstance(exc, DeployError) else from_os_error(exc) or exc
        if isinstance(exc, DeployError):
            message = str(exc)
        else:
            message = (
                f"unexpected {type(exc).__name__}; this is a bug in elb-mtls-deploy "
                "(run again with --debug for the traceback and report it)"
            )
        out.err(f"error: {message}")
        out.data({"error": {"type": type(exc).__name__, "message": message}})
        return EXIT_ERROR
    finally:
        if main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _parser() -> argparse.ArgumentParser:
    return cli_args.build({name[4:]: f for name, f in globals().items() if name[:4] == "cmd_"})


def _interrupted() -> int:
    return EXIT_TERMINATED if TERMINATION.received else EXIT_INTERRUPTED


def _policy(args: argparse.Namespace) -> Any:
    from elb_mtls_deploy.retry import RetryPolicy

    return RetryPolicy(attempts=args.retries + 1, total_seconds=args.retry_timeout)


def _lines(out: Out, lines: Sequence[Any]) -> None:
    for line in lines:
        out.line(str(line))


# --- commands without the cloud ---------------------------------------------------------


def cmd_schema(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy.schema import spec_schema

    print(json.dumps(spec_schema(), indent=2))
    return EXIT_OK


def cmd_revoked(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import write_json

    document = workflow.deny_list(workflow.load(args.spec, os.environ))
    if args.out:
        write_json(args.out, document)
        out.line(f"{len(document['entries'])} revoked certificate(s) -> {args.out}")
    else:
        print(json.dumps(document, indent=2, sort_keys=True))
    return EXIT_OK


def cmd_sign(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import signed_row

    loaded = workflow.load(args.spec, os.environ)
    certificate = workflow.sign_request(loaded, args.ca, args.csr, args.out, args.days)
    row = signed_row(certificate, args.out)
    out.line(f"signed {row['subject']} (serial {row['serial']}, expires {row['not_after'][:10]})")
    out.line(f"  -> {args.out}")
    out.data(row)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow

    loaded = workflow.load(args.spec, os.environ)
    findings, missing = workflow.lint_existing(loaded)
    _lines(out, findings)
    _lines(
        out, [f"note: {name}: not issued yet (run `deploy certs {args.spec}`)" for name in missing]
    )
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
    from elb_mtls_deploy.output import cert_line, cert_row, history_line

    loaded = workflow.load(args.spec, os.environ)
    if args.history:
        rows = workflow.history(loaded)
        _lines(out, [history_line(r) for r in rows])
        out.data([{k: str(v) for k, v in vars(r).items()} for r in rows])
        return EXIT_OK
    report = workflow.ensure_certs(loaded)
    _lines(out, [cert_line(cert) for cert in report.certificates])
    _lines(out, [f for f in report.findings if f.severity != "error"])
    out.data(
        {
            "certificates": [cert_row(c) for c in report.certificates],
            "findings": [vars(f) for f in report.findings],
        }
    )
    return EXIT_OK


def cmd_completion(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy.completion import script

    print(script(args.shell, _parser()), end="")
    return EXIT_OK


# --- commands that call the cloud ---------------------------------------------------------


def cmd_plan(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import write_json
    from elb_mtls_deploy.render import render_text

    found = workflow.plan(
        args.spec, os.environ, policy=_policy(args), fail_on_expiry=args.fail_on_expiry,
        warnings=lambda findings: _lines(out, findings),
    )  # fmt: skip
    if args.out:
        write_json(args.out, found.document)
    if args.gitlab_report:
        write_json(args.gitlab_report, found.plan.counts())
    out.line(render_text(found.plan, out.colour, legend=True))
    out.data(found.document)
    if found.refused:
        return EXIT_ERROR
    return EXIT_CHANGES if args.detailed_exitcode and found.changes else EXIT_OK


def cmd_apply(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow

    if args.pinned_spec is not None and not workflow.is_saved_plan(args.spec):
        out.err("error: --spec goes with a saved plan (deploy apply PLAN.json --spec SPEC)")
        return EXIT_ERROR
    done = workflow.apply(
        args.spec, os.environ, _hooks(out, args.auto_approve), pinned_spec=args.pinned_spec,
        policy=_policy(args), workers=args.workers,
    )  # fmt: skip
    return _deployed(done, out)


def cmd_destroy(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow

    hooks = _hooks(out, args.auto_approve)
    done = workflow.destroy(
        args.spec, os.environ, hooks, purge_pki=args.purge_pki, policy=_policy(args)
    )
    code = _deployed(done, out)
    if done.purged is not None:
        out.line(
            f"Deleted {len(done.purged)} PKI file(s) this stack made, per its manifest "
            "(as asked with --purge-pki)."
        )
    elif code == EXIT_OK:
        out.line("The PKI files were kept; pass --purge-pki to delete them too.")
    return code


def _hooks(out: Out, auto_approve: bool) -> Hooks:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import progress_line, rollout_line
    from elb_mtls_deploy.render import render_text

    def engine(stop: threading.Event | None) -> None:
        TERMINATION.engine_stop = stop  # SIGTERM now stops the engine like Ctrl-C

    def passed(report: Report, seconds: float) -> None:
        out.line(f"  ({seconds:.2f}s)")
        _print_report(report, out)

    def again(plan: Any, attempt: int) -> None:
        out.line(f"The cloud changed during apply; converging again (pass {attempt}):")
        out.line(render_text(plan, out.colour))

    events = workflow.Events(
        issued=lambda cert: out.line(rollout_line(cert)),
        outcome=lambda outcome: out.line(progress_line(outcome)),
        engine=engine,
        passed=passed,
        again=again,
    )
    return workflow.Hooks(
        show=lambda plan: out.line(render_text(plan, out.colour, legend=True)),
        approve=lambda: auto_approve or _confirm(out),
        events=events,
        stop_requested=lambda: TERMINATION.received,
    )


def _deployed(done: Deployed, out: Out) -> int:
    """What apply or destroy did, in words and as one JSON report of every resource."""
    from elb_mtls_deploy.output import apply_document, emulator_hint
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
    codes = {"applied": EXIT_OK, "no changes": EXIT_OK, "failed": EXIT_ERROR}
    codes |= {"not converged": EXIT_ERROR, "cancelled": EXIT_ERROR}
    return codes.get(done.status, _interrupted())


def _confirm(out: Out) -> bool:
    if not sys.stdin.isatty():
        out.err("error: refusing to apply without confirmation; pass --auto-approve (e.g. in CI)")
        return False
    answer = input("Apply these changes? Only 'yes' will be accepted: ")
    return answer.strip() == "yes"


def _print_report(report: Report, out: Out) -> None:
    from elb_mtls_deploy.output import summary_lines

    if report.interrupted:
        out.err("Interrupted: calls in flight were finished; nothing new was started.")
    _lines(out, summary_lines(report))
    for outcome in report.failed:
        out.err(f"error: {outcome.action.label}: {outcome.error}")
    if report.failed or report.interrupted:
        out.err("Re-run apply to continue from where the cloud is now.")


def cmd_verify(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import verify_document, verify_lines
    from elb_mtls_deploy.verify import Options
    from elb_mtls_deploy.verify import junit as junit_report

    options = Options(args.address, args.server_name, args.listener, args.client)
    found = workflow.verify(
        args.spec, os.environ, options, policy=_policy(args), fail_on_expiry=args.fail_on_expiry
    )
    if args.junit:
        junit_report.write(args.junit, found.results)
    _lines(out, verify_lines(found.report))
    out.data({**verify_document(found.report), "expiring": found.expiring})
    if found.failed:
        out.err(f"error: {len(found.failed)} check(s) failed:")
        for r in found.failed:
            out.err(f"  {r.listener} {r.check}: {r.detail}")
    for note in found.expiring:
        out.err(f"error: {note}")
    return EXIT_ERROR if found.failed or found.expiring else EXIT_OK


def cmd_output(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import output_lines, stack_outputs

    found = workflow.outputs(args.spec, os.environ, policy=_policy(args))
    document = stack_outputs(found.spec, found.loadbalancers, found.observed, found.dataplane)
    _lines(out, output_lines(document, found.note))
    out.data(document)
    return EXIT_OK


def cmd_import(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import importer
    from elb_mtls_deploy.output import import_document

    request = importer.Request(
        args.loadbalancer, args.stack, args.out, tuple(args.listener), args.state_dir,
        args.region, args.project_id, args.api,
    )  # fmt: skip
    result = importer.run(request, os.environ)
    out.line(f"wrote {result.spec} and {len(result.files)} certificate file(s) next to it")
    _lines(out, [f"note: {note}" for note in result.notes])
    _lines(out, result.findings)
    _lines(out, [f"note: {result.spec} does not validate yet: {p}" for p in result.problems])
    out.line(importer.NEXT_STEPS.format(spec=result.spec))
    out.data(import_document(result))
    return EXIT_OK


def cmd_probe(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import probe, workflow

    if not args.yes and not sys.stdin.isatty():
        out.err("error: deploy probe creates resources; confirm on a terminal or pass --yes")
        return EXIT_ERROR

    def confirm(description: Sequence[str]) -> bool:
        _lines(out, description)
        return args.yes or _confirmed("Create and probe? Only 'yes' is accepted: ")

    options = probe.Options(
        args.loadbalancer, args.embedded, args.state_dir, args.region, args.project_id,
        args.api, args.address,
    )  # fmt: skip
    report = workflow.probe(options, os.environ, confirm, out.line)
    if report is None:
        out.err("cancelled; nothing was created")
        return EXIT_ERROR
    _lines(out, probe.table(report))
    document = probe.document(report)
    if args.out:
        args.out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    out.data(document)
    for problem in report.left_behind:
        out.err(f"error: left behind: {problem}")
    if report.aborted:
        out.err(f"error: the probe run stopped: {report.aborted}")
        if report.aborted.startswith("interrupted"):
            return _interrupted()
    return EXIT_ERROR if report.aborted or report.left_behind else EXIT_OK


def _confirmed(prompt: str) -> bool:
    try:
        return input(prompt) == "yes"
    except EOFError:
        return False
