"""Issue 14 items 8-11: private state files, header spoofing, request framing."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from elb_mtls_deploy.emulator import start_server
from elb_mtls_deploy.emulator.data.contract import ServedListener, ServedMember
from elb_mtls_deploy.emulator.data.demo_backend import DemoBackend
from elb_mtls_deploy.emulator.data.listeners import DataPlane
from elb_mtls_deploy.emulator.server import RunningServer


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --------------------------------------------------------------------------- item 8


def test_state_directory_and_database_files_are_private(state_dir: Path) -> None:
    with start_server(state_dir, dataplane=False, announce=True) as server:
        assert server.endpoint
        assert mode(state_dir) == 0o700
        files = [p for p in state_dir.iterdir() if p.name.startswith("emulator.db")]
        assert {p.name for p in files} >= {"emulator.db", "emulator.db-wal", "emulator.db-shm"}
        assert all(mode(p) == 0o600 for p in files), {p.name: oct(mode(p)) for p in files}
        assert mode(state_dir / "server.json") == 0o600


def test_an_old_world_readable_state_is_tightened(state_dir: Path) -> None:
    start_server(state_dir, dataplane=False).close()
    state_dir.chmod(0o755)
    (state_dir / "emulator.db").chmod(0o644)
    start_server(state_dir, dataplane=False).close()
    assert mode(state_dir) == 0o700 and mode(state_dir / "emulator.db") == 0o600


def test_a_foreign_directory_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "project"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    start_server(shared, dataplane=False).close()
    assert mode(shared) == 0o755 and mode(shared / "emulator.db") == 0o600


# --------------------------------------------------------------------------- item 9


@pytest.fixture
def served_port(pki: Any) -> Iterator[int]:
    demo = DemoBackend("127.0.0.1", 0)
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
        members=(ServedMember("127.0.0.1", demo.port),),
    )
    try:
        with DataPlane(demo_backends=False) as plane:
            yield plane.sync([listener])["lsn-1"]
    finally:
        demo.close()


def tls_exchange(pki: Any, port: int, raw_request: bytes) -> bytes:
    context = ssl.create_default_context(cadata=pki.ca_pem)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="svc.example.com") as tls,
    ):
        tls.sendall(raw_request)
        chunks = []
        with contextlib.suppress(ssl.SSLError, ConnectionError):  # closed under us
            while chunk := tls.recv(65536):  # the request says Connection: close
                chunks.append(chunk)
    return b"".join(chunks)


def test_header_names_with_underscores_never_reach_the_backend(pki: Any, served_port: int) -> None:
    reply = tls_exchange(
        pki,
        served_port,
        b"GET / HTTP/1.1\r\nHost: svc.example.com\r\nConnection: close\r\n"
        b"X_Forwarded_Clientcert_Subjectdn: CN=admin\r\nX-Plain: kept\r\n\r\n",
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    seen = json.loads(body)["headers"]
    assert seen["X-Plain"] == "kept"
    assert not any("_" in name for name in seen), seen


def test_obs_fold_is_rejected_with_400(pki: Any, served_port: int) -> None:
    reply = tls_exchange(
        pki,
        served_port,
        b"GET / HTTP/1.1\r\nHost: svc.example.com\r\nConnection: close\r\n"
        b"X-Folded: first\r\n second-line\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]


# --------------------------------------------------------------------------- item 11


def raw_api(server: RunningServer, raw_request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw_request)
        chunks = []
        while chunk := sock.recv(65536):  # the server closes after a framing error
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("length", ["abc", "99999999999", "-1", "\u00b2", "5, 6"])
def test_bad_content_length_is_400_at_once(
    server: RunningServer, length: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    reply = raw_api(
        server,
        f"POST /v3/p/elb/pools HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode(),
    )
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
    assert time.monotonic() - started < 5  # answered, not waiting for a body
    assert "Traceback" not in capsys.readouterr().err
    # The server is still there for the next client.
    health = raw_api(
        server, b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert health.startswith(b"HTTP/1.1 200")


def test_demo_backend_refuses_a_bad_content_length() -> None:
    demo = DemoBackend("127.0.0.1", 0)
    try:
        with socket.create_connection(("127.0.0.1", demo.port), timeout=5) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
            reply = sock.recv(65536)
    finally:
        demo.close()
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
