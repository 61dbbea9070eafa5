"""Where the cloud is, and the spec a command works on: load it, open the cloud it targets.

The cloud is the real Huawei Cloud, a `deploy emulator serve` already running over the
spec's state directory, or an emulator started in-process for the duration of the
command. `open_endpoint` is the one place that decides which (`deploy import` uses it too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from elb_mtls_deploy.cloud.base import CloudApi, Credentials, LoadBalancerInfo
from elb_mtls_deploy.errors import SpecError
from elb_mtls_deploy.resilient import ResilientCloud
from elb_mtls_deploy.retry import RetryPolicy
from elb_mtls_deploy.spec.load import load_spec
from elb_mtls_deploy.spec.model import EmbeddedTarget, LoadBalancerRef, Spec
from elb_mtls_deploy.state import Flavour, marker


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


@dataclass
class Connection:
    cloud: ResilientCloud
    flavour: Flavour
    loadbalancers: dict[LoadBalancerRef, LoadBalancerInfo]
    endpoint: str
    embedded_state_dir: Path | None = None


@dataclass(frozen=True)
class Endpoint:
    url: str
    credentials: Credentials
    state_dir: Path | None = None  # the emulator's kept state (None: the real cloud, a scratch)


@contextmanager
def connect(
    loaded: Loaded,
    policy: RetryPolicy | None = None,
    *,
    read_only: bool = False,
    serve_traffic: bool = False,
) -> Iterator[Connection]:
    """Open the cloud the spec targets; an embedded emulator lives as long as the block.

    The SDK client is wrapped in `ResilientCloud`: retries with backoff, adoption of what
    a lost create made. `policy` bounds the retries (attempts and total time). With
    `read_only` (plan), an embedded target without state yet gets a throw-away emulator.
    An in-process emulator starts its data plane (TLS listeners, demo backends) only with
    `serve_traffic` (`verify`): plan, apply and destroy serve no traffic.
    """
    from elb_mtls_deploy.cloud import sdk

    target = loaded.spec.target
    policy = policy or RetryPolicy()
    owner = marker(loaded.spec.stack)
    if isinstance(target, EmbeddedTarget):
        opened = open_endpoint(
            loaded.env,
            region=None,
            state_dir=state_dir(loaded),
            scratch_if_new=read_only,
            serve_traffic=serve_traffic,
        )
    else:
        opened = open_endpoint(
            loaded.env, region=target.region, project_id=target.project_id, url=target.endpoint
        )
    with opened as where:
        project = getattr(target, "enterprise_project_id", None)

        def client(flavour: Flavour) -> ResilientCloud:
            adapter = sdk.connect(
                flavour, where.credentials, where.url, enterprise_project_id=project
            )
            return ResilientCloud(adapter, owner, policy)

        probe = client("v2" if target.api == "v2" else "v3")
        try:
            lbs = _resolve_loadbalancers(loaded.spec, probe)
            flavour = _flavour(target.api, lbs)
        finally:
            probe.close()
        cloud = client(flavour)
        try:
            yield Connection(cloud, flavour, lbs, where.url, where.state_dir)
        finally:
            cloud.close()


def state_dir(loaded: Loaded) -> Path | None:
    """The embedded emulator's state directory, relative to the spec file like `pki_dir`."""
    target = loaded.spec.target
    if not isinstance(target, EmbeddedTarget):
        return None
    return (
        target.state_dir if target.state_dir.is_absolute() else loaded.base_dir / target.state_dir
    )


@contextmanager
def open_endpoint(
    env: Mapping[str, str],
    *,
    region: str | None,
    project_id: str | None = None,
    url: str | None = None,
    state_dir: Path | None = None,
    scratch_if_new: bool = False,
    serve_traffic: bool = False,
) -> Iterator[Endpoint]:
    """The region's endpoint with the environment's credentials or, without a region, the
    emulator over `state_dir`: the one already serving it, else one started for the block
    (`state_dir` is created; with `scratch_if_new` a missing one is not, and a throw-away
    emulator answers instead: plan writes nothing)."""
    from elb_mtls_deploy.cloud import sdk

    if region is not None:
        credentials = sdk.credentials_from_env(env, project_id)
        yield Endpoint(url or sdk.endpoint_for_region(region), credentials)
        return
    from elb_mtls_deploy import emulator

    assert state_dir is not None
    credentials = Credentials(emulator.DEMO_AK, emulator.DEMO_SK, emulator.DEMO_PROJECT_ID)
    running = emulator.discover_server(state_dir)
    if running is not None:
        yield Endpoint(running, credentials, state_dir)
        return
    if scratch_if_new and not state_dir.exists():
        # Nothing deployed yet and plan writes nothing: a fresh emulator in a temp dir that
        # is removed afterwards answers "everything to add" (docs/pki.md).
        import tempfile

        with (
            tempfile.TemporaryDirectory(prefix="elb-plan-") as scratch,
            emulator.start_server(Path(scratch), dataplane=serve_traffic) as server,
        ):
            yield Endpoint(server.endpoint, credentials)
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    with emulator.start_server(state_dir, dataplane=serve_traffic) as server:
        yield Endpoint(server.endpoint, credentials, state_dir)


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
