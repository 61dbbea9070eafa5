"""One probe run: connect, find the load balancer, make the throwaway stack, run every
probe, remove everything, and return the `Report`.

Owns the sequencing and the cleanup guarantee: what the run made is deleted in a
`finally` after the last probe, a failure, Ctrl-C or SIGTERM (the CLI turns SIGTERM into
KeyboardInterrupt), with both signals ignored while it deletes; a SIGKILL leaves
resources under the probe marker, which the next run removes before it creates anything.
It never prints: progress goes through a callback.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import re
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from elb_mtls_deploy import __version__
from elb_mtls_deploy.cloud.base import Credentials, LoadBalancerInfo, Query
from elb_mtls_deploy.cloud.sdk import SdkCloud
from elb_mtls_deploy.errors import DeployError
from elb_mtls_deploy.probe import checks, dataplane, material, stack
from elb_mtls_deploy.probe.report import Finding, Report
from elb_mtls_deploy.state import Flavour

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
DEFAULT_STATE_DIR = Path(".elb-emulator")


@dataclass(frozen=True)
class Options:
    loadbalancer: str  # id or name
    embedded: bool = False
    state_dir: Path | None = None  # --embedded only (default ./.elb-emulator)
    region: str | None = None
    project_id: str | None = None
    api: Flavour | None = None  # None: from the load balancer's type
    address: str | None = None  # HOST[:PORT] where the probe listener can be reached


@dataclass
class Session:
    cloud: SdkCloud
    info: LoadBalancerInfo
    region: str
    port: int
    run_id: str
    leftovers: list[stack.Made]
    emulator_endpoint: str | None = None
    address_host: str | None = None
    lb: stack.Balancer = field(init=False)

    def __post_init__(self) -> None:
        self.lb = stack.Balancer(self.cloud, self.info.id)

    @property
    def kind(self) -> str:
        return "dedicated" if self.info.guaranteed else "shared"

    def describe(self) -> list[str]:
        """What `run` will create and delete, for the confirmation prompt."""

        def n(role: str) -> str:
            return stack.name(self.run_id, role)

        lines = [
            f"deploy probe (run {self.run_id}) will, on {self.kind} load balancer "
            f"{self.info.name} ({self.info.id}) through the {self.cloud.flavour} API:",
        ]
        if self.leftovers:
            lines.append(f"  delete {len(self.leftovers)} leftover(s) of earlier probe runs:")
            lines += [f"    {m.kind} {m.label} ({m.id})" for m in self.leftovers]
        lines += [
            f"  create certificates {n('server')}, {n('ca')}, {n('bundle')} (made now, "
            f"valid {material.DAYS} days, keys never written)",
            f"  create HTTPS listener {n('listener')} on port {self.port} with mutual TLS",
            f"  create pool {n('pool')} (and try a second one, {n('pool-2')})",
        ]
        if self._echo_member_possible:
            lines.append("  add one member 127.0.0.1:<free port> (the emulator's echo backend)")
        lines += [
            "  rename the listener twice, change its headers and client CA",
            f"  then delete all of it (description {stack.marker(self.run_id)}), also after "
            "Ctrl-C, SIGTERM or a failure",
        ]
        return lines

    @property
    def _echo_member_possible(self) -> bool:
        return (
            self.emulator_endpoint is not None
            and self.cloud.flavour == "v3"
            and self.info.ip_target_enable is True
        )

    def run(self, now: datetime, progress: Callable[[str], None] = lambda _: None) -> Report:
        report = Report(
            self.run_id,
            __version__,
            _sdk_version(),
            self.region,
            self.cloud.flavour,
            {"id": self.info.id, "name": self.info.name, "type": self.kind},
        )
        ctx = checks.Context(
            self.lb, self.info, self.run_id, material.make(self.run_id, now), self.port
        )
        try:
            report.removed_leftovers, left = stack.delete_all(self.lb, self.leftovers)
            report.left_behind += left
            for step in self._steps():
                finding = step(ctx)
                if finding is not None:
                    report.findings.append(finding)
                    progress(f"  {finding.name}: {finding.observed}")
        except KeyboardInterrupt:
            report.aborted = "interrupted (Ctrl-C or SIGTERM)"
        except DeployError as exc:
            report.aborted = str(exc)
        finally:
            with _shielded():
                progress(f"  removing the {len(ctx.scratch.made)} resource(s) made")
                removed, left = ctx.scratch.remove(self.lb)
            report.removed += removed
            report.left_behind += left
        return report

    def _steps(self) -> list[Callable[[checks.Context], Finding | None]]:
        return [
            checks.certificate_text,
            _none(checks.create_listener),
            checks.pool_binding,
            _none(self._echo_member),
            checks.second_pool,
            checks.busy,
            checks.insert_headers,
            checks.clientcert_headers,
            lambda ctx: dataplane.multi_ca_trust(ctx, self._reach(ctx)),
            lambda ctx: dataplane.clientcert_headers_arrive(ctx, self._reach(ctx)),
            checks.ca_unbind,
            checks.filter_url_length,
        ]

    def _echo_member(self, ctx: checks.Context) -> None:
        if not self._echo_member_possible:
            return
        member = {"name": ctx.name("member"), "address": "127.0.0.1", "protocol_port": _free()}
        pool = ctx.ids["pool"]
        (ctx.ids["member"],) = self.lb.change(lambda: self.cloud.create_members(pool, [member]))
        ctx.scratch.add("member", ctx.ids["member"], ctx.name("member"), pool)

    def _reach(self, ctx: checks.Context) -> dataplane.Reach:
        if self.address_host is not None:
            return dataplane.Reach(self.address_host, self.port, "--address")
        if self.emulator_endpoint is None:
            return dataplane.Reach(
                None,
                0,
                "no --address: the data-plane probes need HOST[:PORT] where the load "
                "balancer answers (its EIP)",
            )
        from elb_mtls_deploy.verify.target import dataplane as served

        for item in served(self.emulator_endpoint):
            if item.get("id") == ctx.ids["listener"]:
                echo = "member" in ctx.ids
                return dataplane.Reach(
                    str(item["address"]), int(item["port"]), "emulator data plane", echo
                )
        return dataplane.Reach(None, 0, "the emulator does not serve the probe listener")


def _none(step: Callable[[checks.Context], None]) -> Callable[[checks.Context], Finding | None]:
    def run(ctx: checks.Context) -> Finding | None:
        step(ctx)
        return None

    return run


def _free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sdk_version() -> str:
    try:
        return importlib.metadata.version("huaweicloudsdkelb")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Ctrl-C and SIGTERM are ignored while the run deletes what it made (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# ------------------------------------------------------------------------- opening


@contextlib.contextmanager
def open_session(options: Options, env: Mapping[str, str]) -> Iterator[Session]:
    """Connect (the emulator, or the region's endpoint), find the load balancer, choose the
    port and list leftovers; read-only. The session is valid inside the block."""
    from elb_mtls_deploy.cloud import sdk

    _check(options)
    host, port = _address(options.address)
    with _endpoint(options, env) as (endpoint, credentials, region, emulator_endpoint):
        lookup = sdk.connect(options.api or "v3", credentials, endpoint)
        try:
            info = _find(lookup, options.loadbalancer)
        finally:
            lookup.close()
        flavour: Flavour = options.api or ("v3" if info.guaranteed else "v2")
        cloud = sdk.connect(flavour, credentials, endpoint)
        try:
            listeners = cloud.read(Query("listener", within=[info.id]))
            used = [int(o.fields.get("protocol_port") or 0) for o in listeners]
            if port is not None and port in used:
                raise DeployError(
                    f"port {port} of --address is used by a listener on {info.name}",
                    hint="give a free port, or only HOST (the probe then picks a free port)",
                )
            chosen = port or stack.free_port(used, secrets.SystemRandom())
            run_id = secrets.token_hex(4)
            leftovers = stack.leftovers(stack.Balancer(cloud, info.id))
            yield Session(cloud, info, region, chosen, run_id, leftovers, emulator_endpoint, host)
        finally:
            cloud.close()


def _check(options: Options) -> None:
    if options.embedded and (options.region or options.project_id):
        raise DeployError("--region and --project-id name a real account: not with --embedded")
    if not options.embedded and options.state_dir is not None:
        raise DeployError("--state-dir is the emulator's: it needs --embedded")
    if not options.embedded and not options.region:
        raise DeployError("deploy probe needs --region R (or --embedded)")


def _address(value: str | None) -> tuple[str | None, int | None]:
    if value is None:
        return None, None
    if value.count(":") == 0 or (value.startswith("[") and value.endswith("]")):
        return value.strip("[]"), None
    from elb_mtls_deploy.verify.target import parse_address

    return parse_address(value)


def _find(cloud: Any, ref: str) -> LoadBalancerInfo:
    by_id = bool(_UUID.match(ref))
    found = cloud.find_loadbalancers([ref] if by_id else [], [] if by_id else [ref])
    matches = [lb for lb in found if lb.id == ref or lb.name == ref]
    if not matches:
        raise DeployError(
            f"load balancer {ref!r} was not found",
            hint="give its id or name as the console shows it (or `deploy emulator state`)",
        )
    if len(matches) > 1:
        raise DeployError(f"{len(matches)} load balancers are named {ref!r}", hint="give its id")
    return matches[0]  # type: ignore[no-any-return]


@contextlib.contextmanager
def _endpoint(
    options: Options, env: Mapping[str, str]
) -> Iterator[tuple[str, Credentials, str, str | None]]:
    from elb_mtls_deploy.cloud import sdk

    if not options.embedded:
        assert options.region is not None  # _check
        endpoint = sdk.endpoint_for_region(options.region)
        yield endpoint, sdk.credentials_from_env(env, options.project_id), options.region, None
        return
    from elb_mtls_deploy import emulator

    credentials = Credentials(emulator.DEMO_AK, emulator.DEMO_SK, emulator.DEMO_PROJECT_ID)
    state_dir = options.state_dir or DEFAULT_STATE_DIR
    running = emulator.discover_server(state_dir)
    if running is not None:
        yield running, credentials, "embedded", running
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    with emulator.start_server(state_dir, dataplane=True) as server:
        yield server.endpoint, credentials, "embedded", server.endpoint
