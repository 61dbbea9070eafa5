"""``deploy emulator serve|state|reset``: argparse wiring for the emulator.

``register(subparsers)`` adds the ``emulator`` command; each subcommand sets
``func=callable(args) -> int`` (exit code). This is the only emulator module that prints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from .constants import DB_FILENAME, DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, SERVER_FILENAME

DEFAULT_STATE_DIR = Path(".elb-emulator")


def register(subparsers: Any) -> None:
    """Add ``emulator`` with ``serve``, ``state`` and ``reset`` to an argparse subparsers."""
    parser = subparsers.add_parser("emulator", help="run or inspect the embedded ELB emulator")
    commands = parser.add_subparsers(dest="emulator_command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run the emulator in the foreground (Ctrl-C stops)")
    _state_dir_option(serve)
    serve.add_argument("--port", type=int, default=0, help="API port on 127.0.0.1 (0 = free)")
    serve.add_argument("--latency-ms", type=int, default=0, help="added latency per request")
    serve.add_argument("--error-rate", type=float, default=0.0, help="fraction answered 500")
    serve.add_argument("--unavailable-rate", type=float, default=0.0, help="fraction 503")
    serve.add_argument("--throttle-rate", type=float, default=0.0, help="fraction 429")
    serve.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds on 429")
    serve.add_argument("--busy-rate", type=float, default=0.0, help="fraction of writes 409 busy")
    serve.add_argument("--lost-response-rate", type=float, default=0.0, help="commit, no reply")
    serve.add_argument("--seed", type=int, default=None, help="seed for reproducible faults")
    serve.add_argument(
        "--provisioning-ms",
        type=int,
        default=0,
        help="a load balancer stays PENDING_UPDATE this long after each change (0 = off)",
    )
    serve.add_argument("--no-dataplane", action="store_true", help="API only, no TLS listeners")
    serve.add_argument("--no-demo-backends", action="store_true", help="no built-in backends")
    serve.set_defaults(func=cmd_serve)

    show = commands.add_parser("state", help="list what the emulator holds (no private keys)")
    _state_dir_option(show)
    show.set_defaults(func=cmd_state)

    reset = commands.add_parser("reset", help="delete the emulator state directory")
    _state_dir_option(reset)
    reset.set_defaults(func=cmd_reset)


def _state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help=f"emulator state directory (default: ./{DEFAULT_STATE_DIR})",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import start_server

    try:
        from .control.faults import FaultConfig

        faults = FaultConfig(
            latency_ms=args.latency_ms,
            error_500_rate=args.error_rate,
            error_503_rate=args.unavailable_rate,
            error_429_rate=args.throttle_rate,
            retry_after_seconds=args.retry_after,
            busy_rate=args.busy_rate,
            lost_response_rate=args.lost_response_rate,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.provisioning_ms < 0:
        print("error: --provisioning-ms must be >= 0", file=sys.stderr)
        return 1
    try:
        server = start_server(
            args.state_dir,
            port=args.port,
            announce=True,
            faults=faults,
            dataplane=not args.no_dataplane,
            demo_backends=not args.no_demo_backends,
            provisioning_ms=args.provisioning_ms,
        )
    except OSError as exc:
        print(f"error: cannot start the emulator: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        if _json(args):  # one line for scripts: where to connect, with what
            _print_json(_announcement(args, server))
        else:
            _print_banner(args, server)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    if not _json(args):
        print("ELB emulator stopped.")
    return 0


def _json(args: argparse.Namespace) -> bool:
    """`--output json` (the deploy CLI adds the option to every emulator subcommand)."""
    return getattr(args, "output", "text") == "json"


def _print_json(value: Any) -> None:
    print(json.dumps(value, sort_keys=True, default=str), flush=True)


def _announcement(args: argparse.Namespace, server: Any) -> dict[str, Any]:
    from .control.admin import dataplane

    return {
        "endpoint": server.endpoint,
        "state_dir": str(args.state_dir.resolve()),
        "ak": DEMO_AK,
        "sk": DEMO_SK,  # the public demo value (docs/emulator.md), not a secret
        "project_id": DEMO_PROJECT_ID,
        "dataplane": dataplane(server.emulator)["listeners"],
    }


def _print_banner(args: argparse.Namespace, server: Any) -> None:
    print(f"ELB emulator listening on {server.endpoint}")
    print(f"  state dir:  {args.state_dir.resolve()}")
    print(f"  AK:         {DEMO_AK}")
    # The demo SK is a public constant documented in docs/emulator.md; it is not a secret.
    print(f"  SK:         {DEMO_SK}   (public demo value, see docs/emulator.md)")
    print(f"  project id: {DEMO_PROJECT_ID}")
    if args.provisioning_ms:
        print(
            f"  provisioning: a load balancer stays PENDING_UPDATE {args.provisioning_ms} ms "
            "after each change"
        )
    _print_data_plane(server.emulator)
    print("Press Ctrl-C to stop.", flush=True)


def _print_data_plane(emulator: Any) -> None:
    """Where each HTTPS listener answers now; later changes: `deploy emulator state`."""
    from .control.admin import dataplane

    served = dataplane(emulator)["listeners"]
    if not served:
        print("  data plane: no HTTPS listeners yet (see `deploy emulator state` later)")
    for item in served:
        mode = "mutual TLS" if item["mutual_auth"] else "one-way TLS"
        print(
            f"  data plane: {item['name'] or item['id']} ({item['protocol']}:"
            f"{item['protocol_port']}, {mode}) -> https://{item['address']}:{item['port']}/"
        )


def _is_state_dir(path: Path) -> bool:
    return (path / DB_FILENAME).is_file()


def cmd_state(args: argparse.Namespace) -> int:
    from .control.admin import state

    if not _is_state_dir(args.state_dir):
        print(f"error: {args.state_dir} is not an emulator state directory", file=sys.stderr)
        return 1
    from .control.api import Emulator

    emulator = Emulator(args.state_dir, dataplane=False)
    try:
        dump = state(emulator)
    finally:
        emulator.close()
    if _json(args):
        _print_json(dump)
        return 0
    ports = dump["bind_ports"]
    for lb in dump["loadbalancers"]:
        kind = "dedicated" if lb["guaranteed"] else "shared"
        print(f"loadbalancer {lb['id']}  {lb['name']}  ({kind}, vip {lb['vip_address']})")
    for cert in dump["certificates"]:
        print(
            f"certificate  {cert['id']}  {cert['name']}  type={cert['type']}  "
            f"cn={cert['common_name']}  expires={cert['expire_time']}"
        )
    for listener in dump["listeners"]:
        port = ports.get(listener["id"])
        where = f"  data plane 127.0.0.1:{port}" if port else ""
        mtls = "  mutual-auth" if listener.get("client_ca_tls_container_ref") else ""
        print(
            f"listener     {listener['id']}  {listener['name']}  "
            f"{listener['protocol']}:{listener['protocol_port']}{mtls}{where}"
        )
    for pool in dump["pools"]:
        print(
            f"pool         {pool['id']}  {pool['name']}  {pool['protocol']} {pool['lb_algorithm']}"
        )
    for member in dump["members"]:
        print(
            f"member       {member['id']}  {member['address']}:{member['protocol_port']}  "
            f"pool={member['pool_id']}"
        )
    for monitor in dump["healthmonitors"]:
        print(f"healthmon    {monitor['id']}  {monitor['type']}  pool={monitor['pool_id']}")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    path: Path = args.state_dir
    if not path.exists():
        if _json(args):
            _print_json({"removed": None})
        else:
            print(f"nothing to reset: {path} does not exist")
        return 0
    if not _is_state_dir(path):
        print(
            f"error: {path} does not look like an emulator state directory "
            f"(no {DB_FILENAME}); refusing to delete it",
            file=sys.stderr,
        )
        return 1
    from .server import discover_server

    endpoint = discover_server(path)
    if endpoint is not None:
        print(
            f"error: an emulator is running on {endpoint} over {path}; stop it first",
            file=sys.stderr,
        )
        return 1
    removed = _remove_own_files(path)
    if _json(args):
        _print_json({"removed": str(path), "files": removed})
    else:
        print(f"removed emulator state {path} ({len(removed)} files)")
    return 0


def _remove_own_files(path: Path) -> list[str]:
    """Only the emulator's own files: its database (with SQLite's journal files) and its
    announcement; anything else a user keeps in the directory stays, and so does the
    directory then."""
    names = [DB_FILENAME, *(DB_FILENAME + s for s in ("-wal", "-shm", "-journal"))]
    names.append(SERVER_FILENAME)
    removed = []
    for entry in sorted(path.iterdir()):
        own = entry.name in names or entry.name.startswith(f".{SERVER_FILENAME}.")
        if own and entry.is_file() and not entry.is_symlink():
            entry.unlink()
            removed.append(entry.name)
    with contextlib.suppress(OSError):
        path.rmdir()  # only when empty
    return removed
