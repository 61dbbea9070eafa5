"""Fixtures for verify: an announced emulator WITH its data plane, so `deploy verify`
connects to real TLS listeners on loopback, plus a spec writer and SDK helpers that bend
the cloud behind the tool's back (mutual auth off, another CA, another certificate)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from elb_mtls_deploy.emulator import (
    start_server,
)
from elb_mtls_deploy.emulator.control.admin import dataplane as emulator_dataplane
from elb_mtls_deploy.pki import Bundle, load_bundles
from elb_mtls_deploy.spec.load import load_spec
from elb_mtls_deploy.verify.handshake import Attempt, ClientIdentity, Probe, attempt
from tests.stacks import CliStack


def free_ports(count: int) -> tuple[int, ...]:
    """Distinct free ports: the sockets stay open until all are chosen, so the kernel cannot
    hand out one port twice (two members on one port made a setup flaky)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return tuple(int(s.getsockname()[1]) for s in sockets)
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


@dataclass
class Live(CliStack):
    members: tuple[int, int] = (0, 0)
    stack: ClassVar[str] = "vfy"

    def apply(self, spec: Path | None = None) -> str:
        code, out, err = self.run("apply", str(spec or self.spec), "--auto-approve")
        assert code == 0, out + err
        return out

    def verify(self, *extra: str, spec: Path | None = None) -> tuple[int, str, str]:
        return self.run("verify", str(spec or self.spec), *extra)

    def bundles(self, spec: Path | None = None) -> dict[str, Bundle]:
        return load_bundles(load_spec(spec or self.spec, {}), self.root, {})

    def port(self, listener: str = "www") -> int:
        served = emulator_dataplane(self.server.emulator)["listeners"]
        return int(next(s["port"] for s in served if s["name"] == f"vfy-{listener}"))

    def handshake(self, client: str | None, server_name: str = "www.test.com") -> Attempt:
        identity = None
        if client is not None:
            bundle = self.bundles()[client]
            identity = ClientIdentity(client, bundle.certificate_pem, bundle.key_pem or "")
        return attempt("127.0.0.1", self.port(), Probe(server_name, identity))

    def upload(self, name: str, kind: str, pem: str, key_pem: str | None = None) -> str:
        from huaweicloudsdkelb.v3 import model

        option = model.CreateCertificateOption(
            name=name, type=kind, certificate=pem, private_key=key_pem
        )
        body = model.CreateCertificateRequestBody(certificate=option)
        response = self.sdk().create_certificate(model.CreateCertificateRequest(body=body))
        return str(response.certificate.id)

    def update_listener(self, **fields: Any) -> None:
        from huaweicloudsdkelb.v3 import model

        [listener] = self.owned("listeners")
        option = model.UpdateListenerOption(**fields)
        body = model.UpdateListenerRequestBody(listener=option)
        self.sdk().update_listener(
            model.UpdateListenerRequest(listener_id=listener["id"], body=body)
        )


@pytest.fixture
def live(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Live]:
    state_dir = workdir / ".elb-emulator"
    state_dir.mkdir()
    with start_server(state_dir, announce=True, dataplane=True) as server:
        first, second = free_ports(2)
        yield Live(workdir, server, capsys, (first, second))


def now() -> datetime:
    return datetime.now(UTC)


def spec_text(
    members: tuple[int, int],
    client_ca: str | None = "client-ca",
    clients: str = "        - {name: teller, issuer: client-ca, subject: {common_name: teller}}\n",
    dns_names: str = "[www.test.com, localhost]",
    extra_cas: str = "",
    tls_policy: str = "tls-1-2",
    renew_before_days: int = 30,
) -> str:
    ca_line = f"        client_ca: {client_ca}\n" if client_ca else ""
    return f"""\
    stack: vfy
    target: {{kind: embedded}}
    certificates:
      cas:
        - name: server-ca
          subject: {{common_name: Verify Server CA}}
        - name: client-ca
          subject: {{common_name: Verify Client CA}}
{extra_cas}      servers:
        - name: www
          issuer: server-ca
          subject: {{common_name: www.test.com}}
          dns_names: {dns_names}
          renew_before_days: {renew_before_days}
      clients:
{clients}    listeners:
      - name: www
        loadbalancer: {{name: emulator-dedicated-lb}}
        port: 443
        server_certificate: www
        tls_policy: {tls_policy}
{ca_line}        insert_headers: {{forwarded_port: true}}
        pool:
          members:
            - {{address: 127.0.0.1, port: {members[0]}}}
            - {{address: 127.0.0.1, port: {members[1]}}}
"""
