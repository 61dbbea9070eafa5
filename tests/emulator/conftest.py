"""Fixtures for the emulator control-plane tests: a loopback server (data plane off unless a
test asks for it), official SDK clients for v3 and v2, and PEM material from trustme."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cp_helpers import sdk_client

from elb_mtls_deploy.emulator import start_server
from elb_mtls_deploy.emulator.server import RunningServer


@dataclass(frozen=True)
class Pki:
    ca_pem: str
    other_ca_pem: str
    server_cert_pem: str
    server_key_pem: str
    other_key_pem: str  # a valid key that belongs to a different certificate


@pytest.fixture(scope="session")
def pki() -> Pki:
    ca, other = trustme.CA(), trustme.CA()
    leaf = ca.issue_cert("svc.example.com", "127.0.0.1")
    stranger = other.issue_cert("other.example.com")
    return Pki(
        ca_pem=ca.cert_pem.bytes().decode(),
        other_ca_pem=other.cert_pem.bytes().decode(),
        server_cert_pem=leaf.cert_chain_pems[0].bytes().decode(),
        server_key_pem=leaf.private_key_pem.bytes().decode(),
        other_key_pem=stranger.private_key_pem.bytes().decode(),
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def server(state_dir: Path) -> Iterator[RunningServer]:
    with start_server(state_dir, dataplane=False) as running:
        yield running


@pytest.fixture
def v3(server: RunningServer) -> Any:
    return sdk_client("v3", server.endpoint)


@pytest.fixture
def v2(server: RunningServer) -> Any:
    return sdk_client("v2", server.endpoint)
