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
from elb_mtls_deploy.cli_args import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from elb_mtls_deploy.errors import DeployError
from elb_mtls_deploy.output import Out

if TYPE_CHECKING:
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
        from elb_mtls_deploy.errors import user_message

        kind, message = user_message(exc)
        out.err(f"error: {message}")
        out.data({"error": {"type": kind, "message": message}})
        return EXIT_ERROR
    finally:
        if main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _parser() -> argparse.ArgumentParser:
    return cli_args.build({
        "validate": cmd_validate, "certs": cmd_certs, "revoked": cmd_revoked, "sign": cmd_sign,
        "schema": cmd_schema, "plan": cmd_plan, "apply": cmd_apply, "destroy": cmd_destroy,
        "verify": cmd_verify, "output": cmd_output, "import": cmd_import, "probe": cmd_probe,
        "completion": cmd_completion,
    })  # fmt: skip


def _interrupted() -> int:
    return cli_args.EXIT_TERMINATED if TERMINATION.received else cli_args.EXIT_INTERRUPTED


def _policy(args: argparse.Namespace) -> Any:
    from elb_mtls_deploy.retry import RetryPolicy

    return RetryPolicy(attempts=args.retries + 1, total_seconds=args.retry_timeout)


def cmd_schema(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy.schema import spec_schema

    print(json.dumps(spec_schema(), indent=2))
    return EXIT_OK


def cmd_revoked(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import write_json

    document = workflow.revoked(args.spec, os.environ)
    if args.out:
        write_json(args.out, document)
        out.line(f"{len(document['entries'])} revoked certificate(s) -> {args.out}")
        out.data(document)  # --output json: the document on stdout too, as everywhere
    else:
        print(json.dumps(document, indent=2, sort_keys=True))
    return EXIT_OK


def cmd_sign(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import show_signed

    certificate = workflow.sign(args.spec, os.environ, args.ca, args.csr, args.out, args.days)
    show_signed(out, certificate, args.out)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import show_validated

    found = workflow.validate(args.spec, os.environ)
    show_validated(out, found, args.spec)
    return EXIT_ERROR if found.errors else EXIT_OK


def cmd_certs(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import show_certs, show_history

    if args.history:
        show_history(out, workflow.generations(args.spec, os.environ))
    else:
        show_certs(out, workflow.issue(args.spec, os.environ))
    return EXIT_OK


def cmd_completion(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy.completion import script

    print(script(args.shell, _parser()), end="")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import write_json
    from elb_mtls_deploy.render import render_text

    found = workflow.plan(
        args.spec, os.environ, policy=_policy(args), fail_on_expiry=args.fail_on_expiry,
        warnings=out.lines,
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
        raise DeployError("--spec goes with a saved plan (deploy apply PLAN.json --spec SPEC)")
    done = workflow.apply(
        args.spec, os.environ, _hooks(out, args.auto_approve), pinned_spec=args.pinned_spec,
        policy=_policy(args), workers=args.workers,
    )  # fmt: skip
    return _deployed(done, out)


def cmd_destroy(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow

    done = workflow.destroy(
        args.spec, os.environ, _hooks(out, args.auto_approve), purge_pki=args.purge_pki,
        policy=_policy(args),
    )  # fmt: skip
    return _deployed(done, out)


def _hooks(out: Out, auto_approve: bool) -> Hooks:
    """Apply's progress on `out`; SIGTERM stops the running engine like Ctrl-C."""
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import apply_events
    from elb_mtls_deploy.render import render_text

    def engine(stop: threading.Event | None) -> None:
        TERMINATION.engine_stop = stop

    return workflow.Hooks(
        show=lambda plan: out.line(render_text(plan, out.colour, legend=True)),
        approve=lambda: auto_approve or _confirm(out),
        events=apply_events(out, engine),
        stop_requested=lambda: TERMINATION.received,
    )


def _deployed(done: Deployed, out: Out) -> int:
    from elb_mtls_deploy.output import show_deployed

    show_deployed(out, done)
    if done.ok:
        return EXIT_OK
    return _interrupted() if done.status == "interrupted" else EXIT_ERROR


def _confirm(out: Out) -> bool:
    if not sys.stdin.isatty():
        out.err("error: refusing to apply without confirmation; pass --auto-approve (e.g. in CI)")
        return False
    return _confirmed("Apply these changes? Only 'yes' will be accepted: ")


def cmd_verify(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import show_verified
    from elb_mtls_deploy.verify import Options
    from elb_mtls_deploy.verify import junit as junit_report

    options = Options(args.address, args.server_name, args.listener, args.client)
    found = workflow.verify(
        args.spec, os.environ, options, policy=_policy(args), fail_on_expiry=args.fail_on_expiry
    )
    if args.junit:
        junit_report.write(args.junit, found.results)
    show_verified(out, found)
    return EXIT_ERROR if found.failed or found.expiring else EXIT_OK


def cmd_output(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import show_outputs

    show_outputs(out, workflow.outputs(args.spec, os.environ, policy=_policy(args)))
    return EXIT_OK


def cmd_import(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import importer
    from elb_mtls_deploy.output import show_imported

    request = importer.Request(
        args.loadbalancer, args.stack, args.out, tuple(args.listener), args.state_dir,
        args.region, args.project_id, args.api,
    )  # fmt: skip
    result = importer.run(request, os.environ)
    show_imported(out, result, importer.NEXT_STEPS.format(spec=result.spec))
    return EXIT_OK


def cmd_probe(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import probe, workflow
    from elb_mtls_deploy.output import show_probed

    if not args.yes and not sys.stdin.isatty():
        raise DeployError("deploy probe creates resources; confirm on a terminal or pass --yes")

    def confirm(description: Sequence[str]) -> bool:
        out.lines(description)
        return args.yes or _confirmed("Create and probe? Only 'yes' is accepted: ")

    options = probe.Options(
        args.loadbalancer, args.embedded, args.state_dir, args.region, args.project_id,
        args.api, args.address,
    )  # fmt: skip
    report = workflow.probe(options, os.environ, confirm, out.line)
    if report is None:
        out.err("cancelled; nothing was created")
        return EXIT_ERROR
    document = probe.document(report)
    if args.out:
        args.out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    show_probed(out, report, probe.table(report), document)
    if report.aborted and report.aborted.startswith("interrupted"):
        return _interrupted()
    return EXIT_ERROR if report.aborted or report.left_behind else EXIT_OK


def _confirmed(prompt: str) -> bool:
    try:
        return input(prompt).strip() == "yes"
    except EOFError:  # end of input is a refusal, like any answer but "yes"
        return False
