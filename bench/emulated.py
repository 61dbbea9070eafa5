"""An in-process emulator announced over a spec's state dir, so every in-process `deploy`
command uses it, and the raw-SDK baselines that talk to the same server.

The baselines use the official SDK directly (`huaweicloudsdkelb.v3` models, one call per
resource), the way a hand-written script or Terraform's provider would; they never touch
`elb_mtls_deploy.cloud`. Request counts are read from the emulator's own statistics.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from specs import SpecFile

TERRAFORM_PARALLELISM = 10  # `terraform plan -parallelism` default


@contextlib.contextmanager
def fresh_emulator(state_dir: Path, latency_ms: int = 0, seed: int = 0) -> Iterator[Any]:
    """An empty cloud (only the seeded load balancers), announced for `deploy` to find."""
    from elb_mtls_deploy.emulator import FaultConfig, start_server

    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    faults = FaultConfig(latency_ms=latency_ms, seed=seed)
    server = start_server(
        state_dir, announce=True, faults=faults, dataplane=False, demo_backends=False
    )
    with server:
        yield server


def set_latency(server: Any, latency_ms: int, seed: int) -> None:
    from elb_mtls_deploy.emulator import FaultConfig

    server.emulator.faults.configure(FaultConfig(latency_ms=latency_ms, seed=seed))


def requests(server: Any) -> int:
    return int(server.emulator.stats.snapshot()["total"])


def client(endpoint: str) -> Any:
    """A v3 `ElbClient` built the documented way (docs/api-notes.md §5.1), demo credentials."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkelb import v3

    from elb_mtls_deploy.emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK

    config = HttpConfig.get_default_config()
    config.timeout = (10, 60)
    return (
        v3.ElbClient.new_builder()
        .with_credentials(BasicCredentials(DEMO_AK, DEMO_SK, DEMO_PROJECT_ID))
        .with_endpoint(endpoint)
        .with_http_config(config)
        .build()
    )


# --- baseline: refresh = one GET per resource ------------------------------------------


def owned_ids(server: Any, stack: str) -> dict[str, list[Any]]:
    """What a Terraform state file would hold for the stack: the id of every resource.
    Read from the emulator's storage directly, so it costs no API request."""
    from elb_mtls_deploy.emulator.control.admin import state

    dump = state(server.emulator)
    mine = lambda r: str(r.get("name") or "").startswith(f"{stack}-")  # noqa: E731
    pools = [r for r in dump["pools"] if mine(r)]
    pool_ids = {p["id"] for p in pools}
    return {
        "certificates": [r["id"] for r in dump["certificates"] if mine(r)],
        "listeners": [r["id"] for r in dump["listeners"] if mine(r)],
        "pools": sorted(pool_ids),
        "healthmonitors": [r["id"] for r in dump["healthmonitors"] if r["pool_id"] in pool_ids],
        "members": [(r["pool_id"], r["id"]) for r in dump["members"] if r["pool_id"] in pool_ids],
    }


def refresh_one_by_one(endpoint: str, lb_id: str, ids: dict[str, list[Any]]) -> int:
    """Terraform's refresh: the load balancer data source, then one show call per resource,
    `TERRAFORM_PARALLELISM` at a time (one client per worker). Returns the calls made."""
    from huaweicloudsdkelb import v3

    local = threading.local()

    def elb() -> Any:
        if not hasattr(local, "client"):
            local.client = client(endpoint)
        return local.client

    calls = [lambda: elb().show_load_balancer(v3.ShowLoadBalancerRequest(loadbalancer_id=lb_id))]
    calls += [
        lambda i=i: elb().show_certificate(v3.ShowCertificateRequest(certificate_id=i))
        for i in ids["certificates"]
    ]
    calls += [
        lambda i=i: elb().show_listener(v3.ShowListenerRequest(listener_id=i))
        for i in ids["listeners"]
    ]
    calls += [lambda i=i: elb().show_pool(v3.ShowPoolRequest(pool_id=i)) for i in ids["pools"]]
    calls += [
        lambda i=i: elb().show_health_monitor(v3.ShowHealthMonitorRequest(healthmonitor_id=i))
        for i in ids["healthmonitors"]
    ]
    calls += [
        lambda p=p, i=i: elb().show_member(v3.ShowMemberRequest(pool_id=p, member_id=i))
        for p, i in ids["members"]
    ]
    with ThreadPoolExecutor(TERRAFORM_PARALLELISM) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()
    return len(calls)


