"""Fixtures for the cloud adapter tests: the emulator in-process behind `responses` (fast,
no sockets), `SdkCloud` clients for v3 and v2 built by `connect`, and PEMs from trustme.

Every client is built with explicit AK/SK + project id + a loopback endpoint, never a
region, so no test can reach IAM, the metadata service or a real endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import responses
import trustme
from cloud_stack import ENDPOINT, make_cloud

from elb_mtls_deploy.cloud.sdk import SdkCloud
from elb_mtls_deploy.emulator import Emulator
from elb_mtls_deploy.emulator.testing import mount


@dataclass(frozen=True)
class Pem:
    ca: str
    server_cert: str
    server_key: str
    other_cert: str  # a second server certificate (rotation)
    other_key: str


@pytest.fixture(scope="session")
def pem() -> Pem:
    ca = trustme.CA()
    leaf = ca.issue_cert("svc.example.com")
    other = ca.issue_cert("other.example.com")
    return Pem(
        ca=ca.cert_pem.bytes().decode(),
        server_cert=leaf.cert_chain_pems[0].bytes().decode(),
        server_key=leaf.private_key_pem.bytes().decode(),
        other_cert=other.cert_chain_pems[0].bytes().decode(),
        other_key=other.private_key_pem.bytes().decode(),
    )


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path / "state", dataplane=False)
    yield emu
    emu.close()


@pytest.fixture
def rsps(emulator: Emulator) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mount(mock, emulator, ENDPOINT)
        yield mock


@pytest.fixture
def v3(rsps: responses.RequestsMock) -> Iterator[SdkCloud]:
    cloud = make_cloud("v3")
    yield cloud
    cloud.close()


@pytest.fixture
def v2(rsps: responses.RequestsMock) -> Iterator[SdkCloud]:
    cloud = make_cloud("v2")
    yield cloud
    cloud.close()


@pytest.fixture(params=["v3", "v2"])
def cloud(request: pytest.FixtureRequest, rsps: responses.RequestsMock) -> Iterator[SdkCloud]:
    client = make_cloud(request.param)
    yield client
    client.close()
