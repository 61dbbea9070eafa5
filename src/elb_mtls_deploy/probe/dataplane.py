"""The data-plane probes: real TLS handshakes and one request through the probe listener.

Reuses `verify.handshake` (contexts, client identities, the accepted/refused rule). Runs
only where the listener can be reached: `--address`, or the emulator's data plane (found
as `deploy verify` finds it, `GET /_emulator/dataplane`); skipped with the reason
otherwise. The header probe also needs a backend that echoes the request headers, which
only the emulator's demo backends are.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass

from elb_mtls_deploy.pki.issue import Issued
from elb_mtls_deploy.probe.checks import CLIENTCERT_SWITCH, Context, _skip
from elb_mtls_deploy.probe.material import SERVER_NAME
from elb_mtls_deploy.probe.report import Answer, Finding
from elb_mtls_deploy.verify.handshake import (
    TIMEOUT_SECONDS,
    Attempt,
    ClientIdentity,
    Probe,
    attempt,
    client_context,
)

PROPAGATION_SECONDS = 10.0  # a real listener may take a moment to load a new CA
_HEADER = CLIENTCERT_SWITCH.removesuffix("-enable")


@dataclass(frozen=True)
class Reach:
    """Where the probe listener answers, and whether an echo backend stands behind it."""

    host: str | None
    port: int
    source: str
    echo: bool = False

    @property
    def reason(self) -> str:
        return self.source


def _probe(ctx: Context, client: Issued | None, label: str) -> Probe:
    identity = None
    if client is not None:
        identity = ClientIdentity(label, client.certificate_pem, client.key_pem)
    return Probe(SERVER_NAME, identity, ctx.material.ca_a.certificate_pem)


def multi_ca_trust(ctx: Context, reach: Reach) -> Finding:
    question = "whether a client-CA certificate holding two CAs trusts clients of both"
    if reach.host is None:
        return _skip("multi_ca_trust", question, reach.reason)
    ctx.update_listener({"client_ca_tls_container_ref": ctx.ids["bundle"]})
    m = ctx.material
    clients = {"A": m.client_a, "B": m.client_b, "foreign": m.client_foreign}
    deadline = time.monotonic() + PROPAGATION_SECONDS
    while True:
        seen = {k: attempt(reach.host, reach.port, _probe(ctx, c, k)) for k, c in clients.items()}
        match = _trusts_both(seen)
        if match or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    return Finding(
        "multi_ca_trust",
        question,
        f"bound the CA A + CA B bundle; connected to {reach.host}:{reach.port} with a client "
        "of A, of B and of an unrelated CA",
        "clients of both CAs accepted, the unrelated one refused (the client-CA rollover "
        "relies on it; the emulator trusts every CA of the bundle)",
        ", ".join(f"{k}: {a.outcome}" for k, a in seen.items()),
        match,
        None,
        {f"client_{k}": a.detail for k, a in seen.items()} | {"address_from": reach.source},
        consequence="a client-CA rollover with a bundle locks out one CA's clients on this "
        "account: roll over by switching the listener to the new CA in one step instead",
    )


def _trusts_both(seen: dict[str, Attempt]) -> bool:
    return (
        seen["A"].outcome == "accepted"
        and seen["B"].outcome == "accepted"
        and seen["foreign"].outcome == "refused"
    )


def clientcert_headers_arrive(ctx: Context, reach: Reach) -> Finding:
    question = "whether the client-certificate headers reach the backend"
    if ctx.flavour == "v2":
        return _skip("clientcert_headers_arrive", question, "v2 has no such headers")
    if reach.host is None:
        return _skip("clientcert_headers_arrive", question, reach.reason)
    if not reach.echo:
        return _skip(
            "clientcert_headers_arrive",
            question,
            "needs a pool member that echoes request headers; only the emulator's demo "
            "backends do (check your own backend's log for X-Forwarded-Clientcert-subjectdn)",
        )
    body, detail = fetch(reach.host, reach.port, _probe(ctx, ctx.material.client_a, "A"))
    echoed = (body or {}).get("headers")
    headers = {str(k).lower(): v for k, v in echoed.items()} if isinstance(echoed, dict) else {}
    value = headers.get(_HEADER.lower())
    subject = ctx.material.client_a.certificate.subject.rfc4514_string()
    match = value is not None
    return Finding(
        "clientcert_headers_arrive",
        question,
        f"GET / with a client of CA A through {reach.host}:{reach.port}; read the echo",
        f"{_HEADER} arrives with the client's subject DN (the emulator sends it)",
        f"{_HEADER}: {value!r}" if value is not None else f"{_HEADER} missing ({detail})",
        match,
        Answer(body is not None),
        {"expected_subject": subject, "received": value},
        consequence="the backend cannot authorise by client identity through this header",
    )


def fetch(host: str, port: int, probe: Probe) -> tuple[dict[str, object] | None, str]:
    """One GET / (Connection: close); the JSON body of the answer, or None and why."""
    context = client_context(probe)
    try:
        with (
            socket.create_connection((host, port), timeout=TIMEOUT_SECONDS) as raw,
            context.wrap_socket(raw, server_hostname=probe.server_name) as tls,
        ):
            tls.sendall(
                f"GET / HTTP/1.1\r\nHost: {probe.server_name}\r\nConnection: close\r\n\r\n".encode()
            )
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    except OSError as exc:
        return None, f"request failed: {exc}"
    head, _, payload = data.partition(b"\r\n\r\n")
    try:
        body = json.loads(payload)
    except ValueError:
        status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
        return None, f"not a JSON echo: {status_line}"
    return (body if isinstance(body, dict) else None), "ok"
