"""The provisioning model: PENDING_UPDATE after each change, busy 409s, truthful GETs.

docs/api-notes.md §10.2 "Provisioning"; off by default, switched on per server or live.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cp_helpers import DEDICATED, SHARED, ca_cert, https_listener, pool, sdk_client, server_cert
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkelb import v2 as sdk2
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import start_server
from elb_mtls_deploy.emulator.control.provisioning import Provisioning
from elb_mtls_deploy.emulator.server import RunningServer

LONG_MS = 600_000  # longer than any test: the window never ends on its own here
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def busy_server(state_dir: Path) -> Iterator[RunningServer]:
    with start_server(state_dir, dataplane=False, provisioning_ms=LONG_MS) as running:
        yield running


def status(client: Any, lb_id: str = DEDICATED) -> str:
    request = sdk.ShowLoadBalancerRequest(loadbalancer_id=lb_id)
    return str(client.show_load_balancer(request).loadbalancer.provisioning_status)


def busy_error(call: Any) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as info:
        call()
    return info.value


def set_busy_ms(server: RunningServer, busy_ms: int) -> Any:
    request = urllib.request.Request(
        f"{server.endpoint}/_emulator/provisioning",
        data=json.dumps({"busy_ms": busy_ms}).encode(),
        method="PUT",
    )
    with NO_PROXY.open(request, timeout=5) as reply:
        return json.loads(reply.read())


def test_off_by_default(v3: Any, pki: Any) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    pool(v3, listener_id=listener.id)  # an immediate second change is accepted
    assert status(v3) == "ACTIVE"


def test_a_change_leaves_the_load_balancer_pending_update(busy_server: RunningServer) -> None:
    v3 = sdk_client("v3", busy_server.endpoint)
    pool(v3, lb_id=DEDICATED)
    assert status(v3) == "PENDING_UPDATE"
    assert status(v3, SHARED) == "ACTIVE"  # another load balancer is unaffected
    listed = v3.list_load_balancers(sdk.ListLoadBalancersRequest(id=[DEDICATED]))
    assert listed.loadbalancers[0].provisioning_status == "PENDING_UPDATE"
    v2 = sdk_client("v2", busy_server.endpoint)
    shown = v2.show_loadbalancer(sdk2.ShowLoadbalancerRequest(loadbalancer_id=DEDICATED))
    assert shown.loadbalancer.provisioning_status == "PENDING_UPDATE"


def test_a_change_on_a_busy_load_balancer_is_refused_with_the_busy_wording(
    busy_server: RunningServer, pki: Any
) -> None:
    v3 = sdk_client("v3", busy_server.endpoint)
    cert = server_cert(v3, pki)  # certificates belong to no load balancer: never busy
    ca_cert(v3, pki)
    listener = https_listener(v3, cert.id)
    error = busy_error(lambda: pool(v3, listener_id=listener.id))
    assert error.status_code == 409 and error.error_code != "ELB.8907"
    assert error.error_msg == (
        f"Load balancer {DEDICATED} is not ACTIVE (provisioning_status PENDING_UPDATE); "
        "try again later."
    )
    assert v3.list_pools(sdk.ListPoolsRequest()).pools == []  # nothing was written
    body = sdk.UpdateListenerRequestBody(listener=sdk.UpdateListenerOption(name="renamed"))
    update = sdk.UpdateListenerRequest(listener_id=listener.id, body=body)
    busy_error(lambda: v3.update_listener(update))  # UpdateListener needs ACTIVE
    pool(v3, lb_id=SHARED)  # the other load balancer takes changes


def test_switching_it_off_live_ends_the_window(busy_server: RunningServer) -> None:
    v3 = sdk_client("v3", busy_server.endpoint)
    pool(v3, lb_id=DEDICATED)
    assert set_busy_ms(busy_server, 0) == {"busy_ms": 0}
    assert status(v3) == "ACTIVE"
    pool(v3, lb_id=DEDICATED, name="second")


def test_switching_it_on_live(server: RunningServer) -> None:
    v3 = sdk_client("v3", server.endpoint)
    assert set_busy_ms(server, LONG_MS) == {"busy_ms": LONG_MS}
    pool(v3, lb_id=DEDICATED)
    assert status(v3) == "PENDING_UPDATE"


def test_a_client_that_waits_for_active_gets_through(state_dir: Path) -> None:
    with start_server(state_dir, dataplane=False, provisioning_ms=50) as server:
        v3 = sdk_client("v3", server.endpoint)
        first = pool(v3, lb_id=DEDICATED)
        deadline = time.monotonic() + 10
        while status(v3) != "ACTIVE":  # what a careful client does
            assert time.monotonic() < deadline
            time.sleep(0.01)
        option = sdk.UpdatePoolOption(name="renamed")
        request = sdk.UpdatePoolRequest(
            pool_id=first.id, body=sdk.UpdatePoolRequestBody(pool=option)
        )
        assert v3.update_pool(request).pool.name == "renamed"


def test_windows_end_on_the_clock() -> None:
    now = [100.0]
    model = Provisioning(busy_ms=200, clock=lambda: now[0])
    model.mark(["lb"])
    assert model.status("lb") == "PENDING_UPDATE"
    now[0] += 0.199
    assert model.status("lb") == "PENDING_UPDATE"
    now[0] += 0.002
    assert model.status("lb") == "ACTIVE"
    with pytest.raises(ValueError):
        Provisioning(busy_ms=-1)


def test_bad_settings_are_refused(server: RunningServer) -> None:
    request = urllib.request.Request(
        f"{server.endpoint}/_emulator/provisioning", data=b'{"busy_ms": "x"}', method="PUT"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        NO_PROXY.open(request, timeout=5)
    info.value.close()
    assert info.value.code == 400
