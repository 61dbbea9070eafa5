"""Clients nobody here wrote — `openssl s_client` and `curl` — against the data plane.

Each test is skipped only when its binary is absent. Certificates are made at run time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trustme

from elb_mtls_deploy.emulator.data.contract import ServedListener, ServedMember
from elb_mtls_deploy.emulator.data.demo_backend import DemoBackend
from elb_mtls_deploy.emulator.data.listeners import DataPlane

pytestmark = pytest.mark.slow
REQUEST = b"GET /hello HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n"


@dataclass
class Files:
    """PEM files for the clients, and the port of an mTLS listener in front of a backend."""

    port: int
    server_ca: Path
    client_cert: Path
    client_key: Path


@pytest.fixture
def served_mtls(tmp_path: Path) -> Iterator[Files]:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("127.0.0.1", "localhost")
    client = client_ca.issue_cert(
        "cli@example.com", common_name="cli", organization_name="Acme", organization_unit_name="Ops"
    )
    files = Files(0, tmp_path / "ca.pem", tmp_path / "client.pem", tmp_path / "client.key")
    server_ca.cert_pem.write_to_path(str(files.server_ca))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    listener = ServedListener(
        listener_id="lsn-cli",
        name="cli",
        loadbalancer_id="lb-1",
        protocol="HTTPS",
        protocol_port=443,
        bind_port=0,
        server_cert_pem="".join(b.bytes().decode() for b in server.cert_chain_pems),
        server_key_pem=server.private_key_pem.bytes().decode(),
        client_ca_pem=client_ca.cert_pem.bytes().decode(),
        certificate_id="cert-1",
        insert_headers={"X-Forwarded-Clientcert-enable": True},
    )
    backend = DemoBackend("127.0.0.1", 0)
    try:
        with DataPlane(demo_backends=False) as plane:
            member = (ServedMember("127.0.0.1", backend.port),)
            files.port = plane.sync([replace(listener, members=member)])["lsn-cli"]
            yield files
    finally:
        backend.close()


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _s_client(files: Files, *, with_cert: bool) -> subprocess.CompletedProcess[bytes]:
    args = [
        _binary("openssl"),
        "s_client",
        "-connect",
        f"127.0.0.1:{files.port}",
        "-CAfile",
        str(files.server_ca),
        "-verify_return_error",
        "-quiet",
    ]
    if with_cert:
        args += ["-cert", str(files.client_cert), "-key", str(files.client_key)]
    return subprocess.run(args, input=REQUEST, capture_output=True, timeout=30, check=False)


def _curl(files: Files, *extra: str) -> subprocess.CompletedProcess[bytes]:
    args = [
        _binary("curl"),
        "--silent",
        "--show-error",
        "--noproxy",
        "*",
        "--max-time",
        "20",
        "--cacert",
        str(files.server_ca),
        *extra,
        f"https://127.0.0.1:{files.port}/hello",
    ]
    return subprocess.run(args, capture_output=True, timeout=30, check=False)


def test_openssl_s_client_with_certificate_gets_200(served_mtls: Files) -> None:
    done = _s_client(served_mtls, with_cert=True)

    assert done.stdout.startswith(b"HTTP/1.1 200"), done.stderr
    assert b'"X-Forwarded-Clientcert-subjectdn": "CN=cli,OU=Ops,O=Acme"' in done.stdout


def test_openssl_s_client_without_certificate_gets_no_response(served_mtls: Files) -> None:
    done = _s_client(served_mtls, with_cert=False)

    assert b"HTTP/1.1" not in done.stdout
    assert done.returncode != 0


def test_curl_with_certificate_sees_its_identity_at_the_backend(served_mtls: Files) -> None:
    done = _curl(
        served_mtls, "--cert", str(served_mtls.client_cert), "--key", str(served_mtls.client_key)
    )

    assert done.returncode == 0, done.stderr
    echoed = json.loads(done.stdout)
    assert echoed["path"] == "/hello"
    assert echoed["headers"]["X-Forwarded-Clientcert-subjectdn"] == "CN=cli,OU=Ops,O=Acme"
    assert echoed["headers"]["X-Forwarded-Clientcert-clientverify"] == "SUCCESS"


def test_curl_without_certificate_fails(served_mtls: Files) -> None:
    done = _curl(served_mtls)

    assert done.returncode != 0
    assert done.stdout == b""
