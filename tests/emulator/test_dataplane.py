"""The data plane serves HTTPS listeners for real: mTLS, CA bundles, rotation, proxying.

Every test drives `DataPlane.sync` with hand-made `ServedListener` values and talks to it
with Python's own `ssl` client over loopback. Certificates are made at run time (trustme).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trustme

from elb_mtls_deploy.emulator.data.contract import ServedListener, ServedMember
from elb_mtls_deploy.emulator.data.demo_backend import DemoBackend
from elb_mtls_deploy.emulator.data.listeners import DataPlane

# What a client sees when the server refuses it: an alert during the handshake (TLS 1.2)
# or on the first read after it (TLS 1.3), or simply a closed connection.
CLIENT_DN = "CN=client-1,OU=Payments,O=Acme"
REFUSED = (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)


@dataclass
class Pki:
    server_ca: trustme.CA
    client_ca: trustme.CA
    server: trustme.LeafCert
    client: trustme.LeafCert


@pytest.fixture(scope="module")
def pki() -> Pki:
    server_ca, client_ca = trustme.CA(), trustme.CA(organization_name="Client CA")
    return Pki(
        server_ca=server_ca,
        client_ca=client_ca,
        server=server_ca.issue_cert("127.0.0.1", "localhost"),
        client=client_ca.issue_cert(
            "client-1@example.com",
            common_name="client-1",
            organization_name="Acme",
            organization_unit_name="Payments",
        ),
    )


@pytest.fixture
def backend() -> Iterator[DemoBackend]:
    demo = DemoBackend("127.0.0.1", 0)
    yield demo
    demo.close()


@pytest.fixture
def plane() -> Iterator[DataPlane]:
    with DataPlane(demo_backends=False) as dp:
        yield dp


def served(
    pki: Pki,
    members: tuple[ServedMember, ...] = (),
    *,
    client_ca: trustme.CA | str | None = None,
    server: trustme.LeafCert | None = None,
    **fields: Any,
) -> ServedListener:
    leaf = server or pki.server
    ca_pem = client_ca.cert_pem.bytes().decode() if isinstance(client_ca, trustme.CA) else client_ca
    values: dict[str, Any] = {
        "listener_id": "lsn-1",
        "name": "web",
        "loadbalancer_id": "lb-1",
        "protocol": "HTTPS",
        "protocol_port": 443,
        "bind_port": 0,
        "server_cert_pem": "".join(b.bytes().decode() for b in leaf.cert_chain_pems),
        "server_key_pem": leaf.private_key_pem.bytes().decode(),
        "client_ca_pem": ca_pem,
        "certificate_id": "cert-1",
        "members": members,
    }
    values.update(fields)
    return ServedListener(**values)


def member(demo: DemoBackend, weight: int = 1) -> tuple[ServedMember, ...]:
    return (ServedMember("127.0.0.1", demo.port, weight),)


def client_context(pki: Pki, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    pki.server_ca.configure_trust(context)
    if cert is not None:
        cert.configure_cert(context)
    return context


@dataclass
class Reply:
    status: int
    body: bytes
    peer_sha256: str

    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body)
        return result


def request(
    port: int,
    context: ssl.SSLContext,
    method: str = "GET",
    path: str = "/",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        return exchange(conn, method, path, headers, body)
    finally:
        conn.close()


def exchange(
    conn: http.client.HTTPSConnection,
    method: str = "GET",
    path: str = "/",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    payload = response.read()
    assert isinstance(conn.sock, ssl.SSLSocket)
    der = conn.sock.getpeercert(binary_form=True) or b""
    return Reply(response.status, payload, hashlib.sha256(der).hexdigest())


def leaf_sha256(leaf: trustme.LeafCert) -> str:
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    return hashlib.sha256(der).hexdigest()


# --- mutual TLS --------------------------------------------------------------------------


def test_mtls_client_reaches_backend_with_its_identity(
    pki: Pki, plane: DataPlane, backend: DemoBackend
) -> None:
    flags = {"X-Forwarded-Clientcert-enable": True, "X-Forwarded-ELB-ID": True}
    ports = plane.sync(
        [served(pki, member(backend), client_ca=pki.client_ca, insert_headers=flags)]
    )

    reply = request(ports["lsn-1"], client_context(pki, pki.client))

    assert reply.status == 200
    echoed = reply.json()
    assert echoed["backend"] == f"127.0.0.1:{backend.port}"
    seen = echoed["headers"]
    client_der = ssl.PEM_cert_to_DER_cert(pki.client.cert_chain_pems[0].bytes().decode())
    assert seen["X-Forwarded-Clientcert-subjectdn"] == CLIENT_DN
    assert "O=Client CA" in seen["X-Forwarded-Clientcert-issuerdn"]
    assert seen["X-Forwarded-Clientcert-fingerprint"] == hashlib.sha1(client_der).hexdigest()
    assert seen["X-Forwarded-Clientcert-clientverify"] == "SUCCESS"
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "https"
    assert seen["X-Forwarded-Port"] == "443"
    assert seen["X-Forwarded-ELB-ID"] == "lb-1"


def test_mtls_without_client_certificate_is_refused(pki: Pki, plane: DataPlane) -> None:
    ports = plane.sync([served(pki, client_ca=pki.client_ca)])

    with pytest.raises(REFUSED):
        request(ports["lsn-1"], client_context(pki))


def test_mtls_refusal_under_tls13_surfaces_on_first_read(pki: Pki, plane: DataPlane) -> None:
    listener = served(pki, client_ca=pki.client_ca, tls_ciphers_policy="tls-1-2-fs-with-1-3")
    ports = plane.sync([listener])

    with pytest.raises(REFUSED):
        request(ports["lsn-1"], client_context(pki))


def test_client_certificate_from_a_foreign_ca_is_refused(pki: Pki, plane: DataPlane) -> None:
    stranger = trustme.CA().issue_cert("intruder@example.com", common_name="intruder")
    ports = plane.sync([served(pki, client_ca=pki.client_ca)])

    with pytest.raises(REFUSED):
        request(ports["lsn-1"], client_context(pki, stranger))


def test_one_way_https_needs_no_client_certificate(
    pki: Pki, plane: DataPlane, backend: DemoBackend
) -> None:
    ports = plane.sync(
        [served(pki, member(backend), insert_headers={"X-Forwarded-Clientcert-enable": True})]
    )

    reply = request(ports["lsn-1"], client_context(pki))

    assert reply.status == 200
    assert not any(k.startswith("X-Forwarded-Clientcert") for k in reply.json()["headers"])


# --- client-CA rollover ------------------------------------------------------------------


def test_ca_bundle_trusts_every_ca_and_dropping_one_refuses_its_clients(
    pki: Pki, plane: DataPlane, backend: DemoBackend
) -> None:
    new_ca = trustme.CA(organization_name="New Client CA")
    new_client = new_ca.issue_cert("client-2@example.com", common_name="client-2")
    bundle = pki.client_ca.cert_pem.bytes().decode() + new_ca.cert_pem.bytes().decode()
    port = plane.sync([served(pki, member(backend), client_ca=bundle)])["lsn-1"]

    assert request(port, client_context(pki, pki.client)).status == 200
    assert request(port, client_context(pki, new_client)).status == 200

    assert plane.sync([served(pki, member(backend), client_ca=new_ca)]) == {"lsn-1": port}
    assert request(port, client_context(pki, new_client)).status == 200
    with pytest.raises(REFUSED):
        request(port, client_context(pki, pki.client))


# --- server certificate rotation ---------------------------------------------------------


def test_rotation_keeps_the_port_and_never_fails_a_request(
    pki: Pki, plane: DataPlane, backend: DemoBackend
) -> None:
    rotated = pki.server_ca.issue_cert("127.0.0.1", "localhost")
    old = served(pki, member(backend), client_ca=pki.client_ca)
    port = plane.sync([old])["lsn-1"]
    context = client_context(pki, pki.client)
    seen: list[str] = []
    failures: list[BaseException] = []
    halfway = threading.Event()

    def client_loop() -> None:
        for i in range(200):
            try:
                reply = request(port, context)
                assert reply.status == 200
                seen.append(reply.peer_sha256)
            except BaseException as exc:
                failures.append(exc)
            if i == 100:
                halfway.set()

    loop = threading.Thread(target=client_loop)
    loop.start()
    assert halfway.wait(60)
    new_ports = plane.sync([served(pki, member(backend), client_ca=pki.client_ca, server=rotated)])
    loop.join(120)

    assert new_ports == {"lsn-1": port}
    assert failures == []
    assert len(seen) == 200
    assert seen[0] == leaf_sha256(pki.server)
    assert seen[-1] == leaf_sha256(rotated)


def test_open_connection_keeps_its_certificate_across_rotation(
    pki: Pki, plane: DataPlane, backend: DemoBackend
) -> None:
    rotated = pki.server_ca.issue_cert("127.0.0.1", "localhost")
    port = plane.sync([served(pki, member(backend))])["lsn-1"]
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_context(pki), timeout=10)
    try:
        before = exchange(conn)
        plane.sync([served(pki, member(backend), server=rotated)])
        after = exchange(conn)  # same keep-alive connection
    finally:
        conn.close()

    assert before.status == after.status == 200
    assert before.peer_sha256 == after.peer_sha256 == leaf_sha256(pki.server)
    assert request(port, client_context(pki)).peer_sha256 == leaf_sha256(rotated)


# --- proxying ----------------------------------------------------------------------------


def test_no_member_answering_is_502(pki: Pki, plane: DataPlane) -> None:
    closed_port = _free_port()
    ports = plane.sync([served(pki, (ServedMember("127.0.0.1", closed_port),))])

    reply = request(ports["lsn-1"], client_context(pki))

    assert reply.status == 502
    assert b"no backend member answered" in reply.body


def test_no_member_at_all_is_502(pki: Pki, plane: DataPlane) -> None:
    ports = plane.sync([served(pki)])

    assert request(ports["lsn-1"], client_context(pki)).status == 502


def test_member_too_slow_is_504(pki: Pki) -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as silent,
        DataPlane(demo_backends=False, member_timeout=0.3) as plane,
    ):
        member_port = silent.getsockname()[1]
        ports = plane.sync([served(pki, (ServedMember("127.0.0.1", member_port),))])

        reply = request(ports["lsn-1"], client_context(pki))

    assert reply.status == 504


def test_post_body_and_keep_alive_are_proxied(
    pki: Pki, plane: DataPlane, backend: DemoBackend
) -> None:
    port = plane.sync([served(pki, member(backend))])["lsn-1"]
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_context(pki), timeout=10)
    try:
        first = exchange(conn, "POST", "/submit?x=1", body=b"a" * 1000)
        second = exchange(conn, "PUT", "/again", body=b"bb")
    finally:
        conn.close()

    assert first.json()["method"] == "POST"
    assert first.json()["path"] == "/submit?x=1"
    assert first.json()["body_length"] == 1000
    assert second.json()["body_length"] == 2


def test_spoofed_forwarding_headers_are_replaced(
    pki: Pki, plane: DataPlane, backend: DemoBackend
) -> None:
    flags = {"X-Real-IP": True}
    port = plane.sync([served(pki, member(backend), insert_headers=flags)])["lsn-1"]
    spoof = {
        "X-Forwarded-Clientcert-subjectdn": "CN=admin",
        "X-Real-IP": "10.9.9.9",
        "X-Forwarded-Proto": "http",
        "X-Forwarded-For": "10.1.1.1",
    }

    seen = request(port, client_context(pki), headers=spoof).json()["headers"]

    assert "X-Forwarded-Clientcert-subjectdn" not in seen
    assert seen["X-Real-IP"] == "127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "https"
    assert seen["X-Forwarded-For"] == "10.1.1.1, 127.0.0.1"  # appended, as Huawei documents


def test_alias_renames_a_clientcert_header(
    pki: Pki, plane: DataPlane, backend: DemoBackend
) -> None:
    flags = {
        "X-Forwarded-Clientcert-subjectdn-enable": True,
        "X-Forwarded-Clientcert-subjectdn-alias": "X-Client-DN",
        "X-Forwarded-TLS-Protocol": True,
        "X-Forwarded-TLS-Certificate-ID": True,
    }
    listener = served(pki, member(backend), client_ca=pki.client_ca, insert_headers=flags)
    port = plane.sync([listener])["lsn-1"]

    seen = request(port, client_context(pki, pki.client)).json()["headers"]

    assert seen["X-Client-DN"] == CLIENT_DN
    assert "X-Forwarded-Clientcert-subjectdn" not in seen
    assert "X-Forwarded-Clientcert-fingerprint" not in seen
    assert seen["X-Forwarded-TLS-Protocol"] == "TLSv1.2"
    assert seen["X-Forwarded-TLS-Certificate-ID"] == "cert-1"


def test_weighted_round_robin_spreads_by_weight(pki: Pki, plane: DataPlane) -> None:
    heavy, light = DemoBackend("127.0.0.1", 0), DemoBackend("127.0.0.1", 0)
    try:
        members = (*member(heavy, 3), *member(light, 1), ServedMember("127.0.0.1", 1, 0))
        port = plane.sync([served(pki, members)])["lsn-1"]
        picks = [request(port, client_context(pki)).json()["backend"] for _ in range(8)]
    finally:
        heavy.close()
        light.close()

    assert picks.count(f"127.0.0.1:{heavy.port}") == 6
    assert picks.count(f"127.0.0.1:{light.port}") == 2


# --- TLS policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("tls-1-2", "TLSv1.2"), ("tls-1-2-strict-no-cbc", "TLSv1.2"),
     ("tls-1-2-fs-with-1-3", "TLSv1.3"), ("tls-1-0-with-1-3", "TLSv1.3")],
)  # fmt: skip
def test_policy_bounds_the_negotiated_version(
    pki: Pki, plane: DataPlane, policy: str, expected: str
) -> None:
    port = plane.sync([served(pki, tls_ciphers_policy=policy)])["lsn-1"]
    context = client_context(pki)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == expected


def test_tls12_policy_refuses_a_tls13_only_client(pki: Pki, plane: DataPlane) -> None:
    port = plane.sync([served(pki, tls_ciphers_policy="tls-1-2")])["lsn-1"]
    context = client_context(pki)
    context.minimum_version = ssl.TLSVersion.TLSv1_3

    with pytest.raises(ssl.SSLError):
        request(port, context)


def test_alpn_offers_http11_only_even_with_http2_enabled(pki: Pki, plane: DataPlane) -> None:
    port = plane.sync([served(pki, http2_enable=True)])["lsn-1"]
    context = client_context(pki)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.selected_alpn_protocol() == "http/1.1"


# --- listener lifecycle ------------------------------------------------------------------


def test_sync_is_idempotent_and_reuses_a_remembered_port(pki: Pki) -> None:
    wanted = _free_port()
    with DataPlane(demo_backends=False) as plane:
        first = plane.sync([served(pki, bind_port=wanted)])
        again = plane.sync([served(pki, bind_port=wanted)])
    assert first == again == {"lsn-1": wanted}


def test_taken_remembered_port_is_replaced_by_a_free_one(pki: Pki, plane: DataPlane) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = squatter.getsockname()[1]
        port = plane.sync([served(pki, bind_port=taken)])["lsn-1"]
    assert port not in (0, taken)


def test_removed_listener_is_closed_and_frees_its_port(pki: Pki, plane: DataPlane) -> None:
    ports = plane.sync([served(pki), served(pki, listener_id="lsn-2")])
    assert plane.sync([served(pki, listener_id="lsn-2")]) == {"lsn-2": ports["lsn-2"]}

    _assert_port_free(ports["lsn-1"])
    assert request(ports["lsn-2"], client_context(pki)).status == 502


def test_close_frees_every_port(pki: Pki, backend: DemoBackend) -> None:
    plane = DataPlane(demo_backends=False)
    ports = plane.sync([served(pki, member(backend))])
    conn = http.client.HTTPSConnection(
        "127.0.0.1", ports["lsn-1"], context=client_context(pki), timeout=10
    )
    try:
        exchange(conn)  # an idle keep-alive connection must not block close()
        plane.close()
    finally:
        conn.close()
    _assert_port_free(ports["lsn-1"])


def test_non_https_listeners_are_not_served(pki: Pki, plane: DataPlane) -> None:
    assert (
        plane.sync(
            [
                served(pki, protocol="HTTP"),
                served(pki, listener_id="v2", protocol="TERMINATED_HTTPS"),
            ]
        )
        != {}
    )
    assert set(plane.ports()) == {"v2"}


def test_bad_key_is_reported_and_the_old_config_kept(pki: Pki, plane: DataPlane) -> None:
    port = plane.sync([served(pki)])["lsn-1"]
    broken = served(
        pki, server_key_pem="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )

    assert plane.sync([broken]) == {"lsn-1": port}
    assert "lsn-1" in plane.errors
    assert "AAAA" not in plane.errors["lsn-1"]
    assert request(port, client_context(pki)).status == 502  # still served, old certificate


# --- demo backends -----------------------------------------------------------------------


def test_demo_backend_starts_for_a_loopback_member_and_stops_with_it(pki: Pki) -> None:
    member_port = _free_port()
    with DataPlane(demo_backends=True) as plane:
        port = plane.sync([served(pki, (ServedMember("127.0.0.1", member_port),))])["lsn-1"]
        reply = request(port, client_context(pki))
        plane.sync([])
        _assert_port_free(member_port)

    assert reply.status == 200
    assert reply.json()["backend"] == f"127.0.0.1:{member_port}"


def test_demo_backend_is_not_started_over_a_real_backend(pki: Pki, backend: DemoBackend) -> None:
    with DataPlane(demo_backends=True) as plane:
        port = plane.sync([served(pki, member(backend))])["lsn-1"]
        assert request(port, client_context(pki)).status == 200
    # Our backend fixture still owns its port: the data plane neither took nor closed it.
    assert request_plain(backend.port) == 200


def request_plain(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


def _assert_port_free(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_demo_backends_off_starts_none(pki: Pki) -> None:
    member_port = _free_port()
    with DataPlane(demo_backends=False) as plane:
        plane.sync([served(pki, (ServedMember("127.0.0.1", member_port),))])
        _assert_port_free(member_port)


def test_tls10_policy_admits_a_tls10_client_where_local_openssl_allows(
    pki: Pki, plane: DataPlane
) -> None:
    port = plane.sync([served(pki, tls_ciphers_policy="tls-1-0")])["lsn-1"]
    context = client_context(pki)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() == "TLSv1"
    except ssl.SSLError as exc:  # some OpenSSL builds have TLS 1.0 compiled out
        pytest.skip(f"local OpenSSL refuses TLS 1.0: {exc}")


def test_chunked_request_body_is_forwarded_with_a_length(
    pki: Pki, plane: DataPlane, backend: DemoBackend
) -> None:
    port = plane.sync([served(pki, member(backend))])["lsn-1"]
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_context(pki), timeout=10)
    try:
        conn.request("POST", "/upload", body=iter([b"abc", b"defg"]), encode_chunked=True)
        response = conn.getresponse()
        echoed = json.loads(response.read())
    finally:
        conn.close()

    assert echoed["body_length"] == 7
    assert "Transfer-Encoding" not in echoed["headers"]


def test_head_is_answered_without_a_body(pki: Pki, plane: DataPlane, backend: DemoBackend) -> None:
    port = plane.sync([served(pki, member(backend))])["lsn-1"]
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_context(pki), timeout=10)
    try:
        head = exchange(conn, "HEAD")
        after = exchange(conn)  # the keep-alive stream is still in step
    finally:
        conn.close()

    assert (head.status, head.body) == (200, b"")
    assert after.json()["method"] == "GET"
