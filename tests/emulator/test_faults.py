"""Injected faults: lost responses commit the change, 429 carries Retry-After, busy is 409."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cp_helpers import DEDICATED, sdk_client
from huaweicloudsdkcore.exceptions.exceptions import (
    ClientRequestException,
    ConnectionException,
    ServerResponseException,
)
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import Emulator, FaultConfig, start_server
from elb_mtls_deploy.emulator.control.faults import FaultInjector


def _create_pool(client: Any, name: str) -> Any:
    option = sdk.CreatePoolOption(
        lb_algorithm="ROUND_ROBIN", protocol="HTTP", loadbalancer_id=DEDICATED, name=name
    )
    return client.create_pool(sdk.CreatePoolRequest(body=sdk.CreatePoolRequestBody(pool=option)))


def test_lost_response_commits_the_change(state_dir: Path) -> None:
    faults = FaultConfig(lost_response_rate=1.0, only_methods=("POST",), seed=7)
    with start_server(state_dir, dataplane=False, faults=faults) as server:
        client = sdk_client("v3", server.endpoint)
        with pytest.raises(ConnectionException):
            _create_pool(client, "ghost")
        pools = client.list_pools(sdk.ListPoolsRequest(name=["ghost"])).pools  # GET unaffected
        assert len(pools) == 1


def test_throttling_on_post_carries_retry_after(state_dir: Path) -> None:
    faults = FaultConfig(error_429_rate=1.0, retry_after_seconds=3, seed=1)
    emulator = Emulator(state_dir, dataplane=False, faults=faults)
    try:
        reply = emulator.handle("POST", "/v3/x/elb/pools", {}, b"{}")
    finally:
        emulator.close()
    assert reply.status == 429 and reply.headers["Retry-After"] == "3"
    assert b"APIGW.0308" in reply.body


def test_throttling_reaches_the_sdk_as_429(state_dir: Path) -> None:
    faults = FaultConfig(error_429_rate=1.0, retry_after_seconds=0, only_methods=("POST",))
    with (
        start_server(state_dir, dataplane=False, faults=faults) as server,
        pytest.raises(ClientRequestException) as info,
    ):
        _create_pool(sdk_client("v3", server.endpoint), "p")
    assert (info.value.status_code, info.value.error_code) == (429, "APIGW.0308")


def test_busy_load_balancer_is_409_on_writes_only(state_dir: Path) -> None:
    with start_server(state_dir, dataplane=False, faults=FaultConfig(busy_rate=1.0)) as server:
        client = sdk_client("v3", server.endpoint)
        with pytest.raises(ClientRequestException) as info:
            _create_pool(client, "p")
        assert (info.value.status_code, info.value.error_code) == (409, "ELB.8908")
        assert info.value.error_msg == (
            f"Load balancer {DEDICATED} is not ACTIVE (provisioning_status PENDING_UPDATE); "
            "try again later."
        )
        assert client.list_pools(sdk.ListPoolsRequest()).pools == []


def test_server_errors(state_dir: Path) -> None:
    faults = FaultConfig(error_503_rate=1.0)
    with (
        start_server(state_dir, dataplane=False, faults=faults) as server,
        pytest.raises(ServerResponseException) as info,
    ):
        sdk_client("v3", server.endpoint).list_pools(sdk.ListPoolsRequest())
    assert info.value.status_code == 503


def test_same_seed_same_sequence() -> None:
    config = FaultConfig(error_500_rate=0.3, busy_rate=0.3, seed=42)

    def run() -> list[str]:
        injector = FaultInjector(config)
        decisions = [injector.decide("POST") for _ in range(50)]
        return [("500" if d.error else "busy" if d.busy else "-") for d in decisions]

    first = run()
    assert first == run() and {"500", "busy", "-"} <= set(first)


def test_config_round_trips_and_validates() -> None:
    config = FaultConfig(latency_ms=5, only_methods=("PUT",), seed=3)
    assert FaultConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError):
        FaultConfig(error_500_rate=0.7, error_503_rate=0.7)
    with pytest.raises(ValueError):
        FaultConfig.from_dict({"typo_rate": 1})
