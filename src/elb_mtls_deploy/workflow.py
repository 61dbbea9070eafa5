"""The stages wired together: load -> certs -> connect -> observe -> diff -> apply.

Owns the impure sequencing the CLI calls (it never prints: progress goes through
callbacks) and the choice of where the cloud is: the real Huawei Cloud, a `deploy
emulator serve` already running over the spec's state directory, or an emulator started
in-process for the duration of the command.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elb_mtls_deploy.cloud.base import CloudApi, Credentials, LoadBalancerInfo
from elb_mtls_deploy.desired import UploadCert, build_desired
from elb_mtls_deploy.diff import diff
from elb_mtls_deploy.errors import DeployError, SpecError
from elb_mtls_deploy.observe import digest_source, observe, to_state
from elb_mtls_deploy.plan import Plan, digest
from elb_mtls_deploy.resilient import ResilientCloud
from elb_mtls_deploy.retry import RetryPolicy
from elb_mtls_deploy.spec.load import load_spec
from elb_mtls_deploy.spec.model import EmbeddedTarget, LoadBalancerRef, Spec
from elb_mtls_deploy.state import Flavour, State, marker


@dataclass(frozen=True)
class Loaded:
    spec: Spec
    path: Path
    env: Mapping[str, str]
    digest: str

    @property
    def base_dir(self) -> Path:
        return self.path.resolve().parent


def load(path: Path, env: Mapping[str, str]) -> Loaded:
    spec = load_spec(path, env)
    return Loaded(spec, path, env, hashlib.sha256(path.read_bytes()).hexdigest())


def now() -> datetime:
    return datetime.now(UTC)


def uploads(loaded: Loaded) -> dict[str, UploadCert]:
    """What each referenced certificate uploads; bundles are read-only here (certs ran first)."""
    from elb_mtls_deploy.pki import load_bundles

    with pki_lock(loaded, exclusive=False):
        bundles = load_bundles(loaded.spec, loaded.base_dir, loaded.env)
    result: dict[str, UploadCert] = {}
    for name, bundle in bundles.items():
        if bundle.role == "server":
            result[name] = UploadCert("server", bundle.upload_pem, bundle.key_pem)
        elif bundle.role == "ca":
            # A CA bound for mutual TLS is the API's type "client" (docs/api-notes.md §2.3).
            result[name] = UploadCert("client", bundle.certificate_pem)
    return result


@dataclass
class Connection:
    cloud: ResilientCloud
    flavour: Flavour
    loadbalancers: dict[LoadBalancerRef, LoadBalancerInfo]
    endpoint: str
    embedded_state_dir: Path | None = None


@contextmanager
def connect(
    loaded: Loaded, policy: RetryPolicy | None = None, *, serve_traffic: bool = False
) -> Iterator[Connection]:
    """Open the cloud the spec targets; an embedded emulator lives as long as the block.

    The SDK client is wrapped in `ResilientCloud`: retries with backoff, adoption of what
    a lost create made. `policy` bounds the retries (attempts and total time). An
    in-process emulator starts its data plane (TLS listeners, demo backends) only with
    `serve_traffic` (`verify`): plan, apply and destroy serve no traffic.
    """
    from elb_mtls_deploy.cloud import sdk

    target = loaded.spec.target
    policy = policy or RetryPolicy()
    owner = marker(loaded.spec.stack)
    with _endpoint(loaded, serve_traffic) as (endpoint, credentials):
        project = getattr(target, "enterprise_project_id", None)
        probe = ResilientCloud(
            sdk.connect(
                "v2" if target.api == "v2" else "v3",
                credentials,
                endpoint,
                enterprise_project_id=project,
            ),
            owner,
            policy,
        )
        try:
            lbs = _resolve_loadbalancers(loaded.spec, probe)
            flavour = _flavour(target.api, lbs)
        finally:
            probe.close()
        cloud = ResilientCloud(
            sdk.connect(flavour, credentials, endpoint, enterprise_project_id=project),
            owner,
            policy,
        )
        state_dir = target.state_dir if isinstance(target, EmbeddedTarget) else None
        try:
            yield Connection(cloud, flavour, lbs, endpoint, state_dir)
        finally:
            cloud.close()


@contextmanager
def _endpoint(loaded: Loaded, serve_traffic: bool) -> Iterator[tuple[str, Credentials]]:
    from elb_mtls_deploy.cloud import sdk

    target = loaded.spec.target
    if not isinstance(target, EmbeddedTarget):
        credentials = sdk.credentials_from_env(loaded.env, target.project_id)
        yield (target.endpoint or sdk.endpoint_for_region(target.region)), credentials
        return
    from elb_mtls_deploy import emulator

    credentials = Credentials(emulator.DEMO_AK, emulator.DEMO_SK, emulator.DEMO_PROJECT_ID)
    running = emulator.discover_server(target.state_dir)
    if running is not None:
        yield running, credentials
        return
    target.state_dir.mkdir(parents=True, exist_ok=True)
    with emulator.start_server(target.state_dir, dataplane=serve_traffic) as server:
        yield server.endpoint, credentials


def _resolve_loadbalancers(spec: Spec, cloud: CloudApi) -> dict[LoadBalancerRef, LoadBalancerInfo]:
    refs = {listener.loadbalancer for listener in spec.listeners}
    found = cloud.find_loadbalancers(
        sorted(r.id for r in refs if r.id), sorted(r.name for r in refs if r.name)
    )
    result: dict[LoadBalancerRef, LoadBalancerInfo] = {}
    for ref in refs:
        matches = [lb for lb in found if lb.id == ref.id or (ref.name and lb.name == ref.name)]
        if not matches:
            raise SpecError(
                f"load balancer with {ref.label} was not found in the target",
                hint="check the id or name in the console (or `deploy emulator state`)",
            )
        if len(matches) > 1:
            raise SpecError(
                f"{len(matches)} load balancers are named {ref.name!r}",
                hint="refer to it by 'id' instead of 'name'",
            )
        result[ref] = matches[0]
    return result


def _flavour(api: str, lbs: Mapping[LoadBalancerRef, LoadBalancerInfo]) -> Flavour:
    if api in ("v3", "v2"):
        return api  # type: ignore[return-value]
    kinds = {lb.guaranteed for lb in lbs.values()}
    if len(kinds) > 1:
        raise SpecError(
            "the spec mixes dedicated and shared load balancers under 'api: auto'",
            hint="split the stack, or set target.api explicitly",
        )
    return "v3" if kinds.pop() else "v2"


@dataclass(frozen=True)
class Planned:
    plan: Plan
    desired: State
    observed: State

    @property
    def placement(self) -> dict[str, str]:
        """Record key -> the load balancer whose changes it occupies (for `apply.Engine`)."""
        return placement(self.desired, self.observed)


def placement(*states: State) -> dict[str, str]:
    """Listeners and pools name their load balancer; monitors and members are on their
    pool's. Certificates belong to no load balancer."""
    where: dict[str, str] = {}
    records = [r for s in states for r in (*s.records.values(), *s.duplicates)]
    for kind in ("listener", "pool", "healthmonitor", "member"):
        for record in records:
            if record.kind != kind or record.key in where:
                continue
            lb = record.fields.get("loadbalancer_id")
            parent = record.fields.get("listener" if kind == "pool" else "pool")
            lb = lb or (where.get(parent) if isinstance(parent, str) else None)
            if isinstance(lb, str) and lb:
                where[record.key] = lb
    return where


