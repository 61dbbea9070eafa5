"""Importing material from an authority: every key encoding, encrypted keys, chains, and one
clear error (file, cause, fix) for each kind of bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from tests.pki.conftest import CurrentFiles

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import Issued, ensure_certificates, issue_ca, issue_server
from elb_mtls_deploy.pki.issue import signature_hash
from elb_mtls_deploy.pki.keys import PrivateKey, generate_key
from elb_mtls_deploy.spec.model import Spec, Subject

Fmt = serialization.PrivateFormat


def make_intermediate(root: Issued, now: datetime) -> Issued:
    """An intermediate CA under `root` (our issue_ca only makes roots)."""
    key = generate_key("ec-p256")
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intermediate")]))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root.key, signature_hash(root.key))
    )
    return Issued(cert, key)


@pytest.fixture
def material(tmp_path: Path, now: datetime) -> dict[str, Issued]:
    root = issue_ca(Subject(common_name="Root"), "ec-p256", 3650, now)
    intermediate = make_intermediate(root, now)
    leaf = issue_server(
        intermediate, Subject(common_name="shop.example.com"), "rsa-2048", 90, now,
        dns_names=("shop.example.com",),
    )  # fmt: skip
    (tmp_path / "in").mkdir()
    for name, item in {"root": root, "intermediate": intermediate, "leaf": leaf}.items():
        (tmp_path / "in" / f"{name}.crt").write_text(item.certificate_pem)
    return {"root": root, "intermediate": intermediate, "leaf": leaf}


def import_spec(server_import: dict[str, Any]) -> Spec:
    return Spec.model_validate(
        {
            "stack": "imp",
            "target": {"kind": "embedded"},
            "certificates": {
                "cas": [{"name": "root", "import": {"certificate": "in/root.crt"}}],
                "servers": [{"name": "shop", "import": server_import}],
            },
            "listeners": [
                {
                    "name": "web",
                    "loadbalancer": {"name": "lb"},
                    "server_certificate": "shop",
                    "client_ca": "root",
                    "pool": {},
                }
            ],
        }
    )


def write_key(tmp_path: Path, key: PrivateKey, fmt: Fmt, password: bytes | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    (tmp_path / "in" / "leaf.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, fmt, encryption)
    )
    return "in/leaf.key"


Importer = Callable[..., Any]


@pytest.fixture
def run_import(tmp_path: Path, now: datetime, material: dict[str, Issued]) -> Importer:
    """Import `shop` (leaf + intermediate, key from $SHOP_KEY unless overridden)."""

    def run(env: dict[str, str] | None = None, **server_import: Any) -> Any:
        server_import.setdefault("certificate", "in/leaf.crt")
        server_import.setdefault("chain", "in/intermediate.crt")
        server_import.setdefault("key", {"env": "SHOP_KEY"})
        env = {"SHOP_KEY": material["leaf"].key_pem, **(env or {})}
        return ensure_certificates(import_spec(server_import), tmp_path, env, now)

    return run


@pytest.mark.parametrize(
    ("key_type", "fmt", "header"),
    [
        ("rsa-2048", Fmt.TraditionalOpenSSL, "BEGIN RSA PRIVATE KEY"),  # PKCS#1
        ("rsa-2048", Fmt.PKCS8, "BEGIN PRIVATE KEY"),
        ("ec-p256", Fmt.TraditionalOpenSSL, "BEGIN EC PRIVATE KEY"),  # SEC1
    ],
)
def test_every_plain_key_encoding_imports(
    tmp_path: Path, now: datetime, key_type: str, fmt: Fmt, header: str
) -> None:
    root = issue_ca(Subject(common_name="Root"), "ec-p256", 3650, now)
    leaf = issue_server(root, Subject(common_name="x"), key_type, 90, now, dns_names=("x.example",))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "root.crt").write_text(root.certificate_pem)
    (tmp_path / "in" / "leaf.crt").write_text(leaf.certificate_pem)
    key_file = write_key(tmp_path, leaf.key, fmt)
    assert header in (tmp_path / key_file).read_text()
    spec = import_spec({"certificate": "in/leaf.crt", "key": {"file": key_file}})
    report = ensure_certificates(spec, tmp_path, {}, now)
    shop = report.bundles["shop"]
    assert [c.action for c in report.certificates] == ["imported", "imported"]
    assert shop.key_pem is not None and shop.key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert shop.issuer_name == "root" and report.findings == ()
    # Certificates are copied for reference; the key never is.
    assert CurrentFiles(tmp_path / "pki", "imp").files() == ["root.crt", "shop.crt"]
    again = ensure_certificates(spec, tmp_path, {}, now)
    assert all(c.files == () for c in again.certificates)


def test_chain_from_file_and_after_the_leaf(
    tmp_path: Path, material: dict[str, Issued], run_import: Importer
) -> None:
    key_file = write_key(tmp_path, material["leaf"].key, Fmt.PKCS8)
    report = run_import(key={"file": key_file})
    shop = report.bundles["shop"]
    current = CurrentFiles(tmp_path / "pki", "imp")
    assert (current / "shop.chain.crt").read_text() == shop.chain_pem
    assert not list((tmp_path / "pki").rglob("shop.key"))
    assert shop.chain_pem == material["intermediate"].certificate_pem
    assert shop.upload_pem == material["leaf"].certificate_pem + shop.chain_pem
    assert shop.issuer_name == "root" and report.findings == ()
    (tmp_path / "in" / "full.crt").write_text(shop.upload_pem)
    same = run_import(certificate="in/full.crt", chain=None, key={"file": key_file})
    assert same.bundles["shop"] == shop


def test_encrypted_keys_with_the_password_variable(
    tmp_path: Path, material: dict[str, Issued], run_import: Importer
) -> None:
    for fmt in (Fmt.PKCS8, Fmt.TraditionalOpenSSL):
        key_file = write_key(tmp_path, material["leaf"].key, fmt, b"hunter2-pass")
        report = run_import(
            {"LEAF_PASS": "hunter2-pass"}, key={"file": key_file, "password_env": "LEAF_PASS"}
        )
        assert report.bundles["shop"].key_pem.startswith("-----BEGIN PRIVATE KEY-----")


def test_encrypted_key_without_password_names_what_to_set(
    tmp_path: Path, material: dict[str, Issued], run_import: Importer
) -> None:
    key_file = write_key(tmp_path, material["leaf"].key, Fmt.PKCS8, b"hunter2-pass")
    with pytest.raises(CertificateError, match="password_env"):
        run_import(key={"file": key_file})
    with pytest.raises(CertificateError, match="LEAF_PASS is not set"):
        run_import(key={"file": key_file, "password_env": "LEAF_PASS"})


def test_wrong_password_is_a_clear_error_without_the_password(
    tmp_path: Path, material: dict[str, Issued], run_import: Importer
) -> None:
    key_file = write_key(tmp_path, material["leaf"].key, Fmt.PKCS8, b"hunter2-pass")
    with pytest.raises(CertificateError) as caught:
        run_import(
            {"LEAF_PASS": "not-the-pass"}, key={"file": key_file, "password_env": "LEAF_PASS"}
        )
    message = str(caught.value)
    assert "password is wrong" in message and "LEAF_PASS" in message
    assert "not-the-pass" not in message and "hunter2" not in message


def test_key_from_an_environment_variable(
    material: dict[str, Issued], run_import: Importer
) -> None:
    report = run_import({"SHOP_KEY": material["leaf"].key_pem}, key={"env": "SHOP_KEY"})
    assert report.bundles["shop"].key_pem == material["leaf"].key_pem


def test_der_certificate_gets_a_conversion_hint(
    tmp_path: Path, material: dict[str, Issued], run_import: Importer
) -> None:
    der = material["leaf"].certificate.public_bytes(serialization.Encoding.DER)
    (tmp_path / "in" / "leaf.der").write_bytes(der)
    with pytest.raises(CertificateError) as caught:
        run_import(certificate="in/leaf.der")
    assert str(tmp_path / "in" / "leaf.der") in str(caught.value)
    assert "openssl x509 -inform DER" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\xffjunk\x13" * 20, "is not a PEM certificate"),
        (b"hello, I am not a certificate\n", "is not a PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "damaged"),
    ],
)
def test_garbage_is_refused(
    tmp_path: Path, run_import: Importer, content: bytes, message: str, material: dict[str, Issued]
) -> None:
    (tmp_path / "in" / "bad.crt").write_bytes(content)
    with pytest.raises(CertificateError, match=message):
        run_import(certificate="in/bad.crt")


def test_a_key_in_the_certificate_file_is_refused(
    tmp_path: Path, material: dict[str, Issued], run_import: Importer
) -> None:
    (tmp_path / "in" / "mixed.crt").write_text(
        material["leaf"].certificate_pem + material["leaf"].key_pem
    )
    with pytest.raises(CertificateError) as caught:
        run_import(certificate="in/mixed.crt")
    assert "PRIVATE KEY where only CERTIFICATE blocks belong" in str(caught.value)
    assert material["leaf"].key_pem not in str(caught.value)


def test_a_missing_file_names_the_path(
    tmp_path: Path, run_import: Importer, material: dict[str, Issued]
) -> None:
    with pytest.raises(CertificateError, match="does not exist"):
        run_import(chain="in/nope.crt")


def test_garbage_key_is_refused(
    tmp_path: Path, run_import: Importer, material: dict[str, Issued]
) -> None:
    (tmp_path / "in" / "leaf.key").write_bytes(b"\x30\x82junk")
    with pytest.raises(CertificateError, match="not a PEM private key"):
        run_import(key={"file": "in/leaf.key"})


def test_chain_out_of_order_is_a_finding(
    tmp_path: Path, material: dict[str, Issued], run_import: Importer
) -> None:
    (tmp_path / "in" / "chain.crt").write_text(
        material["root"].certificate_pem + material["intermediate"].certificate_pem
    )
    report = run_import(chain="in/chain.crt")
    assert any(f.severity == "error" and "out of order" in f.problem for f in report.findings)


def test_chain_missing_an_intermediate_is_a_finding(
    tmp_path: Path, material: dict[str, Issued], run_import: Importer, now: datetime
) -> None:
    other = make_intermediate(material["root"], now)
    (tmp_path / "in" / "other.crt").write_text(other.certificate_pem)
    report = run_import(chain="in/other.crt")
    assert any(
        f.severity == "error" and "chain is incomplete" in f.problem for f in report.findings
    )


def test_a_key_that_does_not_match_is_a_finding(
    tmp_path: Path, material: dict[str, Issued], run_import: Importer
) -> None:
    key_file = write_key(tmp_path, generate_key("rsa-2048"), Fmt.PKCS8)
    report = run_import(key={"file": key_file})
    found = [f for f in report.findings if f.certificate == "shop"]
    assert [f.problem for f in found] == ["the private key does not belong to the certificate"]
