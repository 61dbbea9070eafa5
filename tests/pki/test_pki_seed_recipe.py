"""The console guide's openssl recipe (tests/pki/seed_recipe.sh), run for real and imported.

What OpenSSL 3.0 produces from it: X.509 **version 1** certificates (no extensions at all —
no basicConstraints, keyUsage, EKU, SAN or key identifiers), sha1WithRSAEncryption, 5000 days,
RSA-2048 keys written as PKCS#8 ("BEGIN PRIVATE KEY"). The linter must flag all of it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from elb_mtls_deploy.pki import Finding, ensure_certificates, lint_pem
from elb_mtls_deploy.spec.model import Spec

RECIPE = Path(__file__).with_name("seed_recipe.sh")


def run_recipe(tmp_path: Path, side: str) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    env = {**os.environ, "SEED_P12_PASSWORD": "seed-recipe-test"}
    subprocess.run(
        ["sh", str(RECIPE), str(tmp_path), side], check=True, capture_output=True, env=env
    )
    return tmp_path / side


def problems(findings: list[Finding] | tuple[Finding, ...], name: str) -> set[tuple[str, str]]:
    return {(f.severity, f.problem) for f in findings if f.certificate == name}


def has(found: set[tuple[str, str]], severity: str, fragment: str) -> bool:
    return any(s == severity and fragment in p for s, p in found)


@pytest.fixture
def seed_spec(tmp_path: Path) -> Callable[..., Spec]:
    def build() -> Spec:
        data: dict[str, Any] = {
            "stack": "seed",
            "target": {"kind": "embedded"},
            "certificates": {
                "cas": [{"name": "elb-ca", "import": {"certificate": "server/ca.crt"}}],
                "servers": [
                    {
                        "name": "elb-server",
                        "import": {
                            "certificate": "server/server.crt",
                            "key": {"file": "server/server.key"},
                        },
                    }
                ],
            },
            "listeners": [
                {
                    "name": "web",
                    "loadbalancer": {"name": "lb"},
                    "server_certificate": "elb-server",
                    "client_ca": "elb-ca",
                    "pool": {},
                }
            ],
        }
        return Spec.model_validate(data)

    return build


def test_openssl3_makes_version_1_certificates_without_extensions(tmp_path: Path) -> None:
    side = run_recipe(tmp_path, "server")
    for name in ("ca.crt", "server.crt"):
        cert = x509.load_pem_x509_certificate((side / name).read_bytes())
        assert cert.version == x509.Version.v1
        assert len(cert.extensions) == 0
        assert cert.signature_hash_algorithm is not None
        assert cert.signature_hash_algorithm.name == "sha1"
        assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 5000
    assert (side / "server.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_server_side_imports_and_is_flagged(tmp_path: Path, seed_spec: Callable[..., Spec]) -> None:
    run_recipe(tmp_path, "server")
    now = datetime.now(UTC)  # after openssl stamped the certificates
    report = ensure_certificates(seed_spec(), tmp_path, {}, now)
    assert [(c.name, c.action) for c in report.certificates] == [
        ("elb-ca", "imported"),
        ("elb-server", "imported"),
    ]
    assert report.bundles["elb-server"].issuer_name == "elb-ca"  # found by signature
    ca, server = problems(report.findings, "elb-ca"), problems(report.findings, "elb-server")
    assert has(ca, "error", "signed with SHA1")
    assert has(ca, "error", "lacks a critical basicConstraints CA:TRUE extension (it has none)")
    assert has(ca, "error", "lacks keyUsage keyCertSign")
    assert has(server, "error", "signed with SHA1")
    assert has(server, "error", "no subjectAltName")
    assert has(server, "error", "lacks extendedKeyUsage serverAuth")
    assert has(server, "warning", "valid for 5000 days")
    # RSA-2048, key matches, chain reaches the CA: none of those rules fire.
    assert not has(server, "error", "private key does not belong")
    assert not has(server, "error", "chain")
    assert not any("bits" in p for _, p in server | ca)
    assert len(ca) == 3 and len(server) == 4


def test_client_side_is_flagged(tmp_path: Path) -> None:
    side = run_recipe(tmp_path, "client")
    now = datetime.now(UTC)
    findings = lint_pem(
        "guide-client",
        "client",
        (side / "client.crt").read_text(),
        key_pem=(side / "client.key").read_text(),
        ca_pem=(side / "ca.crt").read_text(),
        ca_name="guide-ca",
        now=now,
    )
    found = problems(findings, "guide-client")
    assert has(found, "error", "signed with SHA1")
    assert has(found, "error", "lacks extendedKeyUsage clientAuth")
    assert has(found, "warning", "valid for 5000 days")
    assert not has(found, "error", "subjectAltName")  # a client needs none
    assert all(f.fix for f in findings)
