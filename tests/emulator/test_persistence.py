"""State lives in SQLite: it survives restarts and concurrent writers cannot corrupt it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from cp_helpers import DEDICATED, https_listener, member, pool, sdk_client, server_cert
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import Emulator, start_server


def test_restart_keeps_everything(state_dir: Path, pki: Any) -> None:
    with start_server(state_dir, dataplane=False) as first:
        client = sdk_client("v3", first.endpoint)
        cert = server_cert(client, pki)
        listener = https_listener(client, cert.id)
        p = pool(client, listener_id=listener.id)
        member(client, p.id)
    with start_server(state_dir, dataplane=False) as second:
        client = sdk_client("v3", second.endpoint)
        shown = client.show_listener(sdk.ShowListenerRequest(listener_id=listener.id)).listener
        assert shown.default_tls_container_ref == cert.id and shown.default_pool_id == p.id
        assert len(client.list_members(sdk.ListMembersRequest(pool_id=p.id)).members) == 1
        lbs = client.list_load_balancers(sdk.ListLoadBalancersRequest()).loadbalancers
        assert len(lbs) == 3  # seeding is idempotent


def test_concurrent_creates_do_not_double_book_a_port(state_dir: Path) -> None:
    # Two servers (as two processes would) over one state dir, many threads each.
    with (
        start_server(state_dir, dataplane=False) as a,
        start_server(state_dir, dataplane=False) as b,
    ):
        outcomes: list[str] = []
        lock = threading.Lock()

        def create(endpoint: str, port: int) -> None:
            client = sdk_client("v3", endpoint)
            option = sdk.CreateListenerOption(
                loadbalancer_id=DEDICATED, protocol="TCP", protocol_port=port
            )
            try:
                client.create_listener(
                    sdk.CreateListenerRequest(body=sdk.CreateListenerRequestBody(listener=option))
                )
                result = "created"
            except ClientRequestException as exc:
                result = str(exc.status_code)
            with lock:
                outcomes.append(result)

        threads = [
            threading.Thread(target=create, args=(server.endpoint, 1000 + i % 4))
            for i in range(16)
            for server in (a, b)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes.count("created") == 4
        assert outcomes.count("409") == 28
        listed = sdk_client("v3", a.endpoint).list_listeners(sdk.ListListenersRequest())
        assert sorted(x.protocol_port for x in listed.listeners) == [1000, 1001, 1002, 1003]


def test_state_file_location(state_dir: Path) -> None:
    emulator = Emulator(state_dir, dataplane=False)
    emulator.close()
    assert (state_dir / "emulator.db").is_file()
