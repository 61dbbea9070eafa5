"""Every SDK failure leaves SdkCloud as one of our CloudErrors, with status, code, request
id, `busy`/`retry_after`, a useful hint, and never a private key or the secret key."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from cloud_stack import DEMO, MARKER, build, make_cloud

from elb_mtls_deploy.cloud.base import Credentials, Query
from elb_mtls_deploy.cloud.sdk import SdkCloud
from elb_mtls_deploy.emulator import (
    DEMO_SK,
    SEEDED_DEDICATED_LB_ID,
    SEEDED_SHARED_LB_ID,
    Emulator,
    FaultConfig,
)
from elb_mtls_deploy.errors import (
    CloudError,
    ConflictError,
    NotFoundError,
    PermanentError,
    TransientError,
)

ANY_URL = re.compile(r"http://127\.0\.0\.1:9/.*")


def assert_clean(err: CloudError, *secrets: str) -> None:
    text = f"{err}\n{err.message}\n{err.hint}"
    assert "PRIVATE KEY" not in text
    for secret in (DEMO_SK, *secrets):
        assert secret not in text


def test_not_found(cloud: SdkCloud) -> None:
    with pytest.raises(NotFoundError) as info:
        cloud.update("listener", "nope", {"name": "x"}, {}, None)
    err = info.value
    assert err.status == 404 and err.code and err.request_id  # X-Request-Id header
    assert err.message.startswith("update listener nope failed: ")
    assert err.busy is False and err.retry_after is None  # type: ignore[attr-defined]


def test_conflict_in_use_is_not_busy(cloud: SdkCloud, pem: Any) -> None:
    s = build(cloud, pem)
    with pytest.raises(ConflictError) as info:
        cloud.delete("certificate", s.server_id, None)
    assert info.value.status == 409
    assert info.value.busy is False  # type: ignore[attr-defined]
    assert "in use" in (info.value.hint or "")


def test_conflict_port_taken(cloud: SdkCloud, pem: Any) -> None:
    build(cloud, pem)
    with pytest.raises(ConflictError) as info:
        build(cloud, pem)  # same port on the same LB
    assert info.value.busy is False  # type: ignore[attr-defined]


def test_busy_load_balancer(cloud: SdkCloud, pem: Any, emulator: Emulator) -> None:
    emulator.faults.configure(FaultConfig(busy_rate=1.0))
    lb = SEEDED_DEDICATED_LB_ID if cloud.flavour == "v3" else SEEDED_SHARED_LB_ID
    pool = {"loadbalancer_id": lb, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    with pytest.raises(ConflictError) as info:
        cloud.create("pool", "t-pool", MARKER, pool, {})
    assert info.value.busy is True  # type: ignore[attr-defined]
    assert "busy" in (info.value.hint or "")
    assert cloud.read(Query("pool", description=MARKER)) == []  # GETs are never busy
    # certificates belong to no load balancer: never busy (docs/api-notes.md §10.2)
    cloud.create("certificate", "t-ca", MARKER, {"type": "client"}, {"certificate": pem.ca})


def test_bad_pem_is_permanent_and_never_echoes_the_key(cloud: SdkCloud, pem: Any) -> None:
    with pytest.raises(PermanentError) as info:
        cloud.create(
            "certificate",
            "t-bad",
            MARKER,
            {"type": "server"},
            {"certificate": "not a certificate", "private_key": pem.server_key},
        )
    assert info.value.status == 400
    assert info.value.message.startswith("create certificate t-bad failed: ")
    assert_clean(info.value, pem.server_key)


def test_wrong_secret_key_is_permanent_with_clock_hint(
    rsps: responses.RequestsMock, pem: Any
) -> None:
    wrong = Credentials(DEMO.access_key, "wrong-secret-key-value", DEMO.project_id)
    cloud = make_cloud("v3", creds=wrong)
    with pytest.raises(PermanentError) as info:
        cloud.create(
            "certificate",
            "t-server",
            MARKER,
            {"type": "server"},
            {"certificate": pem.server_cert, "private_key": pem.server_key},
        )
    err = info.value
    assert err.status == 401 and err.code == "APIGW.0301"
    assert "clock" in (err.hint or "") and "HUAWEICLOUD_SDK_AK" in (err.hint or "")
    assert_clean(err, "wrong-secret-key-value", pem.server_key)
    assert "wrong-secret-key-value" not in repr(wrong)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_throttling_is_transient_with_retry_after(
    v3: SdkCloud, emulator: Emulator, pem: Any, method: str
) -> None:
    s = build(v3, pem)
    emulator.faults.configure(FaultConfig(error_429_rate=1.0, retry_after_seconds=7))
    call = {
        "GET": lambda: v3.read(Query("pool", description=MARKER)),
        "POST": lambda: v3.create("certificate", "x", MARKER, {"type": "client"}, {}),
        "PUT": lambda: v3.update("pool", s.pool_id, {"name": "p"}, {}, None),
        "DELETE": lambda: v3.delete("healthmonitor", s.monitor_id, None),
    }[method]
    with pytest.raises(TransientError) as info:
        call()
    err = info.value
    # The body's code survives on every method (the urllib3 429 retry is switched off).
    assert err.status == 429 and err.code == "APIGW.0308"
    assert err.retry_after == 7.0  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(cloud: SdkCloud, emulator: Emulator, status: int) -> None:
    rate = {"error_500_rate": 1.0} if status == 500 else {"error_503_rate": 1.0}
    emulator.faults.configure(FaultConfig(**rate))  # type: ignore[arg-type]
    with pytest.raises(TransientError) as info:
        cloud.read(Query("certificate", description=MARKER))
    assert info.value.status == status


def test_lost_response_is_transient(cloud: SdkCloud, emulator: Emulator, pem: Any) -> None:
    emulator.faults.configure(FaultConfig(lost_response_rate=1.0))
    with pytest.raises(TransientError) as info:
        cloud.create("certificate", "t-ca", MARKER, {"type": "client"}, {"certificate": pem.ca})
    assert "reachable" in (info.value.hint or "")


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port


@pytest.mark.parametrize("flavour", ["v3", "v2"])
def test_connection_refused_is_transient(closed_port: int, flavour: Any, pem: Any) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    cloud = make_cloud(flavour, endpoint=endpoint)
    with pytest.raises(TransientError) as info:
        cloud.create(
            "certificate",
            "t-server",
            MARKER,
            {"type": "server"},
            {"certificate": pem.server_cert, "private_key": pem.server_key},
        )
    assert endpoint in (info.value.hint or "")
    assert info.value.status is None
    assert_clean(info.value, pem.server_key)
    cloud.close()


def test_sdk_exceptions_are_chained_not_leaked(cloud: SdkCloud) -> None:
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

    with pytest.raises(NotFoundError) as info:
        cloud.delete("certificate", "0" * 32, None)
    assert isinstance(info.value.__cause__, ClientRequestException)


@pytest.fixture
def raw_rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _answer(mock: responses.RequestsMock, body: str, status: int = 200) -> None:
    mock.add(responses.GET, ANY_URL, body=body, status=status, content_type="application/json")


@pytest.mark.parametrize("body", ["<html>proxy says hello</html>", '{"request_id": "x"}', "[1, 2]"])
def test_unusable_list_responses_never_read_as_empty(
    raw_rsps: responses.RequestsMock, body: str
) -> None:
    _answer(raw_rsps, body)
    with pytest.raises(TransientError):
        make_cloud("v3").read(Query("pool", description=MARKER))


def test_marker_that_does_not_advance_stops(raw_rsps: responses.RequestsMock) -> None:
    _answer(raw_rsps, '{"pools": [{"id": "a"}, {"id": "b"}]}')
    with pytest.raises(TransientError, match="did not advance"):
        make_cloud("v3", page_size=2).read(Query("pool", description=MARKER))


def test_retry_after_on_503(raw_rsps: responses.RequestsMock) -> None:
    raw_rsps.add(
        responses.GET,
        ANY_URL,
        json={"error_code": "ELB.5030", "error_msg": "unavailable"},
        status=503,
        headers={"Retry-After": "4", "X-Request-Id": "rid"},
    )
    with pytest.raises(TransientError) as info:
        make_cloud("v2").read(Query("certificate", description=MARKER))
    assert info.value.retry_after == 4.0  # type: ignore[attr-defined]
    assert info.value.request_id == "rid"
