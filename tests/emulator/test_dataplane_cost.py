"""Starting and stopping the data plane is cheap, and ``dataplane=False`` starts none of it.

Timings live in bench/bench_dataplane.py; these tests pin the mechanisms: no reverse DNS
lookup per socket, no polling on close, nothing started when the data plane is off.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from cp_helpers import https_listener, pool, sdk_client, server_cert
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import start_server
from elb_mtls_deploy.emulator.data.contract import ServedListener, ServedMember
from elb_mtls_deploy.emulator.data.demo_backend import DemoBackend
from elb_mtls_deploy.emulator.data.listeners import DataPlane


def _no_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("reverse DNS lookup while binding a data-plane socket")

    monkeypatch.setattr(socket, "getfqdn", refuse)
    monkeypatch.setattr(socket, "gethostbyaddr", refuse)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_demo_backends_bind_without_a_reverse_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_lookups(monkeypatch)
    demo = DemoBackend("127.0.0.1", 0)
    try:
        with socket.create_connection(("127.0.0.1", demo.port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert conn.recv(12) == b"HTTP/1.1 200"
    finally:
        demo.close()


def test_closing_does_not_wait_for_a_poll(monkeypatch: pytest.MonkeyPatch, pki: Any) -> None:
    # serve_forever only notices shutdown() at its next poll; nothing may rely on it.
    import socketserver

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("serve_forever polling used by the data plane")

    monkeypatch.setattr(socketserver.BaseServer, "serve_forever", refuse)
    _no_lookups(monkeypatch)
    members = tuple(ServedMember("127.0.0.1", port) for port in _free_ports(20))
    listener = ServedListener(
        listener_id="lsn-1",
        name="web",
        loadbalancer_id="lb-1",
        protocol="HTTPS",
        protocol_port=443,
        bind_port=0,
        server_cert_pem=pki.server_cert_pem,
        server_key_pem=pki.server_key_pem,
        client_ca_pem=None,
        certificate_id="cert-1",
        members=members,
    )
    with DataPlane(demo_backends=True) as plane:
        plane.sync([listener])
        names = {t.name for t in threading.enumerate()}
        assert sum(name.startswith("demo-backend-") for name in names) == 20
    names = {t.name for t in threading.enumerate() if t.is_alive()}
    assert not any(name.startswith(("demo-backend-", "dp-accept-")) for name in names)


def test_dataplane_false_starts_no_listener_and_no_demo_backend(state_dir: Path, pki: Any) -> None:
    [member_port] = _free_ports(1)
    with start_server(state_dir, dataplane=False) as server:
        v3 = sdk_client("v3", server.endpoint)
        listener = https_listener(v3, server_cert(v3, pki).id)
        p = pool(v3, listener_id=listener.id)
        option = sdk.CreateMemberOption(address="127.0.0.1", protocol_port=member_port)
        v3.create_member(
            sdk.CreateMemberRequest(pool_id=p.id, body=sdk.CreateMemberRequestBody(member=option))
        )
    with start_server(state_dir, dataplane=False) as again:  # as plan/validate/destroy
        names = {t.name for t in threading.enumerate()}
        assert not any(name.startswith(("demo-backend-", "dp-accept-")) for name in names)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", member_port), timeout=2).close()
        assert again.emulator.feed.enabled is False
