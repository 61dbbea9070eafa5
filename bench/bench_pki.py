"""Certificate issuance: a CA, a server certificate and N client certificates with `.p12`,
RSA-2048 like the console guide: our PKI API vs the guide's openssl command sequence."""

from __future__ import annotations

import os
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import Table, ratio, seconds, temp_dir, timed

# The console guide's openssl configuration files (Huawei console guide), verbatim.
_CA_CONF = (
    "[ req ]\ndistinguished_name = req_distinguished_name\nprompt = no\n\n"
    "[ req_distinguished_name ]\n O = ELB\n"
)
_LEAF_CONF = _CA_CONF + " CN = {cn}\n"


def run(ctx: Any) -> Table:
    clients = ctx.clients
    password = secrets.token_urlsafe(16)  # throwaway, for this run's temp files only
    with temp_dir("openssl") as where:
        guide = timed(lambda: _openssl_guide(where, clients, password))
    with temp_dir("ours") as where:
        ours = timed(lambda: _ours(where, clients, password.encode()))
    table = Table(
        f"Certificate issuance: 1 CA + 1 server + {clients} clients with .p12, RSA-2048",
        ["run", "wall", "of which .p12", "per client", "ours / baseline"],
    )
    guide_p12, guide_procs = guide.value
    table.add(
        f"baseline: console guide, openssl ({guide_procs} processes)",
        seconds(guide.seconds),
        seconds(guide_p12),
        seconds(guide.seconds / clients),
        "1.00x",
    )
    table.add(
        "ours: pki.issue_ca/issue_server/issue_client + export_p12",
        seconds(ours.seconds),
        seconds(ours.value),
        seconds(ours.seconds / clients),
        ratio(ours.seconds, guide.seconds),
    )
    table.notes += [
        "both sequential on one core; RSA key generation (random prime search) dominates "
        "both and varies from run to run",
        "the outputs differ in quality, not only in speed: ours are SHA-256 with SAN/EKU "
        "and the .p12 is AES-256 + PBKDF2 at 100,000 rounds; the guide's are SHA-1, "
        "5000 days, and OpenSSL 3's default .p12 (AES-256, PBKDF2 at 2,048 rounds)",
        "both write every certificate, key and .p12 to a temp dir (keys 0600 for ours)",
    ]
    return table


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


def _openssl_guide(where: Path, clients: int, password: str) -> tuple[float, int]:
    """Steps 5-8 of the guide for the CA and the server, then for every client; returns
    the time spent in `openssl pkcs12 -export` and the number of processes run."""
    (where / "ca_cert.conf").write_text(_CA_CONF)
    procs = 0

    def leaf(name: str, cn: str) -> None:
        nonlocal procs
        (where / f"{name}_cert.conf").write_text(_LEAF_CONF.format(cn=cn))
        _openssl("genrsa", "-out", f"{name}.key", "2048", cwd=where)
        _openssl(
            "req",
            "-out",
            f"{name}.csr",
            "-key",
            f"{name}.key",
            "-new",
            "-config",
            f"./{name}_cert.conf",
            cwd=where,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-out",
            f"{name}.crt",
            "-sha1",
            "-CAcreateserial",
            "-days",
            "5000",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            cwd=where,
        )
        procs += 3

    _openssl("genrsa", "-out", "ca.key", "2048", cwd=where)
    _openssl(
        "req", "-out", "ca.csr", "-key", "ca.key", "-new", "-config", "./ca_cert.conf", cwd=where
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "ca.csr",
        "-out",
        "ca.crt",
        "-sha1",
        "-days",
        "5000",
        "-signkey",
        "ca.key",
        cwd=where,
    )
    procs += 3
    leaf("server", "www.test.com")
    p12 = 0.0
    env = {**os.environ, "BENCH_P12_PASSWORD": password}
    for i in range(clients):
        leaf(f"client{i:03d}", f"client{i:03d}")
        step = timed(
            lambda i=i: subprocess.run(
                [
                    "openssl",
                    "pkcs12",
                    "-export",
                    "-clcerts",
                    "-in",
                    f"client{i:03d}.crt",
                    "-inkey",
                    f"client{i:03d}.key",
                    "-out",
                    f"client{i:03d}.p12",
                    "-passout",
                    "env:BENCH_P12_PASSWORD",
                ],
                check=True,
                capture_output=True,
                cwd=where,
                env=env,
            )
        )
        p12 += step.seconds
        procs += 1
    return p12, procs


def _ours(where: Path, clients: int, password: bytes) -> float:
    """The same with our PKI API; returns the time spent in `export_p12`."""
    from elb_mtls_deploy.pki import export_p12, issue_ca, issue_client, issue_server
    from elb_mtls_deploy.spec.model import Subject

    now = datetime.now(UTC)
    ca = issue_ca(Subject(common_name="Bench CA", organization="ELB"), "rsa-2048", 3650, now)
    ca_bundle = ca.to_bundle("ca", "ca")
    _write(where, "ca", ca.certificate_pem, ca.key_pem)
    server = issue_server(
        ca,
        Subject(common_name="www.test.com", organization="ELB"),
        "rsa-2048",
        397,
        now,
        dns_names=("www.test.com",),
    )
    _write(where, "server", server.certificate_pem, server.key_pem)
    p12 = 0.0
    for i in range(clients):
        name = f"client{i:03d}"
        issued = issue_client(
            ca, Subject(common_name=name, organization="ELB"), "rsa-2048", 397, now
        )
        _write(where, name, issued.certificate_pem, issued.key_pem)
        bundle = issued.to_bundle(name, "client", "ca")
        step = timed(lambda b=bundle: export_p12(b, ca_bundle, password, "modern"))
        p12 += step.seconds
        _write_secret(where / f"{name}.p12", step.value)
    return p12


def _write(where: Path, name: str, certificate_pem: str, key_pem: str) -> None:
    (where / f"{name}.crt").write_text(certificate_pem)
    _write_secret(where / f"{name}.key", key_pem.encode())


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
