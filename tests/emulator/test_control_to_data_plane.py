"""API changes reach the real data plane: listeners served on loopback with mutual TLS."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import trustme
from cp_helpers import DEDICATED, sdk_client
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import start_server
from elb_mtls_deploy.emulator.server import RunningServer

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def served(server: RunningServer) -> list[dict[str, Any]]:
    with NO_PROXY.open(f"{server.endpoint}/_emulator/dataplane", timeout=5) as reply:
        listeners: list[dict[str, Any]] = json.loads(reply.read())["listeners"]
    return listeners


def handshake(port: int, ca: trustme.CA, client: trustme.LeafCert | None) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if client is not None:
        client.configure_cert(context)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="svc.example.com") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: svc.example.com\r\nConnection: close\r\n\r\n")
        assert tls.recv(5).startswith(b"HTTP/")


@pytest.mark.slow
def test_mutual_tls_listener_is_served_and_keeps_its_port(state_dir: Path) -> None:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    leaf = server_ca.issue_cert("svc.example.com")
    client_leaf = client_ca.issue_cert("client@example.com")
    with start_server(state_dir, dataplane=True, demo_backends=False) as server:
        v3 = sdk_client("v3", server.endpoint)

        def cert(**fields: Any) -> str:
            option = sdk.CreateCertificateOption(**fields)
            body = sdk.CreateCertificateRequestBody(certificate=option)
            return str(
                v3.create_certificate(sdk.CreateCertificateRequest(body=body)).certificate.id
            )

        server_id = cert(
            certificate=leaf.cert_chain_pems[0].bytes().decode(),
            private_key=leaf.private_key_pem.bytes().decode(),
        )
        ca_id = cert(type="client", certificate=client_ca.cert_pem.bytes().decode())
        option = sdk.CreateListenerOption(
            loadbalancer_id=DEDICATED,
            protocol="HTTPS",
            protocol_port=443,
            default_tls_container_ref=server_id,
            client_ca_tls_container_ref=ca_id,
        )
        listener = v3.create_listener(
            sdk.CreateListenerRequest(body=sdk.CreateListenerRequestBody(listener=option))
        ).listener
        [entry] = served(server)
        assert entry["id"] == listener.id and entry["mutual_auth"] is True
        assert entry["address"] == "127.0.0.1" and entry["protocol_port"] == 443
        port = entry["port"]
        handshake(port, server_ca, client_leaf)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            handshake(port, server_ca, None)

    with start_server(state_dir, dataplane=True, demo_backends=False) as again:
        assert [x["port"] for x in served(again)] == [port]
