"""The console guide's certificates (SHA-1, RSA-2048, CN only) are served (issue 16 item 6).

They are made here with the openssl command line, the way Huawei's mutual-authentication
guide makes them, uploaded through the SDK and used in a real mutual-TLS handshake.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cp_helpers import DEDICATED, sdk_client
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import start_server

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
OPENSSL = shutil.which("openssl")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command line"),
]


def openssl(cwd: Path, *args: str) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


def guide_pair(cwd: Path, name: str, cn: str, ca: str | None) -> None:
    """``name.key``/``name.crt``: RSA-2048, CN only, SHA-1, 5000 days; self-signed if no CA."""
    openssl(cwd, "genrsa", "-out", f"{name}.key", "2048")
    if ca is None:
        openssl(
            cwd, "req", "-new", "-x509", "-sha1", "-days", "5000", "-key", f"{name}.key",
            "-subj", f"/CN={cn}", "-out", f"{name}.crt",
        )  # fmt: skip
        return
    openssl(cwd, "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr")
    openssl(
        cwd, "x509", "-req", "-sha1", "-days", "5000", "-in", f"{name}.csr",
        "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial", "-out", f"{name}.crt",
    )  # fmt: skip


@pytest.fixture
def guide_pki(tmp_path: Path) -> Path:
    pki = tmp_path / "guide"
    pki.mkdir()
    guide_pair(pki, "ca", "Guide CA", None)
    guide_pair(pki, "server", "www.test.com", "ca")
    guide_pair(pki, "client", "client-01", "ca")
    text = subprocess.run(
        [str(OPENSSL), "x509", "-in", str(pki / "server.crt"), "-noout", "-text"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "sha1WithRSAEncryption" in text and "Subject Alternative Name" not in text
    return pki


def legacy_client(pki: Path, with_cert: bool) -> ssl.SSLContext:
    # The client, too, must accept SHA-1 (as old clients of console-made setups do).
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.check_hostname = False  # CN only, no SAN: modern name matching needs a SAN
    if with_cert:
        context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    return context


def get(port: int, context: ssl.SSLContext) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="www.test.com") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: www.test.com\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_sha1_guide_certificates_are_served_with_mutual_tls(
    state_dir: Path, guide_pki: Path
) -> None:
    with start_server(state_dir, dataplane=True, demo_backends=True) as server:
        v3 = sdk_client("v3", server.endpoint)

        def upload(**fields: Any) -> str:
            body = sdk.CreateCertificateRequestBody(
                certificate=sdk.CreateCertificateOption(**fields)
            )
            return str(
                v3.create_certificate(sdk.CreateCertificateRequest(body=body)).certificate.id
            )

        server_id = upload(
            certificate=(guide_pki / "server.crt").read_text(),
            private_key=(guide_pki / "server.key").read_text(),
        )
        ca_id = upload(type="client", certificate=(guide_pki / "ca.crt").read_text())
        listener_option = sdk.CreateListenerOption(
            loadbalancer_id=DEDICATED,
            protocol="HTTPS",
            protocol_port=443,
            default_tls_container_ref=server_id,
            client_ca_tls_container_ref=ca_id,
        )
        listener = v3.create_listener(
            sdk.CreateListenerRequest(body=sdk.CreateListenerRequestBody(listener=listener_option))
        ).listener
        pool_option = sdk.CreatePoolOption(
            lb_algorithm="ROUND_ROBIN", protocol="HTTP", listener_id=listener.id
        )
        pool = v3.create_pool(
            sdk.CreatePoolRequest(body=sdk.CreatePoolRequestBody(pool=pool_option))
        ).pool
        with socket.socket() as probe:  # a free loopback port for the demo member
            probe.bind(("127.0.0.1", 0))
            member_port = probe.getsockname()[1]
        member = sdk.CreateMemberOption(address="127.0.0.1", protocol_port=member_port)
        v3.create_member(
            sdk.CreateMemberRequest(
                pool_id=pool.id, body=sdk.CreateMemberRequestBody(member=member)
            )
        )
        with NO_PROXY.open(f"{server.endpoint}/_emulator/dataplane", timeout=5) as reply:
            [entry] = json.loads(reply.read())["listeners"]
        port = entry["port"]

        reply = get(port, legacy_client(guide_pki, with_cert=True))
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        seen = json.loads(body)
        assert seen["backend"] == f"127.0.0.1:{member_port}"
        with pytest.raises((ssl.SSLError, ConnectionError)):
            get(port, legacy_client(guide_pki, with_cert=False))
