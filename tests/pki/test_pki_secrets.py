"""Secrets stay secret: no key material or password in the repr/str of any value we return
or any exception we raise, across the failure paths users actually hit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from tests.pki.conftest import CurrentFiles

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import ensure_certificates, issue_ca, issue_client, load_bundles
from elb_mtls_deploy.pki.keys import generate_key, key_to_pem
from elb_mtls_deploy.spec.model import Spec, Subject

SpecFactory = Callable[..., Spec]
CertsFactory = Callable[..., dict[str, Any]]
PASSWORD = "correct-horse-battery"


def key_fragments(pem: str) -> Iterator[str]:
    """Every base64 line of a PEM key: any one of them in a message is a leak."""
    for line in pem.splitlines():
        if line and not line.startswith("-----") and ":" not in line:
            yield line


def assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text


def test_values_never_show_keys_or_passwords(spec: Spec, tmp_path: Path, now: datetime) -> None:
    report = ensure_certificates(spec, tmp_path, {}, now)
    password = (CurrentFiles(tmp_path / "pki") / "alice.p12.password").read_text().strip()
    secrets = [password]
    for bundle in report.bundles.values():
        assert bundle.key_pem is not None
        secrets += list(key_fragments(bundle.key_pem))
        assert_clean(repr(bundle) + str(bundle), secrets)
    assert_clean(repr(report) + str(report), secrets)
    assert_clean(repr(load_bundles(spec, tmp_path, {})), secrets)
    ca = issue_ca(Subject(common_name="x"), "ec-p256", 1, now)
    assert_clean(repr(ca) + str(ca), list(key_fragments(ca.key_pem)))


def failures(
    tmp_path: Path, now: datetime, make_spec: SpecFactory, certs: CertsFactory
) -> Iterator[Any]:
    """Each yields a callable expected to raise CertificateError."""
    key = generate_key("ec-p256")
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    ).decode()
    plain = key_to_pem(key)
    ca_key = make_spec(**certs(cas__0__key={"env": "CA_KEY", "password_env": "CA_PASS"}))
    yield lambda: ensure_certificates(
        ca_key, tmp_path / "a", {"CA_KEY": encrypted, "CA_PASS": "wrong-" + PASSWORD}, now
    )
    yield lambda: ensure_certificates(ca_key, tmp_path / "b", {"CA_KEY": encrypted}, now)
    yield lambda: ensure_certificates(ca_key, tmp_path / "c", {"CA_KEY": "junk " + plain[30:]}, now)
    p12 = make_spec(**certs(clients__0__p12={"password_env": "P12"}))
    yield lambda: ensure_certificates(p12, tmp_path / "d", {"P12": ""}, now)
    ensure_certificates(make_spec(), tmp_path / "e", {}, now)
    (CurrentFiles(tmp_path / "e" / "pki") / "web.key").write_text(plain)
    yield lambda: ensure_certificates(make_spec(), tmp_path / "e", {}, now)
    ca = issue_ca(Subject(common_name="x"), "ec-p256", 1, now)
    keyless = ca.to_bundle("ca", "ca")
    keyless = type(keyless)(**{**keyless.__dict__, "key_pem": None})
    yield lambda: issue_client(keyless, Subject(common_name="y"), "ec-p256", 1, now)
    yield plain, encrypted


def test_exceptions_never_show_keys_or_passwords(
    tmp_path: Path, now: datetime, make_spec: SpecFactory, certs: CertsFactory
) -> None:
    cases = list(failures(tmp_path, now, make_spec, certs))
    plain, encrypted = cases.pop()
    secrets = [PASSWORD, *key_fragments(plain), *key_fragments(encrypted)]
    for case in cases:
        with pytest.raises(CertificateError) as caught:
            case()
        exc = caught.value
        assert_clean(repr(exc) + str(exc) + repr(exc.args), secrets)
        assert exc.hint, str(exc)  # every error says how to fix it
