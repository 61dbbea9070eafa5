"""A Terraform-like apply of a spec over the raw SDK: the baseline for the provisioning bench.

What `terraform apply` with the huaweicloud provider does for the same stack: one resource
per certificate, listener, pool, health monitor and member (`huaweicloud_elb_member` is one
member per resource), created along the dependency graph with `-parallelism=10`, and every
create that the load balancer refuses as busy (409) retried with the SDK helper's backoff
(0.5 s, doubling, at most 10 s). It never touches `elb_mtls_deploy.cloud`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import yaml
from specs import SpecFile

PARALLELISM = 10
BACKOFF_FIRST, BACKOFF_CAP = 0.5, 10.0
DEADLINE = 1800.0


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.refused = 0

    def add(self, refused: bool) -> None:
        with self.lock:
            self.calls += 1
            self.refused += refused


def apply(
    client_for: Callable[[], Any], spec: SpecFile, lb_id: str, pem: Callable[[str], tuple[str, str]]
) -> Counter:
    """Create the whole stack; `pem(name)` returns (certificate, private key) PEM text."""
    from huaweicloudsdkelb import v3

    document = yaml.safe_load(spec.path.read_text())
    stack = document["stack"]
    counter = Counter()
    started = time.monotonic()

    slots = threading.BoundedSemaphore(PARALLELISM)  # a walker worker per resource

    def call(fn: Callable[[Any], Any]) -> Any:
        from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

        wait = BACKOFF_FIRST
        with slots:  # held through the retries, as Terraform holds a worker
            while True:
                try:
                    result = fn(client_for())
                    counter.add(False)
                    return result
                except ClientRequestException as exc:
                    if exc.status_code != 409 or time.monotonic() - started > DEADLINE:
                        raise
                    counter.add(True)
                    time.sleep(wait)
                    wait = min(wait * 2, BACKOFF_CAP)

    tasks = ThreadPoolExecutor(256)  # dependency waits must not occupy the 10 slots
    pending: list[Future[Any]] = []
    lock = threading.Lock()

    def submit(fn: Callable[[], None]) -> None:
        with lock:
            pending.append(tasks.submit(fn))

    certs: dict[str, str] = {}
    cert_done: dict[str, threading.Event] = {}

    def certificate(name: str, kind: str) -> None:
        text, key = pem(name)
        option = v3.CreateCertificateOption(
            name=f"{stack}-tf-{name}",
            type=kind,
            certificate=text,
            private_key=key if kind == "server" else None,
        )
        body = v3.CreateCertificateRequestBody(certificate=option)
        reply = call(lambda c: c.create_certificate(v3.CreateCertificateRequest(body=body)))
        certs[name] = reply.certificate.id
        cert_done[name].set()

    def listener_tree(listener: dict[str, Any]) -> None:
        for name in (listener["server_certificate"], listener["client_ca"]):
            cert_done[name].wait()
        name = f"{stack}-tf-{listener['name']}"
        option = v3.CreateListenerOption(
            name=name,
            loadbalancer_id=lb_id,
            protocol="HTTPS",
            protocol_port=listener["port"],
            default_tls_container_ref=certs[listener["server_certificate"]],
            client_ca_tls_container_ref=certs[listener["client_ca"]],
        )
        body = v3.CreateListenerRequestBody(listener=option)
        listener_id = call(lambda c: c.create_listener(v3.CreateListenerRequest(body=body)))
        pool_option = v3.CreatePoolOption(
            name=name,
            lb_algorithm="ROUND_ROBIN",
            protocol="HTTP",
            listener_id=listener_id.listener.id,
        )
        pool_body = v3.CreatePoolRequestBody(pool=pool_option)
        pool_id = call(lambda c: c.create_pool(v3.CreatePoolRequest(body=pool_body))).pool.id
        monitor = listener["pool"]["health_monitor"]
        hm = v3.CreateHealthMonitorOption(
            pool_id=pool_id,
            type=monitor["type"],
            url_path=monitor["url_path"],
            delay=5,
            timeout=3,
            max_retries=3,
        )
        hm_body = v3.CreateHealthMonitorRequestBody(healthmonitor=hm)
        submit(
            lambda: call(
                lambda c: c.create_health_monitor(v3.CreateHealthMonitorRequest(body=hm_body))
            )
        )
        for member in listener["pool"]["members"]:
            option = v3.CreateMemberOption(
                name=f"{name}-{member['address']}",
                address=member["address"],
                protocol_port=member["port"],
                weight=member["weight"],
            )
            m_body = v3.CreateMemberRequestBody(member=option)
            submit(
                lambda b=m_body: call(
                    lambda c: c.create_member(v3.CreateMemberRequest(pool_id=pool_id, body=b))
                )
            )

    for listener in document["listeners"]:
        for name, kind in (
            (listener["server_certificate"], "server"),
            (listener["client_ca"], "client"),
        ):
            if name not in cert_done:
                cert_done[name] = threading.Event()
                submit(lambda n=name, k=kind: certificate(n, k))
    for listener in document["listeners"]:
        submit(lambda li=listener: listener_tree(li))
    while True:
        with lock:
            todo = [f for f in pending if not f.done()]
            failed = [f for f in pending if f.done() and f.exception() is not None]
        if failed:
            tasks.shutdown(wait=False, cancel_futures=True)
            raise RuntimeError("the Terraform-like apply failed") from failed[0].exception()
        if not todo:
            break
        todo[0].result()
    tasks.shutdown()
    return counter
