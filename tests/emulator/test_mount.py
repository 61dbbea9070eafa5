"""In-process runs: the SDK talks to the emulator through `responses`, no sockets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from cp_helpers import DEDICATED, https_listener, sdk_client, server_cert
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ConnectionException
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import Emulator, FaultConfig
from elb_mtls_deploy.emulator.testing import DEFAULT_ENDPOINT, mount


@pytest.fixture
def emulator(state_dir: Path) -> Iterator[Emulator]:
    emulator = Emulator(state_dir, dataplane=False)
    yield emulator
    emulator.close()


@pytest.fixture
def client(emulator: Emulator) -> Iterator[Any]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mount(rsps, emulator)
        yield sdk_client("v3", DEFAULT_ENDPOINT)


def test_sdk_round_trip_without_sockets(client: Any, pki: Any) -> None:
    cert = server_cert(client, pki)
    listener = https_listener(client, cert.id)
    shown = client.show_listener(sdk.ShowListenerRequest(listener_id=listener.id)).listener
    assert shown.loadbalancers[0].id == DEDICATED


def test_errors_and_signatures_still_apply(client: Any, emulator: Emulator) -> None:
    with pytest.raises(ClientRequestException) as info:
        client.show_pool(sdk.ShowPoolRequest(pool_id="missing"))
    assert info.value.status_code == 404 and info.value.request_id
    bad = sdk_client("v3", DEFAULT_ENDPOINT, sk="wrong")
    with pytest.raises(ClientRequestException) as info:
        bad.list_pools(sdk.ListPoolsRequest())
    assert info.value.status_code == 401


def test_lost_response_is_a_connection_error(client: Any, emulator: Emulator) -> None:
    emulator.faults.configure(FaultConfig(lost_response_rate=1.0, only_methods=("POST",)))
    option = sdk.CreatePoolOption(
        lb_algorithm="ROUND_ROBIN", protocol="TCP", loadbalancer_id=DEDICATED
    )
    with pytest.raises(ConnectionException):
        client.create_pool(sdk.CreatePoolRequest(body=sdk.CreatePoolRequestBody(pool=option)))
    assert len(client.list_pools(sdk.ListPoolsRequest()).pools) == 1


def test_private_endpoints_through_mount(emulator: Emulator) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mount(rsps, emulator)
        assert requests.get(f"{DEFAULT_ENDPOINT}/_emulator/health").json() == {"ok": True}
