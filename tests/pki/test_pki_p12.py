""".p12 export: both profiles open in openssl 3 without `-legacy`, modern uses AES-256-CBC with
PBKDF2, passwords come from the environment or a generated 0600 file, and an unchanged identity
is not re-exported (the bytes differ on every export, so "unchanged" is judged from inputs)."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.pki.conftest import CurrentFiles

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import ensure_certificates, export_p12, issue_ca, issue_client
from elb_mtls_deploy.pki.p12 import p12_holds, p12_profile
from elb_mtls_deploy.spec.model import Spec, Subject

OpenSSL = Callable[..., subprocess.CompletedProcess[str]]
SpecFactory = Callable[..., Spec]
CertsFactory = Callable[..., dict[str, Any]]


def open_with_openssl(openssl: OpenSSL, path: Path, password: str) -> str:
    env = {**os.environ, "P12_PASS": password}
    contents = openssl("pkcs12", "-in", str(path), "-passin", "env:P12_PASS", "-nodes", env=env)
    info = openssl(
        "pkcs12", "-in", str(path), "-passin", "env:P12_PASS", "-info", "-noout", env=env
    )
    return contents.stdout + info.stderr + info.stdout


@pytest.mark.parametrize(
    ("profile", "markers"),
    [
        ("modern", ("PBES2, PBKDF2, AES-256-CBC", "MAC: sha256")),
        ("legacy", ("pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1")),
    ],
)
def test_both_profiles_open_in_openssl(
    profile: str, markers: tuple[str, ...], tmp_path: Path, openssl: OpenSSL, now: datetime
) -> None:
    ca = issue_ca(Subject(common_name="CA"), "ec-p256", 30, now)
    client = issue_client(ca, Subject(common_name="alice"), "ec-p256", 30, now)
    bundle = client.to_bundle("alice", "client", "ca")
    data = export_p12(bundle, ca.to_bundle("ca", "ca"), b"s3cret-pass", profile)  # type: ignore[arg-type]
    (tmp_path / "alice.p12").write_bytes(data)
    text = open_with_openssl(openssl, tmp_path / "alice.p12", "s3cret-pass")
    assert "subject=CN = alice" in text and "subject=CN = CA" in text
    assert "BEGIN PRIVATE KEY" in text
    for marker in markers:
        assert marker in text
    assert p12_profile(data) == profile
    assert p12_holds(data, b"s3cret-pass", bundle) and not p12_holds(data, b"wrong", bundle)


def test_wrong_password_is_refused_by_openssl(
    tmp_path: Path, openssl: OpenSSL, now: datetime
) -> None:
    ca = issue_ca(Subject(common_name="CA"), "ec-p256", 30, now)
    bundle = issue_client(ca, Subject(common_name="a"), "ec-p256", 30, now).to_bundle("a", "client")
    (tmp_path / "a.p12").write_bytes(export_p12(bundle, None, b"right", "modern"))
    env = {**os.environ, "P12_PASS": "wrong"}
    done = openssl(
        "pkcs12",
        "-in",
        str(tmp_path / "a.p12"),
        "-passin",
        "env:P12_PASS",
        "-nodes",
        env=env,
        check=False,
    )
    assert done.returncode != 0


def test_generated_password_is_written_once_and_reused(
    spec: Spec, tmp_path: Path, openssl: OpenSSL, now: datetime
) -> None:
    ensure_certificates(spec, tmp_path, {}, now)
    pki = CurrentFiles(tmp_path / "pki")
    password_file = pki / "alice.p12.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((pki / "alice.p12").stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert len(password) >= 32
    text = open_with_openssl(openssl, pki / "alice.p12", password)
    assert "PBES2, PBKDF2, AES-256-CBC" in text
    # The .p12 alone lost: exported again with the same password and identity, into a new
    # generation (generations are never changed once written).
    (pki / "alice.p12").unlink()
    report = ensure_certificates(spec, tmp_path, {}, now)
    alice = next(c for c in report.certificates if c.name == "alice")
    assert alice.action == "kept" and pki / "alice.p12" in alice.files
    assert (pki / "alice.p12").parent.name == "0002"
    assert (pki / "alice.p12.password").read_text().strip() == password
    assert (pki / "alice.key").read_bytes() == (password_file.parent / "alice.key").read_bytes()
    open_with_openssl(openssl, pki / "alice.p12", password)


def test_password_from_env_and_profile_switch(
    make_spec: SpecFactory, certs: CertsFactory, tmp_path: Path, openssl: OpenSSL, now: datetime
) -> None:
    modern = make_spec(**certs(clients__0__p12={"password_env": "ALICE_P12"}))
    env = {"ALICE_P12": "from-the-env"}
    ensure_certificates(modern, tmp_path, env, now)
    pki = CurrentFiles(tmp_path / "pki")
    assert not (pki / "alice.p12.password").exists()
    first = (pki / "alice.p12").read_bytes()
    ensure_certificates(modern, tmp_path, env, now)
    assert (pki / "alice.p12").read_bytes() == first  # unchanged inputs: not re-exported
    legacy = make_spec(**certs(clients__0__p12={"password_env": "ALICE_P12", "profile": "legacy"}))
    report = ensure_certificates(legacy, tmp_path, env, now)
    assert pki / "alice.p12" in report.certificates[2].files
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in open_with_openssl(
        openssl, pki / "alice.p12", "from-the-env"
    )
    # A new password in the environment means a new export.
    again = ensure_certificates(legacy, tmp_path, {"ALICE_P12": "rotated"}, now)
    assert pki / "alice.p12" in again.certificates[2].files


def test_missing_password_variable_is_an_error(
    make_spec: SpecFactory, certs: CertsFactory, tmp_path: Path, now: datetime
) -> None:
    spec = make_spec(**certs(clients__0__p12={"password_env": "ALICE_P12"}))
    with pytest.raises(CertificateError, match="ALICE_P12 is not set"):
        ensure_certificates(spec, tmp_path, {}, now)


def test_empty_password_is_refused(now: datetime) -> None:
    ca = issue_ca(Subject(common_name="CA"), "ec-p256", 30, now)
    bundle = issue_client(ca, Subject(common_name="a"), "ec-p256", 30, now).to_bundle("a", "client")
    with pytest.raises(CertificateError, match="empty"):
        export_p12(bundle, None, b"", "modern")