# --- baseline: apply = one create per resource, sequentially ---------------------------


def create_one_by_one(elb: Any, spec: SpecFile, lb_id: str) -> int:
    """A hand-written script for the large spec: certificates, then per listener the
    listener, its pool, its health monitor and its members, one call each, in order.
    Returns the number of calls made."""
    import yaml
    from huaweicloudsdkelb import v3

    from elb_mtls_deploy.pki import load_bundles
    from elb_mtls_deploy.spec.load import load_spec

    document = yaml.safe_load(spec.path.read_text())
    bundles = load_bundles(load_spec(spec.path, {}), spec.path.parent, {})  # pki/<stack>/...
    stack = document["stack"]
    calls = 0
    cert_ids: dict[str, str] = {}
    for listener in document["listeners"]:
        for name, kind in (
            (listener["server_certificate"], "server"),
            (listener["client_ca"], "client"),
        ):
            option = v3.CreateCertificateOption(
                name=f"{stack}-raw-{name}",
                type=kind,
                certificate=bundles[name].certificate_pem,
                private_key=bundles[name].key_pem if kind == "server" else None,
            )
            body = v3.CreateCertificateRequestBody(certificate=option)
            reply = elb.create_certificate(v3.CreateCertificateRequest(body=body))
            cert_ids[name] = reply.certificate.id
            calls += 1
    for listener in document["listeners"]:
        calls += _create_listener_tree(elb, v3, stack, listener, lb_id, cert_ids)
    return calls


def _create_listener_tree(
    elb: Any, v3: Any, stack: str, listener: dict[str, Any], lb_id: str, cert_ids: dict[str, str]
) -> int:
    name = f"{stack}-raw-{listener['name']}"
    headers = v3.ListenerInsertHeaders(
        x_forwarded_clientcert_subjectdn_enable=True,
        x_forwarded_clientcert_clientverify_enable=True,
    )
    option = v3.CreateListenerOption(
        name=name,
        loadbalancer_id=lb_id,
        protocol="HTTPS",
        protocol_port=listener["port"],
        default_tls_container_ref=cert_ids[listener["server_certificate"]],
        client_ca_tls_container_ref=cert_ids[listener["client_ca"]],
        tls_ciphers_policy="tls-1-2",
        insert_headers=headers,
    )
    body = v3.CreateListenerRequestBody(listener=option)
    listener_id = elb.create_listener(v3.CreateListenerRequest(body=body)).listener.id
    pool = v3.CreatePoolOption(
        name=name, lb_algorithm="ROUND_ROBIN", protocol="HTTP", listener_id=listener_id
    )
    body = v3.CreatePoolRequestBody(pool=pool)
    pool_id = elb.create_pool(v3.CreatePoolRequest(body=body)).pool.id
    monitor = listener["pool"]["health_monitor"]
    hm = v3.CreateHealthMonitorOption(
        pool_id=pool_id,
        type=monitor["type"],
        url_path=monitor["url_path"],
        delay=5,
        timeout=3,
        max_retries=3,
    )
    elb.create_health_monitor(
        v3.CreateHealthMonitorRequest(body=v3.CreateHealthMonitorRequestBody(healthmonitor=hm))
    )
    members = listener["pool"]["members"]
    for member in members:
        option = v3.CreateMemberOption(
            name=f"{name}-{member['address']}",
            address=member["address"],
            protocol_port=member["port"],
            weight=member["weight"],
        )
        body = v3.CreateMemberRequestBody(member=option)
        elb.create_member(v3.CreateMemberRequest(pool_id=pool_id, body=body))
    return 3 + len(members)


# --- the emulator's TCP_NODELAY (see docs/performance.md) ------------------------------


def nodelay() -> bool:
    """Whether the emulator's HTTP handler disables Nagle's algorithm (TCP_NODELAY)."""
    from elb_mtls_deploy.emulator import server

    return bool(getattr(server._Handler, "disable_nagle_algorithm", False))


def force_nodelay() -> None:
    """Experiment only (`--emulator-nodelay`): the one-line emulator change proposed in
    docs/performance.md, applied in this process, to show the figures it would give."""
    from elb_mtls_deploy.emulator import server

    server._Handler.disable_nagle_algorithm = True
