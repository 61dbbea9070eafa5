"""Data plane start/stop cost: demo backends and the embedded emulator as users start it.

    .venv/bin/python bench/bench_dataplane.py            # N = 200 and 1000
    .venv/bin/python bench/bench_dataplane.py --quick    # N = 100

Baseline in the same run: N stdlib ``ThreadingHTTPServer`` echo servers started and shut
down the way the demo backends were before (``server_bind`` resolves the FQDN, and
``shutdown`` waits for ``serve_forever``'s next 0.1 s poll), against N of today's
``DemoBackend`` (no lookup, wake-up pipe). Then the embedded emulator over a state with one
HTTPS listener and N loopback members, started and closed with the data plane on (what
``deploy apply``/``emulator serve`` pay) and off (``plan``, ``validate``, ``destroy``).
Only 127.0.0.1 is touched.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from common import Table, make_hermetic, ratio, seconds, temp_dir, timed


class _Echo(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _stdlib_backends(n: int) -> tuple[float, float]:
    """Start and stop N servers the old way; (start seconds, stop seconds)."""

    def start() -> list[tuple[ThreadingHTTPServer, threading.Thread]]:
        started = []
        for _ in range(n):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)  # getfqdn in server_bind
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            )
            thread.start()
            started.append((server, thread))
        return started

    up = timed(start)

    def stop() -> None:
        for server, thread in up.value:
            server.shutdown()  # waits for the next poll
            server.server_close()
            thread.join()

    return up.seconds, timed(stop).seconds


def _demo_backends(n: int) -> tuple[float, float]:
    from elb_mtls_deploy.emulator.data.demo_backend import DemoBackend
    from elb_mtls_deploy.emulator.data.listeners import _close_all

    up = timed(lambda: [DemoBackend("127.0.0.1", 0) for _ in range(n)])
    return up.seconds, timed(lambda: _close_all(up.value)).seconds


def _state_with_members(root: Path, n: int) -> Path:
    """A state dir with one mutual-TLS-less HTTPS listener and N loopback members."""
    import trustme

    from elb_mtls_deploy.emulator import start_server

    state = root / "state"
    leaf = trustme.CA().issue_cert("127.0.0.1")
    with start_server(state, dataplane=False) as server:
        handle = _sdk_caller(server.endpoint)
        cert = handle(
            "POST",
            "certificates",
            {
                "certificate": {
                    "certificate": leaf.cert_chain_pems[0].bytes().decode(),
                    "private_key": leaf.private_key_pem.bytes().decode(),
                }
            },
        )["certificate"]["id"]
        from elb_mtls_deploy.emulator import SEEDED_DEDICATED_LB_ID

        listener = handle(
            "POST",
            "listeners",
            {
                "listener": {
                    "loadbalancer_id": SEEDED_DEDICATED_LB_ID,
                    "protocol": "HTTPS",
                    "protocol_port": 443,
                    "default_tls_container_ref": cert,
                }
            },
        )["listener"]["id"]
        pool = handle(
            "POST",
            "pools",
            {"pool": {"lb_algorithm": "ROUND_ROBIN", "protocol": "HTTP", "listener_id": listener}},
        )["pool"]["id"]
        base = 20000
        for start in range(0, n, 200):
            members = [
                {"address": "127.0.0.1", "protocol_port": base + i}
                for i in range(start, min(n, start + 200))
            ]
            handle("POST", f"pools/{pool}/members/batch-add", {"members": members})
    return state


def _sdk_caller(endpoint: str) -> Any:
    """The four set-up calls through the official SDK (set-up only, not timed)."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkelb.v3 import ElbClient

    from elb_mtls_deploy.emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK

    client = (
        ElbClient.new_builder()
        .with_credentials(BasicCredentials(DEMO_AK, DEMO_SK, DEMO_PROJECT_ID))
        .with_endpoint(endpoint)
        .build()
    )

    def call(method: str, path: str, body: dict[str, Any]) -> Any:
        from huaweicloudsdkelb import v3 as sdk

        if path == "certificates":
            option = sdk.CreateCertificateOption(**body["certificate"])
            reply = client.create_certificate(
                sdk.CreateCertificateRequest(
                    body=sdk.CreateCertificateRequestBody(certificate=option)
                )
            )
            return {"certificate": {"id": reply.certificate.id}}
        if path == "listeners":
            option = sdk.CreateListenerOption(**body["listener"])
            reply = client.create_listener(
                sdk.CreateListenerRequest(body=sdk.CreateListenerRequestBody(listener=option))
            )
            return {"listener": {"id": reply.listener.id}}
        if path == "pools":
            option = sdk.CreatePoolOption(**body["pool"])
            reply = client.create_pool(
                sdk.CreatePoolRequest(body=sdk.CreatePoolRequestBody(pool=option))
            )
            return {"pool": {"id": reply.pool.id}}
        pool_id = path.split("/")[1]
        items = [sdk.BatchCreateMembersOption(**m) for m in body["members"]]
        client.batch_create_members(
            sdk.BatchCreateMembersRequest(
                pool_id=pool_id, body=sdk.BatchCreateMembersRequestBody(members=items)
            )
        )
        return {}

    return call


def _embedded(state: Path, dataplane: bool) -> tuple[float, float]:
    from elb_mtls_deploy.emulator import start_server

    up = timed(lambda: start_server(state, dataplane=dataplane))
    return up.seconds, timed(up.value.close).seconds


def run(sizes: list[int]) -> Table:
    table = Table(
        "Data plane start + stop (same run; 'vs before' = against the stdlib servers)",
        ["what", "N", "start", "stop", "per item", "vs before"],
    )
    for n in sizes:
        lookups = timed(lambda n=n: [socket.getfqdn("127.0.0.1") for _ in range(n)]).seconds
        table.add("  socket.getfqdn x N (diagnostic)", n, seconds(lookups), "-",
                  seconds(lookups / n), "-")  # fmt: skip
        before_up, before_down = _stdlib_backends(n)
        now_up, now_down = _demo_backends(n)
        before, now = before_up + before_down, now_up + now_down
        table.add("stdlib HTTPServer (before, baseline)", n, seconds(before_up),
                  seconds(before_down), seconds(before / n), "1.00x")  # fmt: skip
        table.add("DemoBackend (now)", n, seconds(now_up), seconds(now_down),
                  seconds(now / n), ratio(now, before))  # fmt: skip
        with temp_dir("dataplane") as root:
            state = _state_with_members(root, n)
            on_up, on_down = _embedded(state, dataplane=True)
            off_up, off_down = _embedded(state, dataplane=False)
        table.add("embedded emulator, data plane on", n, seconds(on_up), seconds(on_down),
                  seconds((on_up + on_down) / n), ratio(on_up + on_down, before))  # fmt: skip
        table.add("embedded emulator, dataplane=False", n, seconds(off_up), seconds(off_down),
                  "-", ratio(off_up + off_down, before))  # fmt: skip
    table.notes += [
        "the embedded rows serve 1 HTTPS listener whose pool has N loopback members, each "
        "answered by a demo backend; dataplane=False starts neither",
        "'per item' = (start + stop) / N",
        "getfqdn is what server_bind pays per server; its cost depends on the resolver "
        "(issue 11 measured ~95 ms per lookup; the diagnostic row shows this machine's)",
    ]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 100 only")
    args = parser.parse_args()
    with temp_dir("dataplane-home") as home:
        make_hermetic(home)
        print(run([100] if args.quick else [200, 1000]).render())


if __name__ == "__main__":
    main()
