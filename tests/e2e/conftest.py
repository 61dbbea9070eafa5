"""End-to-end fixtures: a real emulator on 127.0.0.1 that every CLI command discovers.

The server is announced over the stack's state directory exactly as `deploy emulator
serve` does, so `plan`/`apply`/`destroy` run in-process through the official SDK over
real HTTP, and the test can read the emulator's request statistics afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from elb_mtls_deploy.emulator import start_server
from elb_mtls_deploy.emulator.constants import SEEDED_SUBNET_ID
from tests.stacks import CliStack


class Stack(CliStack):
    def statuses(self) -> dict[str, int]:
        return dict(self.server.emulator.stats.snapshot()["by_status"])


@pytest.fixture
def stack(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Stack]:
    state_dir = workdir / ".elb-emulator"
    state_dir.mkdir()
    with start_server(state_dir, announce=True, dataplane=False) as server:
        yield Stack(workdir, server, capsys)


SpecFactory = Callable[..., str]


def spec_text(
    lb: str = "emulator-dedicated-lb",
    port: int = 443,
    weights: tuple[int, ...] = (1, 1),
    server_cn: str = "www.test.com",
    listeners: str = "",
    mutual: bool = True,
) -> str:
    # Members of a shared load balancer need a subnet (docs/api-notes.md §10.3).
    subnet = f", subnet_id: {SEEDED_SUBNET_ID}" if "shared" in lb else ""
    members = "\n".join(
        f"            - {{address: 127.0.0.1, port: {19000 + i}, weight: {w}{subnet}}}"
        for i, w in enumerate(weights)
    )
    ca_line = "        client_ca: client-ca\n" if mutual else ""
    return f"""\
    stack: e2e
    target: {{kind: embedded}}
    certificates:
      cas:
        - name: server-ca
          subject: {{common_name: E2E Server CA}}
        - name: client-ca
          subject: {{common_name: E2E Client CA}}
      servers:
        - name: www
          issuer: server-ca
          subject: {{common_name: {server_cn}}}
          dns_names: [{server_cn}]
      clients:
        - name: teller
          issuer: client-ca
          subject: {{common_name: teller}}
    listeners:
      - name: www
        loadbalancer: {{name: {lb}}}
        port: {port}
        server_certificate: www
{ca_line}        pool:
          health_monitor: {{type: HTTP, url_path: /healthz}}
          members:
{members}
{listeners}"""
