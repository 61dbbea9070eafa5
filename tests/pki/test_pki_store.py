"""`ensure_certificates` and `load_bundles`: idempotent, never overwrite silently, 0600 keys,
re-issue exactly when the spec, the issuer or the calendar says so."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.pki.conftest import CurrentFiles, OpenSSL

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import ensure_certificates, issue_ca, load_bundles
from elb_mtls_deploy.pki.keys import PrivateKey, generate_key, key_to_pem, load_key
from elb_mtls_deploy.spec.model import Spec, Subject

SpecFactory = Callable[..., Spec]
CertsFactory = Callable[..., dict[str, Any]]


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """relative path -> (content, mtime_ns, mode) for every file below `directory`."""
    return {
        str(p.relative_to(directory)): (
            p.read_bytes(),
            p.stat().st_mtime_ns,
            stat.S_IMODE(p.stat().st_mode),
        )
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def load_pem(pem: str) -> PrivateKey:
    return load_key(pem.encode(), where="test", password=None, password_env=None)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    return tmp_path / "pki"


@pytest.fixture
def current(tmp_path: Path) -> CurrentFiles:
    return CurrentFiles(tmp_path / "pki")


def test_first_run_issues_everything_with_safe_permissions(
    spec: Spec, tmp_path: Path, pki: Path, now: datetime
) -> None:
    report = ensure_certificates(spec, tmp_path, {}, now)
    assert [(c.name, c.role, c.action) for c in report.certificates] == [
        ("ca", "ca", "issued"),
        ("web", "server", "issued"),
        ("alice", "client", "issued"),
    ]
    for directory in (pki, pki / "demo", pki / "demo" / "web", pki / "demo" / "web" / "0001"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    files = snapshot(pki)
    assert sorted(files) == [
        "demo/alice/0001/alice.crt", "demo/alice/0001/alice.key", "demo/alice/0001/alice.p12",
        "demo/alice/0001/alice.p12.password", "demo/ca/0001/ca.crt", "demo/ca/0001/ca.key",
        "demo/manifest.json", "demo/web/0001/web.crt", "demo/web/0001/web.key",
    ]  # fmt: skip
    for name, (_, _, mode) in files.items():
        assert mode == (0o644 if name.endswith((".crt", ".json")) else 0o600), name
    assert report.findings == ()
    web = report.bundles["web"]
    assert web.issuer_name == "ca" and web.chain_pem == ""
    assert report.certificates[1].fingerprint == web.fingerprint


def test_second_run_keeps_everything_byte_identical(
    spec: Spec, tmp_path: Path, pki: Path, now: datetime
) -> None:
    ensure_certificates(spec, tmp_path, {}, now)
    before = snapshot(pki)
    report = ensure_certificates(spec, tmp_path, {}, now + timedelta(days=1))
    assert {c.action for c in report.certificates} == {"kept"}
    assert all(c.files == () for c in report.certificates)
    assert not report.changed
    assert snapshot(pki) == before


def test_load_bundles_reads_what_ensure_wrote_without_writing(
    spec: Spec, tmp_path: Path, pki: Path, now: datetime
) -> None:
    written = ensure_certificates(spec, tmp_path, {}, now).bundles
    before = snapshot(pki)
    loaded = load_bundles(spec, tmp_path, {})
    assert loaded == written
    assert snapshot(pki) == before
    assert loaded["alice"].role == "client" and loaded["alice"].key_pem is not None


def test_load_bundles_without_certs_says_run_deploy_certs(spec: Spec, tmp_path: Path) -> None:
    with pytest.raises(CertificateError) as caught:
        load_bundles(spec, tmp_path, {})
    assert "deploy certs" in str(caught.value)
    assert not (tmp_path / "pki").exists()


def test_renewal_inside_renew_before_keeps_every_generation(
    spec: Spec, tmp_path: Path, pki: Path, current: CurrentFiles, now: datetime
) -> None:
    first = ensure_certificates(spec, tmp_path, {}, now).bundles
    old_web = snapshot(pki / "demo" / "web" / "0001")
    later = now + timedelta(days=397 - 10)
    report = ensure_certificates(spec, tmp_path, {}, later)
    actions = {c.name: c for c in report.certificates}
    assert actions["ca"].action == "kept"
    assert actions["web"].action == "renewed" and actions["alice"].action == "renewed"
    assert "within renew_before_days=30" in actions["web"].reason
    assert "generation 0001 kept" in actions["web"].reason
    assert snapshot(pki / "demo" / "web" / "0001") == old_web  # untouched, still there
    assert current / "web.key" == pki / "demo" / "web" / "0002" / "web.key"
    assert current / "web.key" in actions["web"].files
    assert report.bundles["web"].fingerprint != first["web"].fingerprint
    assert current / "alice.p12" in actions["alice"].files  # exported with the new identity


def test_expired_certificates_are_renewed(spec: Spec, tmp_path: Path, now: datetime) -> None:
    ensure_certificates(spec, tmp_path, {}, now)
    report = ensure_certificates(spec, tmp_path, {}, now + timedelta(days=400))
    web = next(c for c in report.certificates if c.name == "web")
    assert web.action == "renewed" and web.reason.startswith("expired on")


def test_adding_a_san_reissues_only_that_server(
    make_spec: SpecFactory, certs: CertsFactory, tmp_path: Path, now: datetime
) -> None:
    ensure_certificates(make_spec(), tmp_path, {}, now)
    wider = make_spec(**certs(servers__0__dns_names=["www.test.com", "localhost", "api.test.com"]))
    report = ensure_certificates(wider, tmp_path, {}, now)
    actions = {c.name: (c.action, c.reason) for c in report.certificates}
    assert actions["ca"][0] == actions["alice"][0] == "kept"
    assert actions["web"][0] == "issued"
    assert actions["web"][1].startswith("subjectAltName changed")
    assert "api.test.com" in report.bundles["web"].dns_names
    assert (tmp_path / "pki" / "demo" / "web" / "0001" / "web.crt").exists()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"servers__0__subject": {"common_name": "www2.test.com"}}, "subject changed"),
        ({"servers__0__key_type": "rsa-2048"}, "key type changed (was ec-p256)"),
    ],
)
def test_subject_or_key_type_change_reissues(
    make_spec: SpecFactory,
    certs: CertsFactory,
    tmp_path: Path,
    now: datetime,
    change: dict[str, Any],
    reason: str,
) -> None:
    ensure_certificates(make_spec(), tmp_path, {}, now)
    report = ensure_certificates(make_spec(**certs(**change)), tmp_path, {}, now)
    web = next(c for c in report.certificates if c.name == "web")
    assert web.action == "issued" and web.reason.startswith(reason)


@pytest.mark.parametrize(
    "change",
    [{"cas__0__subject": {"common_name": "Other CA"}}, {"cas__0__key_type": "rsa-2048"}],
)
def test_a_ca_is_never_replaced_implicitly(
    make_spec: SpecFactory,
    certs: CertsFactory,
    tmp_path: Path,
    pki: Path,
    now: datetime,
    change: dict[str, Any],
) -> None:
    ensure_certificates(make_spec(), tmp_path, {}, now)
    before = snapshot(pki)
    with pytest.raises(CertificateError, match="trust anchor is never replaced") as caught:
        ensure_certificates(make_spec(**certs(**change)), tmp_path, {}, now)
    assert "docs/rotation.md" in str(caught.value)
    assert snapshot(pki) == before


def test_an_expiring_ca_is_renewed_with_the_same_key_so_its_leaves_stay(
    spec: Spec, tmp_path: Path, pki: Path, now: datetime
) -> None:
    first = ensure_certificates(spec, tmp_path, {}, now).bundles
    report = ensure_certificates(spec, tmp_path, {}, now + timedelta(days=3650 - 10))
    actions = {c.name: c.action for c in report.certificates}
    assert actions["ca"] == "renewed"
    ca = report.bundles["ca"]
    assert ca.fingerprint != first["ca"].fingerprint
    assert ca.public_key_fingerprint == first["ca"].public_key_fingerprint
    assert (pki / "demo" / "ca" / "0001" / "ca.key").read_bytes() == (
        pki / "demo" / "ca" / "0002" / "ca.key"
    ).read_bytes()


def test_a_mismatched_key_is_an_error_and_nothing_is_overwritten(
    spec: Spec, tmp_path: Path, pki: Path, current: CurrentFiles, now: datetime
) -> None:
    ensure_certificates(spec, tmp_path, {}, now)
    (current / "web.key").write_text(key_to_pem(generate_key("ec-p256")))
    os.chmod(current / "web.key", 0o600)
    before = snapshot(pki)
    with pytest.raises(CertificateError, match="does not match its certificate") as caught:
        ensure_certificates(spec, tmp_path, {}, now + timedelta(days=390))  # would renew
    assert "restore the key issued with that certificate" in str(caught.value)
    assert snapshot(pki) == before


def test_a_key_without_its_certificate_is_an_error(
    spec: Spec, tmp_path: Path, pki: Path, current: CurrentFiles, now: datetime
) -> None:
    ensure_certificates(spec, tmp_path, {}, now)
    (current / "web.crt").unlink()
    before = snapshot(pki)
    with pytest.raises(
        CertificateError, match=r"web\.key exists but its certificate web\.crt does not"
    ):
        ensure_certificates(spec, tmp_path, {}, now)
    assert snapshot(pki) == before


def test_a_certificate_without_its_key_is_an_error(
    spec: Spec, tmp_path: Path, current: CurrentFiles, now: datetime
) -> None:
    ensure_certificates(spec, tmp_path, {}, now)
    (current / "alice.key").unlink()
    with pytest.raises(CertificateError, match=r"alice\.crt exists but its private key"):
        ensure_certificates(spec, tmp_path, {}, now)


# --- CA key outside the PKI dir --------------------------------------------------------


def ca_key_spec(make_spec: SpecFactory, certs: CertsFactory, **key: str) -> Spec:
    return make_spec(**certs(cas__0__key=key))


def test_ca_key_from_env_is_used_and_never_written(
    make_spec: SpecFactory,
    certs: CertsFactory,
    tmp_path: Path,
    pki: Path,
    current: CurrentFiles,
    now: datetime,
) -> None:
    ca_key = key_to_pem(generate_key("ec-p384"))
    spec = ca_key_spec(make_spec, certs, env="CA_KEY")
    report = ensure_certificates(spec, tmp_path, {"CA_KEY": ca_key}, now)
    assert (current / "ca.crt").exists() and not (current / "ca.key").exists()
    assert report.bundles["ca"].key_pem == ca_key
    expected = issue_ca(Subject(common_name="x"), "ec-p384", 1, now, key=generate_key("ec-p256"))
    assert (
        report.bundles["ca"].public_key_fingerprint
        != expected.to_bundle("x", "ca").public_key_fingerprint
    )
    # Second run without the variable: nothing needs signing, so nothing needs the key.
    before = snapshot(pki)
    again = ensure_certificates(spec, tmp_path, {}, now)
    assert {c.action for c in again.certificates} == {"kept"}
    assert again.bundles["ca"].key_pem is None
    assert snapshot(pki) == before


def test_missing_ca_key_variable_is_a_clear_error(
    make_spec: SpecFactory, certs: CertsFactory, tmp_path: Path, now: datetime
) -> None:
    with pytest.raises(CertificateError) as caught:
        ensure_certificates(
            ca_key_spec(make_spec, certs, env="CA_KEY"), tmp_path, {"CA_KEY": " "}, now
        )
    message = str(caught.value)
    assert "CA 'ca'" in message and "CA_KEY is empty" in message and "export CA_KEY=" in message


def test_leaf_issuance_needs_the_ca_key_variable(
    make_spec: SpecFactory,
    certs: CertsFactory,
    tmp_path: Path,
    current: CurrentFiles,
    now: datetime,
) -> None:
    spec = ca_key_spec(make_spec, certs, env="CA_KEY")
    ensure_certificates(spec, tmp_path, {"CA_KEY": key_to_pem(generate_key("ec-p256"))}, now)
    (current / "web.crt").unlink()
    (current / "web.key").unlink()
    with pytest.raises(CertificateError, match="CA_KEY is not set"):
        ensure_certificates(spec, tmp_path, {}, now)


def test_ca_key_from_an_encrypted_file(
    make_spec: SpecFactory, certs: CertsFactory, tmp_path: Path, pki: Path, now: datetime
) -> None:
    from cryptography.hazmat.primitives import serialization

    key = generate_key("rsa-2048")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "ca.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"ca-pass"),
        )
    )
    spec = ca_key_spec(make_spec, certs, file="secret/ca.key", password_env="CA_PASS")
    report = ensure_certificates(spec, tmp_path, {"CA_PASS": "ca-pass"}, now)
    assert report.bundles["ca"].certificate.public_key() == key.public_key()
    assert not list(pki.rglob("ca.key"))


def test_a_different_ca_key_than_the_certificate_is_an_error(
    make_spec: SpecFactory, certs: CertsFactory, tmp_path: Path, now: datetime
) -> None:
    spec = ca_key_spec(make_spec, certs, env="CA_KEY")
    ensure_certificates(spec, tmp_path, {"CA_KEY": key_to_pem(generate_key("ec-p256"))}, now)
    with pytest.raises(CertificateError, match="does not match"):
        ensure_certificates(spec, tmp_path, {"CA_KEY": key_to_pem(generate_key("ec-p256"))}, now)


def test_a_new_ca_key_can_live_encrypted_in_a_file_read_only_to_sign(
    make_spec: SpecFactory,
    certs: CertsFactory,
    tmp_path: Path,
    now: datetime,
    openssl: OpenSSL,
) -> None:
    spec = ca_key_spec(make_spec, certs, file="secret/ca.key", password_env="CA_PASS")
    report = ensure_certificates(spec, tmp_path, {"CA_PASS": "pass phrase"}, now)
    key_file = tmp_path / "secret" / "ca.key"
    assert key_file.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not list((tmp_path / "pki").rglob("ca.key"))
    env = {"CA_PASS": "pass phrase"}
    openssl("pkey", "-in", str(key_file), "-passin", "env:CA_PASS", "-noout", env=env)
    assert report.findings == ()
    # Nothing to sign: no passphrase needed.
    again = ensure_certificates(spec, tmp_path, {}, now)
    assert {c.action for c in again.certificates} == {"kept"}
    # Something to sign and no passphrase: a clear error naming the variable.
    wider = ca_key_spec(
        make_spec,
        lambda **c: certs(**c, servers__0__dns_names=["www.test.com", "api.test.com"]),
        file="secret/ca.key",
        password_env="CA_PASS",
    )
    with pytest.raises(CertificateError, match="CA_PASS is not set"):
        ensure_certificates(wider, tmp_path, {}, now)
    assert ensure_certificates(wider, tmp_path, env, now).bundles["web"].dns_names == (
        "www.test.com",
        "api.test.com",
    )


def test_a_batch_is_issued_by_worker_processes_with_the_same_result(
    make_spec: SpecFactory,
    certs: CertsFactory,
    tmp_path: Path,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from elb_mtls_deploy.pki import parallel, store
    from elb_mtls_deploy.pki.p12 import p12_holds

    started: list[int] = []
    real = parallel.Workers

    def counted(processes: int) -> parallel.Workers:
        started.append(processes)
        return real(processes)

    monkeypatch.setattr(store, "Workers", counted)
    monkeypatch.setattr(store, "worker_count", lambda: 2)
    data = certs()
    data["clients"] = [
        {"name": f"c{i}", "issuer": "ca", "subject": {"common_name": f"c{i}"}, "p12": {}}
        for i in range(parallel.MIN_BATCH)
    ]
    spec = make_spec(**data)
    report = ensure_certificates(spec, tmp_path, {}, now)
    assert started == [2]
    assert [c.action for c in report.certificates] == ["issued"] * (parallel.MIN_BATCH + 2)
    current = CurrentFiles(tmp_path / "pki")
    for i in range(parallel.MIN_BATCH):
        bundle = report.bundles[f"c{i}"]
        password = (current / f"c{i}.p12.password").read_text().strip().encode()
        assert p12_holds((current / f"c{i}.p12").read_bytes(), password, bundle)
        key = load_pem(bundle.key_pem or "")
        assert key.public_key() == bundle.certificate.public_key()
    keys = {(current / f"c{i}.key").read_bytes() for i in range(parallel.MIN_BATCH)}
    assert len(keys) == parallel.MIN_BATCH  # each its own key
    again = ensure_certificates(spec, tmp_path, {}, now)
    assert {c.action for c in again.certificates} == {"kept"} and started == [2]
