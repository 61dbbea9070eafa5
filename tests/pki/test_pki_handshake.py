"""Real TLS over loopback with Python's `ssl`: a server that requires client certificates and
trusts our CA, using the files `ensure_certificates` wrote — plus the negative controls."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from tests.pki.conftest import CurrentFiles

from elb_mtls_deploy.pki import ensure_certificates, issue_ca, issue_client
from elb_mtls_deploy.spec.model import Spec, Subject


@dataclass
class Outcome:
    client: bytes | Exception | None = None
    server_error: Exception | None = None
    peer: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.client == b"ok" and self.server_error is None


@pytest.fixture
def pki(spec: Spec, tmp_path: Path, now: datetime) -> CurrentFiles:
    ensure_certificates(spec, tmp_path, {}, now)
    return CurrentFiles(tmp_path / "pki")


def server_context(pki: CurrentFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "web.crt", pki / "web.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(pki / "ca.crt")
    return context


def client_context(pki: CurrentFiles, identity: tuple[Path, Path] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if identity is not None:
        context.load_cert_chain(*identity)
    return context


def _serve_once(context: ssl.SSLContext, listener: socket.socket, outcome: Outcome) -> None:
    try:
        conn, _ = listener.accept()
        with conn, context.wrap_socket(conn, server_side=True) as tls:
            outcome.peer = dict(tls.getpeercert() or {})
            tls.sendall(b"ok")
    except (ssl.SSLError, OSError) as exc:
        outcome.server_error = exc


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> Outcome:
    outcome = Outcome()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        thread = threading.Thread(target=_serve_once, args=(server, listener, outcome))
        thread.start()
        try:
            with (
                socket.create_connection(listener.getsockname()[:2], timeout=10) as raw,
                client.wrap_socket(raw, server_hostname=hostname) as tls,
            ):
                # TLS 1.3 reports a refused client certificate on the first read, not in
                # the handshake, so read before judging.
                outcome.client = tls.recv(2)
        except (ssl.SSLError, OSError) as exc:
            outcome.client = exc
        thread.join(10)
    return outcome


def test_our_client_certificate_is_accepted(pki: CurrentFiles) -> None:
    outcome = handshake(
        server_context(pki),
        client_context(pki, (pki / "alice.crt", pki / "alice.key")),
        "www.test.com",
    )
    assert outcome.ok, outcome
    assert outcome.peer["subject"] == ((("commonName", "alice"),),)


def test_no_client_certificate_is_refused(pki: CurrentFiles) -> None:
    outcome = handshake(server_context(pki), client_context(pki, None), "www.test.com")
    assert not outcome.ok
    assert isinstance(outcome.server_error, ssl.SSLError)


def test_a_client_certificate_from_a_foreign_ca_is_refused(
    pki: CurrentFiles, tmp_path: Path, now: datetime
) -> None:
    foreign_ca = issue_ca(Subject(common_name="Demo CA", organization="ELB"), "ec-p256", 30, now)
    mallory = issue_client(foreign_ca, Subject(common_name="alice"), "ec-p256", 30, now)
    (tmp_path / "m.crt").write_text(mallory.certificate_pem)
    (tmp_path / "m.key").write_text(mallory.key_pem)
    outcome = handshake(
        server_context(pki),
        client_context(pki, (tmp_path / "m.crt", tmp_path / "m.key")),
        "www.test.com",
    )
    assert not outcome.ok
    assert "certificate verify failed" in str(outcome.server_error)


@pytest.mark.parametrize("hostname", ["www.test.com", "localhost", "127.0.0.1"])
def test_hostname_check_accepts_every_san_entry(pki: CurrentFiles, hostname: str) -> None:
    identity = (pki / "alice.crt", pki / "alice.key")
    assert handshake(server_context(pki), client_context(pki, identity), hostname).ok


def test_hostname_check_refuses_a_name_outside_the_san(pki: CurrentFiles) -> None:
    identity = (pki / "alice.crt", pki / "alice.key")
    outcome = handshake(server_context(pki), client_context(pki, identity), "other.test.com")
    assert isinstance(outcome.client, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in str(outcome.client)
