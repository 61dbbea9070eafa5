"""The command line: the only place that prints and chooses exit codes (0 ok, 1 error,
2 changes pending with `plan --detailed-exitcode`).

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from elb_mtls_deploy import __version__
from elb_mtls_deploy.output import Out

if TYPE_CHECKING:
    from elb_mtls_deploy.apply import Report
    from elb_mtls_deploy.plan import Plan
    from elb_mtls_deploy.saved_plan import SavedPlan
    from elb_mtls_deploy.workflow import Connection, Loaded, Planned

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM


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
    _globals(parser, args)
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
        return EXIT_TERMINATED if TERMINATION.received else EXIT_INTERRUPTED
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


class _Parser(argparse.ArgumentParser):
    """A usage error exits 1 like every other error (2 means "changes pending")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


# Options every command takes, before or after its name; and those only the commands
# that call the cloud take (elsewhere they are refused, never silently ignored).
_GLOBAL_DEFAULTS: dict[str, Any] = {"debug": False, "output": "text", "no_color": False}
_CLOUD_DEFAULTS: dict[str, Any] = {"retries": 5, "retry_timeout": 120.0}


def _global_options(parser: argparse.ArgumentParser) -> None:
    """`default=SUPPRESS` everywhere, so a subcommand never overwrites what came before it."""
    hide = argparse.SUPPRESS
    parser.add_argument("--debug", action="store_true", default=hide, help="show tracebacks")
    parser.add_argument(
        "--output", choices=("text", "json"), default=hide, help="text (default) or json"
    )
    parser.add_argument(
        "--no-color", action="store_true", default=hide, help="no colour (also: NO_COLOR=1)"
    )


def _cloud_options(parser: argparse.ArgumentParser) -> None:
    hide = argparse.SUPPRESS
    parser.add_argument(
        "--retries",
        type=int,
        default=hide,
        metavar="N",
        help="retries per API call on throttling, server errors and timeouts (default 5)",
    )
    parser.add_argument(
        "--retry-timeout",
        type=float,
        default=hide,
        metavar="SECONDS",
        help="give up retrying a call after this long (default 120)",
    )


