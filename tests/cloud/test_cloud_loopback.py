"""End to end: `connect` + the real SDK transport against a loopback emulator server
(`start_server`, data plane off): create, observe, update and delete a full stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloud_stack import MARKER, build, make_cloud, member

from elb_mtls_deploy.cloud.base import Query
from elb_mtls_deploy.cloud.sdk import SdkCloud
from elb_mtls_deploy.emulator import SEEDED_DEDICATED_LB_NAME, SEEDED_SHARED_LB_NAME, start_server
from elb_mtls_deploy.emulator.server import RunningServer
from elb_mtls_deploy.errors import NotFoundError

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with start_server(tmp_path / "state", dataplane=False) as running:
        yield running


@pytest.fixture(params=["v3", "v2"])
def live(request: pytest.FixtureRequest, server: RunningServer) -> Iterator[SdkCloud]:
    cloud = make_cloud(request.param, endpoint=server.endpoint)
    yield cloud
    cloud.close()


def test_flavour_detection_over_loopback(server: RunningServer) -> None:
    cloud = make_cloud("v3", endpoint=server.endpoint)
    found = cloud.find_loadbalancers([], [SEEDED_DEDICATED_LB_NAME, SEEDED_SHARED_LB_NAME])
    assert sorted(lb.guaranteed for lb in found) == [False, True]  # shared, dedicated
    cloud.close()


def test_full_lifecycle(live: SdkCloud, pem: Any) -> None:
    s = build(live, pem)

    (listener,) = live.read(Query("listener", within=[s.lb_id]))
    assert listener.fields["client_ca_tls_container_ref"] == s.ca_id
    assert {c.id for c in live.read(Query("certificate", description=MARKER))} == {
        s.server_id,
        s.ca_id,
    }
    assert [p.id for p in live.read(Query("pool", description=MARKER))] == [s.pool_id]
    assert [m.fields["pool"] for m in live.read(Query("healthmonitor", ids=[s.monitor_id]))] == [
        s.pool_id
    ]
    assert sorted(m.id for m in live.read(Query("member", within=[s.pool_id]))) == sorted(
        s.member_ids
    )

    # mutual auth off, certificate rotated in place, one more member
    live.update("listener", s.listener_id, {"client_ca_tls_container_ref": None}, {}, None)
    live.update(
        "certificate",
        s.server_id,
        {},
        {"certificate": pem.other_cert, "private_key": pem.other_key},
        None,
    )
    (extra,) = live.create_members(s.pool_id, [member("10.0.0.99", 9000)])
    (listener,) = live.read(Query("listener", within=[s.lb_id]))
    assert listener.fields["client_ca_tls_container_ref"] is None
    server_cert = next(
        c for c in live.read(Query("certificate", description=MARKER)) if c.id == s.server_id
    )
    assert server_cert.fields["certificate"].strip() == pem.other_cert.strip()
    assert extra in {m.id for m in live.read(Query("member", within=[s.pool_id]))}

    live.delete_members(s.pool_id, [*s.member_ids, extra])
    live.delete("healthmonitor", s.monitor_id, None)
    live.delete("pool", s.pool_id, None)
    live.delete("listener", s.listener_id, None)
    for cert_id in (s.server_id, s.ca_id):
        live.delete("certificate", cert_id, None)
    assert live.read(Query("certificate", description=MARKER)) == []
    assert live.read(Query("listener", within=[s.lb_id])) == []
    with pytest.raises(NotFoundError):
        live.delete("listener", s.listener_id, None)
