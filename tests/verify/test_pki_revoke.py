"""Revoking one client (a stolen laptop) end to end on the emulator: ELB has no CRL, so the
listener still completes the revoked client's handshake; the plan shows the revocation,
`deploy revoked` gives the deny-list, a backend that loads it refuses the client by the
serial header the listener inserts, and `deploy verify` proves it (and fails without it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from elb_mtls_deploy.pki.revoke import DenyList, normal_serial
from tests.verify.conftest import Live, spec_text

pytestmark = pytest.mark.slow

HEADERS = "insert_headers: {forwarded_port: true, client_cert_serial: true}"
TWO = (
    "        - {name: teller, issuer: client-ca, subject: {common_name: teller}}\n"
    "        - {name: alice, issuer: client-ca, subject: {common_name: alice}}\n"
)
REVOKED = (
    "        - {name: teller, issuer: client-ca, subject: {common_name: teller}}\n"
    "      revoked:\n"
    "        - {client: alice, reason: laptop stolen}\n"
)


def spec(live: Live, clients: str) -> str:
    return spec_text(live.members, clients=clients).replace(
        "insert_headers: {forwarded_port: true}", HEADERS
    )


class _Backend(BaseHTTPRequestHandler):
    """A pool member that refuses what the deny-list names (403), as docs/pki.md shows."""

    protocol_version = "HTTP/1.1"
    deny_file: Path

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = type(self).deny_file
        denied = DenyList.load(path).refuses(dict(self.headers)) if path.exists() else None
        status, body = (403, b"revoked\n") if denied else (200, b"ok\n")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def deny_file(live: Live) -> Iterator[Path]:
    path = live.root / "deny.json"
    handler = type("Backend", (_Backend,), {"deny_file": path})
    servers = [ThreadingHTTPServer(("127.0.0.1", port), handler) for port in live.members]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield path
    for server in servers:
        server.shutdown()
        server.server_close()


def rows(out: str) -> dict[str, str]:
    found = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and ":" in parts[0]:
            found[parts[0]] = f"{parts[1]} {parts[2]}"
    return found


def test_a_revoked_client_is_refused_by_the_backend_and_verify_proves_it(
    live: Live, deny_file: Path
) -> None:
    live.write(spec(live, TWO))
    live.apply()
    alice = live.bundles()["alice"]
    assert live.handshake("alice").status == 200

    live.write(spec(live, REVOKED))
    code, out, err = live.run("plan", str(live.spec))
    assert code == 0, out + err
    serial = normal_serial(format(alice.certificate.serial_number, "X"))
    assert f"REVOKED: client alice (laptop stolen; serial {serial})" in out
    assert "still completes its TLS handshake" in out

    # Without the deny-list the listener and backend still let alice in: verify says so.
    code, out, err = live.verify()
    assert code == 1
    assert rows(out)["revoked:alice"].startswith("FAILED accepted (HTTP 200)")

    code, out, err = live.run("revoked", str(live.spec), "--out", str(deny_file))
    assert code == 0, out + err
    document = json.loads(deny_file.read_text())
    assert document["serials"] == [serial] and "PRIVATE KEY" not in deny_file.read_text()
    assert document["entries"][0]["client"] == "alice"

    code, out, err = live.verify()
    assert code == 0, out + err
    seen = rows(out)
    assert seen["revoked:alice"] == "ok the backend refused it (HTTP 403)"
    assert seen["client:teller"].startswith("ok accepted")


def test_a_revoked_name_still_in_the_clients_is_a_spec_error(live: Live) -> None:
    live.write(spec(live, TWO + "      revoked:\n        - {client: alice}\n"))
    code, _, err = live.run("plan", str(live.spec))
    assert code == 1 and "'alice' is revoked but still a certificate of the spec" in err


def test_the_plan_warns_when_no_listener_inserts_the_serial_header(live: Live) -> None:
    live.write(spec_text(live.members, clients=TWO))
    live.apply()
    live.write(spec_text(live.members, clients=REVOKED))
    code, out, _ = live.run("plan", str(live.spec))
    assert code == 0
    assert "WARNING: no listener inserts X-Forwarded-Clientcert-serialnumber" in out