def _globals(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill the defaults; refuse cloud options given before a command that makes no calls."""
    for name, value in _GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    if not getattr(args, "calls_cloud", False):
        given = [name for name in _CLOUD_DEFAULTS if hasattr(args, name)]
        if given:
            flag = "--" + given[0].replace("_", "-")
            parser.error(f"{flag} applies only to commands that call the cloud, not this one")
    for name, value in _CLOUD_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, value)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="deploy",
        description="HTTPS with mutual TLS on Huawei Cloud ELB, from one reviewed YAML spec.",
    )
    _global_options(parser)
    _cloud_options(parser)
    parser.add_argument("--version", action="version", version=f"elb-mtls-deploy {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND", parser_class=_Parser)

    def command(
        name: str, func: Callable[..., int], help_: str, cloud: bool = False
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        _global_options(p)
        if cloud:
            _cloud_options(p)
        p.set_defaults(func=func, calls_cloud=cloud)
        return p

    p = command("validate", cmd_validate, "check the spec and lint its certificates (no network)")
    p.add_argument("spec", type=Path)
    p = command("certs", cmd_certs, "issue or import every certificate into the PKI directory")
    p.add_argument("spec", type=Path)
    p.add_argument(
        "--history", action="store_true", help="list every kept generation (writes nothing)"
    )
    p = command(
        "revoked", cmd_revoked, "print the deny-list backends use to refuse revoked clients"
    )
    p.add_argument("spec", type=Path)
    p.add_argument("--out", type=Path, help="write the deny-list (JSON) to this file")
    p = command("sign", cmd_sign, "sign a client's own certificate request (its key stays put)")
    p.add_argument("spec", type=Path)
    p.add_argument("--ca", required=True, help="the spec CA that signs")
    p.add_argument("--csr", type=Path, required=True, help="the PEM certificate request")
    p.add_argument("--out", type=Path, required=True, help="where to write the certificate")
    p.add_argument("--days", type=int, default=397, help="validity in days (default 397)")
    command("schema", cmd_schema, "print the JSON Schema of the spec (editor completion)")
    p = command("plan", cmd_plan, "show what apply would change", cloud=True)
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
    p = command(
        "apply", cmd_apply, "converge the cloud to the spec (or apply a saved plan)", cloud=True
    )
    p.add_argument("spec", type=Path, help="a spec file or a plan saved with plan --out")
    p.add_argument(
        "--spec",
        dest="pinned_spec",
        type=Path,
        metavar="SPEC",
        help="with a saved plan: refuse it unless it was made from this spec file",
    )
    p.add_argument(
        "--auto-approve",
        action="store_true",
        help="do not ask for confirmation (a saved plan never asks: it was the approval)",
    )
    p.add_argument("--workers", type=int, default=8, help="parallel API calls (default 8)")
    p = command(
        "destroy", cmd_destroy, "delete everything this stack owns, certificates last", cloud=True
    )
    p.add_argument("spec", type=Path)
    p.add_argument("--auto-approve", action="store_true")
    p.add_argument(
        "--purge-pki",
        action="store_true",
        help="also delete the PKI directory (keys included) once the cloud is clean",
    )
    p = command("verify", cmd_verify, "prove mutual TLS works with real handshakes", cloud=True)
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
    p.add_argument(
        "--fail-on-expiry",
        type=int,
        metavar="DAYS",
        help="also fail if a certificate of the spec expires within DAYS (scheduled checks)",
    )
    p = command(
        "output",
        cmd_output,
        "ids, addresses and (emulator) data-plane endpoints of the deployed stack",
        cloud=True,
    )
    p.add_argument("spec", type=Path)
    p = command(
        "import", cmd_import, "write a spec that adopts a console-made setup (docs/import.md)",
        cloud=True,
    )  # fmt: skip
    p.add_argument("--loadbalancer", required=True, metavar="ID|NAME")
    p.add_argument("--listener", action="append", default=[], metavar="ID",
                   help="import only this HTTPS listener (repeatable; default: all)")  # fmt: skip
    p.add_argument("--stack", required=True, help="the stack that adopts the resources")
    p.add_argument("--out", required=True, type=Path, help="the spec to write (must not exist)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--embedded", action="store_true", help="the ELB emulator")
    where.add_argument("--region", help="a Huawei Cloud region (credentials from the environment)")
    p.add_argument("--state-dir", type=Path, help="with --embedded: the emulator's state directory")
    p.add_argument("--project-id", help="with --region: the project id")
    p.add_argument("--api", choices=("v3", "v2"), help="default: from the load balancer's type")
    _probe_parser(command)
    p = command("completion", cmd_completion, "print a shell completion script (bash or zsh)")
    p.add_argument("shell", choices=("bash", "zsh"))
    from elb_mtls_deploy.emulator.cli import register

    register(sub)
    _globals_everywhere(parser)
    return parser


def _globals_everywhere(parser: argparse.ArgumentParser) -> None:
    """The global options are accepted after any (sub)command, including the emulator's."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if not any(a.dest == "debug" for a in child._actions):
                    _global_options(child)
                _globals_everywhere(child)


# --- commands -------------------------------------------------------------------------


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

    document = workflow.deny_list(workflow.load(args.spec, os.environ))
    if args.out:
        write_json(args.out, document)
        out.line(f"{len(document['entries'])} revoked certificate(s) -> {args.out}")
    else:
        print(json.dumps(document, indent=2, sort_keys=True))
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
    from elb_mtls_deploy.output import cert_row

    loaded = workflow.load(args.spec, os.environ)
    if args.history:
        return _print_history(out, workflow.history(loaded))
    report = _certs(loaded, out)
    out.data(
        {
            "certificates": [cert_row(c) for c in report.certificates],
            "findings": [vars(f) for f in report.findings],
        }
    )
    return EXIT_OK


def _certs(loaded: Loaded, out: Out) -> Any:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import cert_line

    report = workflow.ensure_certs(loaded)
    for cert in report.certificates:
        out.line(cert_line(cert))
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


def _print_findings(out: Out, findings: Sequence[Any]) -> None:
    for finding in findings:
        out.line(str(finding))


def cmd_plan(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import write_json
    from elb_mtls_deploy.render import render_text
    from elb_mtls_deploy.saved_plan import certificate_fingerprints, to_json

    loaded = workflow.load(args.spec, os.environ)
    for finding in workflow.lint_public(loaded):  # bad certificates: exit 1 before any API call
        out.line(str(finding))
    with workflow.connect(loaded, _policy(args), read_only=True) as conn:  # plan writes nothing
        planned = workflow.make_plan(loaded, conn)
    plan = _with_expiry_notes(planned.plan, loaded, args.fail_on_expiry, planned.observed)
    certificates = certificate_fingerprints(planned.desired)
    document = to_json(plan, str(args.spec), loaded.digest, certificates)
    if args.out:
        write_json(args.out, document)
    if args.gitlab_report:
        write_json(args.gitlab_report, plan.counts())
    out.line(render_text(plan, out.colour, legend=True))
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


def cmd_apply(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.saved_plan import certificate_fingerprints, check_fresh, check_spec

    saved = _saved_plan(args.spec)
    if saved is None and args.pinned_spec is not None:
        out.err("error: --spec goes with a saved plan (deploy apply PLAN.json --spec SPEC)")
        return EXIT_ERROR
    spec_path = Path(saved.spec_path) if saved else args.spec
    if saved and args.pinned_spec is not None:
        spec_path = args.pinned_spec
    loaded = workflow.load(spec_path, os.environ)
    if saved:
        check_spec(saved, str(args.spec), str(spec_path), loaded.digest)
    workflow.preflight(loaded)  # a CA key that must sign and is missing: exit 1, no API call
    with workflow.connect(loaded, _policy(args)) as conn:
        planned = workflow.make_plan(loaded, conn)
        if saved:
            fingerprints = certificate_fingerprints(planned.desired)
            check_fresh(saved, str(args.spec), planned.plan, fingerprints)
            workflow.saved_issuance(list(saved.notes), planned)
        return _converge(planned, loaded, conn, out, args, approved=saved is not None)


def _saved_plan(path: Path) -> SavedPlan | None:
    if path.suffix != ".json":
        return None
    from elb_mtls_deploy.errors import PlanError
    from elb_mtls_deploy.saved_plan import MAX_PLAN_BYTES, parse

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_PLAN_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot read the plan file ({exc})") from None
    return parse(text, str(path))


def _converge(
    planned: Planned,
    loaded: Loaded,
    conn: Connection,
    out: Out,
    args: Any,
    approved: bool = False,
) -> int:
    """Show the plan, take the approval, run the loop, print what it did; every resource
    is in the JSON report."""
    from elb_mtls_deploy.converge import converge
    from elb_mtls_deploy.errors import DeployError
    from elb_mtls_deploy.output import apply_document
    from elb_mtls_deploy.render import render_text

    command = "destroy" if plan_is_destroy(args) else "apply"
    plan = planned.plan

    def finish(status: str, code: int, reports: Any = (), after: Any = None) -> int:
        out.data(apply_document(command, plan.stack, status, planned.observed, reports, after))
        return code

    out.line(render_text(plan, out.colour, legend=True))
    if plan.conflicts:
        raise DeployError("the plan has conflicts; nothing was changed", hint="see the plan above")
    if plan.empty and not _issues(planned):
        _where(conn, out, command)
        return finish("no changes", EXIT_OK, after=planned.observed)
    if not (args.auto_approve or approved) and not _confirm(out):
        out.err(f"{command} cancelled; nothing was changed")
        return finish("cancelled", EXIT_ERROR, after=planned.observed)
    result = converge(
        planned,
        loaded,
        conn,
        destroy=command == "destroy",
        workers=getattr(args, "workers", 8),
        events=_events(out),
        stop_requested=lambda: TERMINATION.received,
    )
    codes = {"applied": EXIT_OK, "failed": EXIT_ERROR, "not converged": EXIT_ERROR}
    code = codes.get(result.status, EXIT_TERMINATED if TERMINATION.received else EXIT_INTERRUPTED)
    if result.remaining is not None:
        out.err("error: the cloud still differs from the spec after apply:")
        out.err(render_text(result.remaining))
        out.err(
            "Another writer may be changing this stack at the same time (a second "
            "pipeline?). Serialise applies (GitLab resource_group) and re-run apply."
        )
    if result.status == "applied":
        out.line("Apply complete; a fresh plan shows no changes.")
        _where(conn, out, command)
    return finish(result.status, code, result.reports, result.after)


def _events(out: Out) -> Any:
    from elb_mtls_deploy.converge import Events
    from elb_mtls_deploy.output import progress_line
    from elb_mtls_deploy.render import render_text

    def issued(cert: Any) -> None:
        out.line(
            f"  {cert.action:<8} {cert.role:<6} {cert.name:<24} "
            f"sha256:{cert.fingerprint[:16]}…  ({cert.reason})"
        )

    def engine(stop: Any) -> None:
        TERMINATION.engine_stop = stop  # SIGTERM now stops the engine like Ctrl-C

    def passed(report: Report, seconds: float) -> None:
        out.line(f"  ({seconds:.2f}s)")
        _print_report(report, out)

    def again(plan: Plan, attempt: int) -> None:
        out.line(f"The cloud changed during apply; converging again (pass {attempt}):")
        out.line(render_text(plan, out.colour))

    return Events(
        issued=issued,
        outcome=lambda outcome: out.line(progress_line(outcome)),
        engine=engine,
        passed=passed,
        again=again,
    )


def plan_is_destroy(args: Any) -> bool:
    return bool(getattr(args, "func", None) is cmd_destroy)


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
    for line in summary_lines(report):
        out.line(line)
    for outcome in report.failed:
        out.err(f"error: {outcome.action.label}: {outcome.error}")
    if report.failed or report.interrupted:
        out.err("Re-run apply to continue from where the cloud is now.")


def _where(conn: Connection, out: Out, command: str) -> None:
    if conn.embedded_state_dir is None or command == "destroy":
        return
    where = _relative(conn.embedded_state_dir)
    out.line(
        f"The embedded emulator keeps this cloud in {where}/. Run `deploy emulator serve "
        f"--state-dir {where}` to keep the listeners up, then `deploy verify SPEC` (`deploy "
        "output SPEC` shows where each listener answers)."
    )


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


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
    from elb_mtls_deploy.output import verify_document, verify_lines
    from elb_mtls_deploy.pki import load_bundles
    from elb_mtls_deploy.verify import Options, failed, verify_listeners
    from elb_mtls_deploy.verify import junit as junit_report

    loaded = workflow.load(args.spec, os.environ)
    bundles = load_bundles(loaded.spec, loaded.base_dir, loaded.env)
    options = Options(args.address, args.server_name, args.listener, args.client)
    options = workflow.with_revoked(loaded, options)  # revoked clients must be refused
    with workflow.connect(loaded, _policy(args), serve_traffic=True) as conn:
        embedded = conn.endpoint if conn.embedded_state_dir is not None else None
        report = verify_listeners(
            loaded.spec, bundles, conn.loadbalancers, embedded, options, workflow.now()
        )
    results = [r for _, rows in report for r in rows]
    if args.junit:
        junit_report.write(args.junit, results)
    for line in verify_lines(report):
        out.line(line)
    expiring = _expiry(bundles.values(), args.fail_on_expiry)
    out.data({**verify_document(report), "expiring": expiring})
    bad = failed(results)
    if bad:
        out.err(f"error: {len(bad)} check(s) failed:")
        for r in bad:
            out.err(f"  {r.listener} {r.check}: {r.detail}")
    for note in expiring:
        out.err(f"error: {note}")
    return EXIT_ERROR if bad or expiring else EXIT_OK


def _expiry(bundles: Any, days: int | None) -> list[str]:
    """The served certificates are the PKI's (verify checks the fingerprint), so the PKI's
    dates are the ones that will run out."""
    if days is None:
        return []
    from elb_mtls_deploy.expiry import expiry_notes
    from elb_mtls_deploy.state import State
    from elb_mtls_deploy.workflow import now

    return expiry_notes(bundles, State(), now(), days)


def cmd_output(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import workflow
    from elb_mtls_deploy.output import output_lines, stack_outputs

    loaded = workflow.load(args.spec, os.environ)
    served, note = _served_dataplane(loaded)
    with workflow.connect(loaded, _policy(args)) as conn:
        observed = workflow.observe_state(loaded, conn)
        document = stack_outputs(loaded.spec, conn.loadbalancers, observed, served)
    for line in output_lines(document, note):
        out.line(line)
    out.data(document)
    return EXIT_OK


def _served_dataplane(loaded: Loaded) -> tuple[list[dict[str, Any]] | None, str | None]:
    """The emulator's data plane when `deploy emulator serve` runs over the spec's state."""
    from elb_mtls_deploy import workflow

    directory = workflow.state_dir(loaded)
    if directory is None:
        return None, None
    from elb_mtls_deploy.emulator import discover_server
    from elb_mtls_deploy.verify.target import dataplane

    endpoint = discover_server(directory)
    if endpoint is None:
        return None, (
            "no data-plane endpoints: the emulator is not running; start `deploy emulator "
            f"serve --state-dir {directory}` and run `deploy output` again"
        )
    return dataplane(endpoint), None


def cmd_import(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import importer

    if (args.embedded and args.project_id) or (not args.embedded and args.state_dir):
        raise importer.ImportRefused(
            "--state-dir goes with --embedded, --project-id with --region",
            hint="see `deploy import --help`",
        )
    request = importer.Request(
        args.loadbalancer, args.stack, args.out, tuple(args.listener), args.state_dir,
        args.region, args.project_id, args.api,
    )  # fmt: skip
    result = importer.run(request, os.environ)
    out.line(f"wrote {result.spec} and {len(result.files)} certificate file(s) next to it")
    for note in result.notes:
        out.line(f"note: {note}")
    _print_findings(out, result.findings)
    for problem in result.problems:
        out.line(f"note: {result.spec} does not validate yet: {problem}")
    out.line(importer.NEXT_STEPS.format(spec=result.spec))
    out.data(
        {
            "spec": str(result.spec),
            "files": [str(f) for f in result.files],
            "notes": list(result.notes),
            "findings": [vars(f) for f in result.findings],
            "problems": list(result.problems),
        }
    )
    return EXIT_OK


def _probe_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`deploy probe` (docs/probe.md): its options only, kept apart from the others."""
    p = command(
        "probe",
        cmd_probe,
        "settle unverified API behaviours on your account with a throwaway stack",
    )  # no --retries: a retried call would hide the first answer, which is the finding
    p.add_argument("--loadbalancer", required=True, metavar="ID|NAME")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--embedded", action="store_true", help="probe the embedded emulator")
    where.add_argument("--region", help="Huawei Cloud region id (credentials from HW_* vars)")
    p.add_argument("--state-dir", type=Path, metavar="DIR", help="with --embedded")
    p.add_argument("--project-id", metavar="ID")
    p.add_argument("--api", choices=("v3", "v2"), help="default: from the load balancer type")
    p.add_argument("--yes", action="store_true", help="do not ask before creating")
    p.add_argument("--out", type=Path, help="write the report as JSON (no secrets)")
    p.add_argument("--address", metavar="HOST[:PORT]", help="where the LB answers (data plane)")


def _confirmed(prompt: str) -> bool:
    try:
        return input(prompt) == "yes"
    except EOFError:
        return False


def cmd_probe(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy import probe, workflow

    if not args.yes and not sys.stdin.isatty():
        out.err("error: deploy probe creates resources; confirm on a terminal or pass --yes")
        return EXIT_ERROR
    options = probe.Options(
        args.loadbalancer, args.embedded, args.state_dir, args.region, args.project_id,
        args.api, args.address,
    )  # fmt: skip
    with probe.open_session(options, os.environ) as session:
        for line in session.describe():
            out.line(line)
        if not args.yes and not _confirmed("Create and probe? Only 'yes' is accepted: "):
            out.err("cancelled; nothing was created")
            return EXIT_ERROR
        report = session.run(workflow.now(), out.line)
    for line in probe.table(report):
        out.line(line)
    document = probe.document(report)
    if args.out:
        args.out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    out.data(document)
    for problem in report.left_behind:
        out.err(f"error: left behind: {problem}")
    if report.aborted:
        out.err(f"error: the probe run stopped: {report.aborted}")
        if report.aborted.startswith("interrupted"):
            return EXIT_TERMINATED if TERMINATION.received else EXIT_INTERRUPTED
    return EXIT_ERROR if report.aborted or report.left_behind else EXIT_OK


def cmd_completion(args: argparse.Namespace, out: Out) -> int:
    from elb_mtls_deploy.completion import script

    print(script(args.shell, _parser()), end="")
    return EXIT_OK
