"""`deploy sign`: a client's own CSR (its key made by openssl, never seen by us) signed by
a spec CA; openssl accepts the result and it completes mutual TLS with our server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from tests.pki.conftest import CurrentFiles, OpenSSL, spec_dict
from tests.pki.test_pki_handshake import client_context, handshake, server_context

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.pki import ensure_certificates
from elb_mtls_deploy.spec.model import Spec


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict()))
    return path


def device_request(openssl: OpenSSL, tmp_path: Path, cn: str = "device-7") -> Path:
    openssl(
        *("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
        *("-keyout", "device.key", "-out", "device.csr", "-subj", f"/CN={cn}/O=Branch 7"),
        cwd=tmp_path,
    )
    return tmp_path / "device.csr"


def test_a_device_csr_is_signed_and_the_key_never_leaves_the_device(
    spec_file: Path,
    tmp_path: Path,
    openssl: OpenSSL,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = Spec.model_validate(spec_dict())
    ensure_certificates(spec, tmp_path, {}, datetime.now(UTC))
    csr = device_request(openssl, tmp_path)
    out = tmp_path / "device.crt"
    code = main(["sign", str(spec_file), "--ca", "ca", "--csr", str(csr), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "signed O=Branch 7,CN=device-7" in captured.out
    assert "PRIVATE KEY" not in captured.out + out.read_text()
    pki = CurrentFiles(tmp_path / "pki")
    checked = openssl("verify", "-x509_strict", "-purpose", "sslclient", "-CAfile",
                      str(pki / "ca.crt"), str(out))  # fmt: skip
    assert "OK" in checked.stdout
    outcome = handshake(
        server_context(pki), client_context(pki, (out, tmp_path / "device.key")), "www.test.com"
    )
    assert outcome.ok, outcome
    assert dict(x[0] for x in outcome.peer["subject"])["commonName"] == "device-7"  # type: ignore[index, attr-defined]


def test_a_tampered_request_is_refused(
    spec_file: Path, tmp_path: Path, openssl: OpenSSL, capsys: pytest.CaptureFixture[str]
) -> None:
    import base64

    csr = device_request(openssl, tmp_path)
    der = base64.b64decode("".join(csr.read_text().splitlines()[1:-1]))
    forged = der.replace(b"device-7", b"device-8")  # the subject no longer matches the signature
    body = base64.encodebytes(forged).decode()
    csr.write_text(
        f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"
    )
    out = tmp_path / "x.crt"
    code = main(["sign", str(spec_file), "--ca", "ca", "--csr", str(csr), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "the signature of the request" in err and "does not verify" in err
    assert not out.exists()
