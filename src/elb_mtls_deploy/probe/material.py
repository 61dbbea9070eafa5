"""Throwaway certificates for one probe run: made in memory, never written, never reused.

Two client CAs (the rollover bundle is both, concatenated), an unrelated third CA for the
negative control, a server certificate for the listener and one client certificate per CA.
Every private key is registered as a secret at once, so no error message can show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from elb_mtls_deploy.errors import register_secret
from elb_mtls_deploy.pki.issue import Issued, issue_ca, issue_client, issue_server
from elb_mtls_deploy.spec.model import Subject

KEY_TYPE = "ec-p256"  # fast to generate; accepted by every documented flavour (§8)
DAYS = 2  # long enough for one run, short enough to be useless if ever leaked
SERVER_NAME = "probe.elb-mtls-deploy.invalid"  # RFC 6761: can never resolve


@dataclass(frozen=True)
class Material:
    ca_a: Issued = field(repr=False)
    ca_b: Issued = field(repr=False)
    ca_foreign: Issued = field(repr=False)
    server: Issued = field(repr=False)
    client_a: Issued = field(repr=False)
    client_b: Issued = field(repr=False)
    client_foreign: Issued = field(repr=False)

    @property
    def bundle_pem(self) -> str:
        """CA A then CA B: what a client-CA rollover uploads."""
        return self.ca_a.certificate_pem + self.ca_b.certificate_pem

    @property
    def server_upload_pem(self) -> str:
        """The server leaf and its issuer, as the tool uploads server certificates."""
        return self.server.certificate_pem + self.ca_a.certificate_pem


def make(run_id: str, now: datetime) -> Material:
    def ca(label: str) -> Issued:
        return issue_ca(_subject(f"elbprobe {run_id} CA {label}"), KEY_TYPE, DAYS, now)

    def client(signer: Issued, label: str) -> Issued:
        subject = _subject(f"elbprobe {run_id} client {label}")
        return issue_client(signer, subject, KEY_TYPE, DAYS, now)

    ca_a, ca_b, ca_foreign = ca("A"), ca("B"), ca("foreign")
    server = issue_server(
        ca_a, _subject(SERVER_NAME), KEY_TYPE, DAYS, now, dns_names=(SERVER_NAME,)
    )
    material = Material(
        ca_a,
        ca_b,
        ca_foreign,
        server,
        client(ca_a, "A"),
        client(ca_b, "B"),
        client(ca_foreign, "foreign"),
    )
    for issued in (ca_a, ca_b, ca_foreign, server, material.client_a, material.client_b):
        register_secret(issued.key_pem)
    register_secret(material.client_foreign.key_pem)
    return material


def _subject(common_name: str) -> Subject:
    return Subject(common_name=common_name, organization="elb-mtls-deploy probe")