def make_plan(loaded: Loaded, conn: Connection, *, destroy: bool = False) -> Planned:
    spec = loaded.spec
    desired = (
        State()
        if destroy
        else build_desired(spec, uploads(loaded), conn.flavour, conn.loadbalancers)
    )
    observed = observe_state(loaded, conn, desired)
    plan = diff(desired, observed, spec.stack, conn.flavour, digest(digest_source(observed)))
    if not destroy and not isinstance(spec.target, EmbeddedTarget):
        plan = replace(plan, notes=(*plan.notes, *feature_notes(spec)))
    return Planned(plan, desired, observed)


def feature_notes(spec: Spec) -> list[str]:
    """The client-certificate headers are enabled per account in some regions: say so
    before an apply stops at the listener (docs/api-notes.md §10.3)."""
    return [
        f"listener {listener.name}: the X-Forwarded-Clientcert-* headers need the feature "
        "enabled for your account in some regions (a Huawei service ticket); if the API "
        "refuses the listener, switch them off in the spec or ask Huawei to enable them"
        for listener in spec.listeners
        if any(
            on
            for name, on in listener.insert_headers.model_dump().items()
            if name.startswith("client_cert_")
        )
    ]


def observe_state(loaded: Loaded, conn: Connection, desired: State | None = None) -> State:
    lb_ids = sorted({lb.id for lb in conn.loadbalancers.values()})
    return to_state(observe(conn.cloud, loaded.spec.stack, lb_ids), loaded.spec.stack, desired)


@contextmanager
def pki_lock(loaded: Loaded, exclusive: bool) -> Iterator[None]:
    """Serialise PKI writers (two applies of one stack on one machine would otherwise each
    issue a CA and mix the files); readers share the lock."""
    import fcntl

    pki = loaded.base_dir / loaded.spec.pki_dir
    pki.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (pki / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def ensure_certs(loaded: Loaded) -> Any:
    from elb_mtls_deploy.pki import ensure_certificates

    with pki_lock(loaded, exclusive=True):
        report = ensure_certificates(loaded.spec, loaded.base_dir, loaded.env, now())
    errors = [f for f in report.findings if f.severity == "error"]
    if errors:
        raise DeployError(
            "the certificates have errors:\n" + "\n".join(f"  {f}" for f in errors),
            hint="fix the findings above; nothing was sent to the cloud",
        )
    return report


def lint_existing(loaded: Loaded) -> tuple[list[Any], list[str]]:
    """Lint what exists without writing: (findings, names of certificates not issued yet).

    When everything is issued the full linter runs over all bundles; before the first
    `deploy certs`, imported material is still read and linted so `validate` catches a
    bad PEM or key early.
    """
    from elb_mtls_deploy.pki import lint, load_bundles
    from elb_mtls_deploy.pki.importing import import_bundle
    from elb_mtls_deploy.spec.model import ImportedCA, ImportedServer

    spec = loaded.spec
    pki = loaded.base_dir / spec.pki_dir
    missing = [
        cert.name
        for _, cert in spec.all_certificates()
        if not isinstance(cert, ImportedCA | ImportedServer)
        and not (pki / f"{cert.name}.crt").exists()
    ]
    if not missing:
        bundles = load_bundles(spec, loaded.base_dir, loaded.env)
    else:
        bundles = {
            cert.name: import_bundle(
                cert.name,
                "ca" if role == "ca" else "server",
                cert.import_,
                loaded.base_dir,
                loaded.env,
            )
            for role, cert in spec.all_certificates()
            if isinstance(cert, ImportedCA | ImportedServer)
        }
    return lint(bundles, spec, now()), missing
