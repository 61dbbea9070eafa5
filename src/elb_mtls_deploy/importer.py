"""`deploy import`: read a console-made setup and write the spec that adopts it.

The I/O half of adoption (the pure half is `elb_mtls_deploy.adopt`): connects to the
target, reads one load balancer's HTTPS listeners with their certificates, pools, health
monitors and members, refuses what cannot be adopted safely, and writes the spec and its
certificate files. Nothing is written when anything is refused, and nothing in the cloud
is changed: the adoption itself is the reviewed `deploy plan` / `deploy apply` that follows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy.adopt import (
    CertFile,
    ImportRefused,
    Inventory,
    choose_listeners,
    describe,
    refusals,
)
from elb_mtls_deploy.cloud.base import Credentials, LoadBalancerInfo, Query
from elb_mtls_deploy.state import Flavour

if TYPE_CHECKING:
    from elb_mtls_deploy.cloud.sdk import SdkCloud

__all__ = ["NEXT_STEPS", "ImportRefused", "Request", "Result", "read", "run"]

_STACK_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")  # as `Spec.stack`


NEXT_STEPS = (
    "next: `deploy plan {spec}` shows only in-place renames and ownership markers (same ids); "
    "review it, `deploy apply {spec}`, then rotate the console-made certificates in place "
    "(docs/import.md)"
)


@dataclass(frozen=True)
class Request:
    loadbalancer: str  # id or name
    stack: str
    out: Path
    listeners: tuple[str, ...] = ()
    state_dir: Path | None = None  # embedded target when `region` is None
    region: str | None = None
    project_id: str | None = None
    api: str | None = None  # "v3" | "v2" | None (from the load balancer's type)


@dataclass(frozen=True)
class Result:
    spec: Path
    files: tuple[Path, ...]
    notes: tuple[str, ...]
    findings: tuple[Any, ...] = ()  # lint findings of the written spec
    problems: tuple[str, ...] = field(default=())  # why the written spec does not validate yet


def run(request: Request, env: Mapping[str, str]) -> Result:
    """Read, check, describe, write; then validate and lint what was written."""
    _check_request(request)
    with _cloud(request, env) as (cloud, lb):
        inventory = read(cloud, lb, request.listeners)
    refused = list(refusals(inventory, request.stack))
    if refused:
        (problem, fix), more = refused[0], len(refused) - 1
        also = f" (and {more} more problem(s))" if more else ""
        raise ImportRefused(
            f"cannot import: {problem}{also}; nothing was written, nothing was changed",
            hint=fix,
        )
    described = describe(inventory, request.stack, _target(request))
    for file in described.files:
        if (request.out.parent / file.path).exists():
            raise ImportRefused(
                f"{request.out.parent / file.path} already exists",
                hint="import into an empty directory, or move the old files away",
            )
    written = [_write(request.out.parent, file) for file in described.files]
    request.out.write_text(described.text, encoding="utf-8")
    findings, not_valid = _validate(request.out, env)
    return Result(request.out, tuple(written), described.notes, tuple(findings), tuple(not_valid))


def _check_request(request: Request) -> None:
    """Refuse before any API call: options of the other target, a bad stack name, an
    existing `--out`."""
    embedded = request.region is None
    if (embedded and request.project_id) or (not embedded and request.state_dir):
        raise ImportRefused(
            "--state-dir goes with --embedded, --project-id with --region",
            hint="see `deploy import --help`",
        )
    if not _STACK_RE.match(request.stack):
        raise ImportRefused(
            f"--stack {request.stack!r} is not a stack name",
            hint="use lower case letters, digits and '-', 2-32 characters",
        )
    if request.out.exists():
        raise ImportRefused(
            f"{request.out} already exists; deploy import never overwrites a spec",
            hint="choose another --out, or move the file away",
        )
    if not request.out.parent.is_dir():
        raise ImportRefused(
            f"the directory of --out ({request.out.parent}) does not exist",
            hint="create it first",
        )


def _target(request: Request) -> dict[str, Any]:
    if request.region is not None:
        target: dict[str, Any] = {"kind": "huaweicloud", "region": request.region}
        if request.project_id:
            target["project_id"] = request.project_id
    else:
        target = {"kind": "embedded"}
        if request.state_dir is not None:
            target["state_dir"] = os.path.relpath(
                request.state_dir.resolve(), request.out.parent.resolve()
            )
    if request.api:
        target["api"] = request.api
    return target


def state_dir(request: Request) -> Path:
    """The emulator's state: `--state-dir`, else the spec's default next to `--out`."""
    return request.state_dir or request.out.parent / ".elb-emulator"


@contextmanager
def _cloud(request: Request, env: Mapping[str, str]) -> Iterator[tuple[SdkCloud, LoadBalancerInfo]]:
    from elb_mtls_deploy.cloud import sdk

    with _endpoint(request, env) as (endpoint, credentials):
        probe = sdk.connect("v2" if request.api == "v2" else "v3", credentials, endpoint)
        try:
            lb = _find_loadbalancer(probe, request.loadbalancer)
        finally:
            probe.close()
        # `auto`: dedicated load balancers speak v3, shared ones v2 (as `session._flavour`).
        auto: Flavour = "v3" if lb.guaranteed else "v2"
        flavour: Flavour = "v3" if request.api == "v3" else "v2" if request.api == "v2" else auto
        cloud = sdk.connect(flavour, credentials, endpoint)
        try:
            yield cloud, lb
        finally:
            cloud.close()


@contextmanager
def _endpoint(request: Request, env: Mapping[str, str]) -> Iterator[tuple[str, Credentials]]:
    """The cloud to read: the region's, or the emulator over existing state (import never
    starts from an empty emulator: there would be nothing to adopt)."""
    from elb_mtls_deploy.workflow.session import open_endpoint

    directory = state_dir(request) if request.region is None else None
    if directory is not None and not directory.is_dir():
        raise ImportRefused(
            f"no emulator state in {directory}",
            hint="pass --state-dir (the emulator's state directory), or import from a region",
        )
    with open_endpoint(
        env, region=request.region, project_id=request.project_id, state_dir=directory
    ) as where:
        yield where.url, where.credentials


def _find_loadbalancer(cloud: SdkCloud, wanted: str) -> LoadBalancerInfo:
    found = cloud.find_loadbalancers([wanted], [wanted])
    by_id = [lb for lb in found if lb.id == wanted]
    matches = by_id or [lb for lb in found if lb.name == wanted]
    if not matches:
        raise ImportRefused(
            f"load balancer {wanted!r} was not found (by id or name)",
            hint="check the id or name in the console (or `deploy emulator state`)",
        )
    if len(matches) > 1:
        raise ImportRefused(
            f"{len(matches)} load balancers are named {wanted!r}",
            hint="pass its id to --loadbalancer instead",
        )
    return matches[0]


def read(cloud: SdkCloud, lb: LoadBalancerInfo, wanted: Sequence[str]) -> Inventory:
    """Everything the chosen listeners use: read calls only."""
    listeners = choose_listeners(cloud.read(Query("listener", within=[lb.id])), wanted, lb)
    refs = ("default_tls_container_ref", "client_ca_tls_container_ref")
    cert_ids = sorted({str(x.fields[r]) for x in listeners for r in refs if x.fields.get(r)})
    pool_ids = sorted({str(x.fields.get("default_pool_id")) for x in listeners} - {"None"})
    certificates = {c.id: c for c in cloud.read(Query("certificate", ids=cert_ids))}
    missing = sorted(set(cert_ids) - set(certificates))
    if missing:
        raise ImportRefused(
            f"certificate(s) {', '.join(missing)} used by the listeners were not found",
            hint="check the listeners in the console",
        )
    pools = {p.id: p for p in cloud.read(Query("pool", ids=pool_ids))}
    hm_ids = sorted({str(p.fields.get("healthmonitor_id")) for p in pools.values()} - {"None"})
    monitors = {m.id: m for m in cloud.read(Query("healthmonitor", ids=hm_ids))}
    members: dict[str, list[Any]] = {}
    for member in cloud.read(Query("member", within=list(pools))) if pools else []:
        members.setdefault(str(member.fields.get("pool")), []).append(member)
    servers = {str(x.fields["default_tls_container_ref"]) for x in listeners}
    keys = {cid: k for cid in sorted(servers) if (k := cloud.private_key(cid)) is not None}
    return Inventory(
        loadbalancer=lb,
        flavour=cloud.flavour,
        listeners=tuple(listeners),
        all_listeners=tuple(cloud.read(Query("listener"))),
        certificates=certificates,
        pools=pools,
        healthmonitors=monitors,
        members={k: tuple(v) for k, v in members.items()},
        private_keys=keys,
    )


def _write(base: Path, file: CertFile) -> Path:
    path = base / file.path
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o600 if file.secret else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(file.text)
    return path


def _validate(spec: Path, env: Mapping[str, str]) -> tuple[list[Any], list[str]]:
    """What `deploy validate` says of the written spec: its findings, or why it cannot be
    validated yet (a key the API did not return)."""
    from elb_mtls_deploy.errors import DeployError
    from elb_mtls_deploy.workflow import lint_existing, load

    try:
        findings, _ = lint_existing(load(spec, env))
    except DeployError as exc:
        return [], [str(exc)]
    return findings, []
