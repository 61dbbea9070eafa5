"""The command line's grammar: every command, its options, and the global options that are
accepted before or after a command name. Builds the argparse tree and nothing else; the
commands themselves (`handlers`) are the CLI's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from elb_mtls_deploy import __version__

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM

Handler = Callable[..., int]


class _Parser(argparse.ArgumentParser):
    """A usage error exits 1 like every other error (2 means "changes pending")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


# Options every command takes, before or after its name; and those only the commands
# whose cloud calls are retried take (elsewhere they are refused, never silently ignored:
# `import` reads once, `probe` records the first answer on purpose).
RETRYING = ("plan", "apply", "destroy", "verify", "output")
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


def fill_globals(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill the defaults; refuse the retry options for a command that does not retry."""
    for name, value in _GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    if not getattr(args, "retries_calls", False):
        given = [name for name in _CLOUD_DEFAULTS if hasattr(args, name)]
        if given:
            flag = "--" + given[0].replace("_", "-")
            parser.error(f"{flag} applies only to {', '.join(RETRYING)}, not this command")
    for name, value in _CLOUD_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, value)


def build(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The whole tree; `handlers` maps each command name to the function that runs it."""
    parser = _Parser(
        prog="deploy",
        description="HTTPS with mutual TLS on Huawei Cloud ELB, from one reviewed YAML spec.",
    )
    _global_options(parser)
    _cloud_options(parser)
    parser.add_argument("--version", action="version", version=f"elb-mtls-deploy {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        _global_options(p)
        if name in RETRYING:
            _cloud_options(p)
        p.set_defaults(func=handlers[name], retries_calls=name in RETRYING)
        return p

    p = command("validate", "check the spec and lint its certificates (no network)")
    p.add_argument("spec", type=Path)
    p = command("certs", "issue or import every certificate into the PKI directory")
    p.add_argument("spec", type=Path)
    p.add_argument(
        "--history", action="store_true", help="list every kept generation (writes nothing)"
    )
    p = command("revoked", "print the deny-list backends use to refuse revoked clients")
    p.add_argument("spec", type=Path)
    p.add_argument("--out", type=Path, help="write the deny-list (JSON) to this file")
    p = command("sign", "sign a client's own certificate request (its key stays put)")
    p.add_argument("spec", type=Path)
    p.add_argument("--ca", required=True, help="the spec CA that signs")
    p.add_argument("--csr", type=Path, required=True, help="the PEM certificate request")
    p.add_argument("--out", type=Path, required=True, help="where to write the certificate")
    p.add_argument("--days", type=int, default=397, help="validity in days (default 397)")
    command("schema", "print the JSON Schema of the spec (editor completion)")
    p = command("plan", "show what apply would change")
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
    p = command("apply", "converge the cloud to the spec (or apply a saved plan)")
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
    p = command("destroy", "delete everything this stack owns, certificates last")
    p.add_argument("spec", type=Path)
    p.add_argument("--auto-approve", action="store_true")
    p.add_argument(
        "--purge-pki",
        action="store_true",
        help="also delete the PKI directory (keys included) once the cloud is clean",
    )
    p = command("verify", "prove mutual TLS works with real handshakes")
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
        "ids, addresses and (emulator) data-plane endpoints of the deployed stack",
    )
    p.add_argument("spec", type=Path)
    p = command(
        "import", "write a spec that adopts a console-made setup (docs/import.md)",
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
    p = command("completion", "print a shell completion script (bash or zsh)")
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


def _probe_parser(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`deploy probe` (docs/probe.md): its options only, kept apart from the others."""
    p = command(
        "probe",
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
