"""Certificate issuance: a CA, a server certificate and N client certificates with `.p12`,
RSA-2048 like the console guide: `deploy certs` (one process, and with worker processes)
vs the guide's openssl command sequence, plus our EC P-256 default in the same table."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from common import Table, Target, ratio, seconds, temp_dir, timed

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
        guide, guide_cpu = _measured(lambda: _openssl_guide(where, clients, password))
    rows = []
    for label, key_type, workers in (
        ("ours: deploy certs, in-process, RSA-2048", "rsa-2048", 1),
        ("ours: deploy certs, 2 worker processes, RSA-2048", "rsa-2048", 2),
        ("ours: deploy certs, in-process, EC P-256 (default)", "ec-p256", 1),
        ("ours: deploy certs, 2 worker processes, EC P-256", "ec-p256", 2),
    ):
        with temp_dir("ours") as where:
            rows.append((label, *_measured(partial(_certs, where, clients, key_type, workers))))
    table = Table(
        f"Certificate issuance: 1 CA + 1 server + {clients} clients with .p12",
        ["run", "wall", "per client", "ours / baseline", "speed-up", "CPU", "CPU speed-up"],
    )
    table.add(
        f"baseline: console guide, openssl, RSA-2048 ({guide.value} processes)",
        seconds(guide.seconds), seconds(guide.seconds / clients), "1.00x", "1.0x",
        seconds(guide_cpu), "1.0x",
    )  # fmt: skip
    for label, result, cpu in rows:
        table.add(
            label, seconds(result.seconds), seconds(result.seconds / clients),
            ratio(result.seconds, guide.seconds), f"{guide.seconds / result.seconds:.1f}x",
            seconds(cpu), f"{guide_cpu / cpu:.1f}x",
        )  # fmt: skip
    best = min(rows[0][1].seconds, rows[1][1].seconds)
    table.targets.append(
        Target(
            "issuance speed-up at RSA-2048",
            ">= 3x faster than the guide's openssl sequence, same .p12 KDF rounds",
            f"{guide.seconds / best:.1f}x",
            guide.seconds / best >= 3,
        )
    )
    load = os.getloadavg()[0]
    table.notes += [
        f"load average at the end: {load:.1f} on {os.cpu_count()} cores (a shared machine): "
        "with the cores busy elsewhere the worker rows cannot gain, so `deploy certs` starts "
        "workers only for idle cores (parallel.worker_count); CPU = user + system seconds of "
        "the process and the children it waited for",
        "ours is the real `deploy certs` stage (ensure_certificates): crash-safe generations "
        "(one sync(2) before the manifest switch), lint; keys 0600",
        "workers: key generation and .p12 export in spawn-started processes (both CPU-bound "
        "in OpenSSL, holding the GIL); certificates are signed in the main process, so a CA "
        "key never reaches a worker; batches under 8 stay in-process",
        "the .p12 is the same in every row of ours: AES-256-CBC + PBKDF2-HMAC-SHA256 at "
        "100,000 rounds (p12.py); the guide's is OpenSSL 3's default (AES-256, PBKDF2 at "
        "2,048 rounds) and its certificates are SHA-1, 5000 days, no SAN/EKU",
        "RSA key generation (random prime search) dominates the RSA rows and varies run to run",
    ]
    return table


def _measured(job: Callable[[], Any]) -> tuple[Any, float]:
    """(timed result, CPU seconds of this process and the children it waited for)."""
    before = os.times()
    result = timed(job)
    after = os.times()
    fields = ("user", "system", "children_user", "children_system")
    return result, sum(getattr(after, f) - getattr(before, f) for f in fields)


def _certs(where: Path, clients: int, key_type: str, workers: int) -> None:
    from elb_mtls_deploy.pki import ensure_certificates, store
    from elb_mtls_deploy.spec.model import Spec

    spec = Spec.model_validate(_spec(clients, key_type))
    saved = store.worker_count
    store.worker_count = lambda: workers  # type: ignore[assignment]
    try:
        report = ensure_certificates(spec, where, {}, datetime.now(UTC))
    finally:
        store.worker_count = saved  # type: ignore[assignment]
    assert len(report.certificates) == clients + 2 and report.findings == ()


def _spec(clients: int, key_type: str) -> dict[str, Any]:
    subject = {"organization": "ELB"}
    return {
        "stack": "bench",
        "target": {"kind": "embedded"},
        "certificates": {
            "cas": [{"name": "ca", "key_type": key_type,
                     "subject": {"common_name": "Bench CA", **subject}}],
            "servers": [{"name": "www", "issuer": "ca", "key_type": key_type,
                         "subject": {"common_name": "www.test.com", **subject},
                         "dns_names": ["www.test.com"]}],
            "clients": [
                {"name": f"client{i:03d}", "issuer": "ca", "key_type": key_type,
                 "subject": {"common_name": f"client{i:03d}", **subject}, "p12": {}}
                for i in range(clients)
            ],
        },
        "listeners": [{"name": "www", "loadbalancer": {"name": "lb"},
                       "server_certificate": "www", "client_ca": "ca", "pool": {}}],
    }  # fmt: skip


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


def _openssl_guide(where: Path, clients: int, password: str) -> int:
    """Steps 5-8 of the guide for the CA and the server, then for every client; returns
    the number of processes run."""
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
    env = {**os.environ, "BENCH_P12_PASSWORD": password}
    for i in range(clients):
        leaf(f"client{i:03d}", f"client{i:03d}")
        subprocess.run(
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
        procs += 1
    return procs
