"""CA keys on a PKCS#11 token, for real: SoftHSM2 holds the server and client CAs' keys
(generated on the token, never on disk), `deploy apply` issues through it, `openssl verify`
accepts what it issued, and the client completes mutual TLS against the emulator's
listener. Skips with the reason when SoftHSM2 or python-pkcs11 is absent."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.verify.conftest import Live, spec_text

pytestmark = pytest.mark.slow

SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "246810"
INIT_TOKEN = ("softhsm2-util", "--init-token", "--free", "--label", "elb")
Uri = Callable[[str], str]


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uri]:
    """A fresh SoftHSM2 token `elb` with EC P-256 key pairs `server-ca` and `client-ca`."""
    if not SOFTHSM.exists() or shutil.which("softhsm2-util") is None:
        pytest.skip(f"SoftHSM2 is not installed ({SOFTHSM} absent): apt-get install -y softhsm2")
    pkcs11 = pytest.importorskip(
        "pkcs11", reason="python-pkcs11 is not installed: pip install 'elb-mtls-deploy[hsm]'"
    )
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    saved = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read by the library when it initialises
    try:
        subprocess.run(
            [*INIT_TOKEN, "--pin", PIN, "--so-pin", "13579246"],
            check=True,
            capture_output=True,
        )
        with (
            pkcs11.lib(str(SOFTHSM))
            .get_token(token_label="elb")
            .open(rw=True, user_pin=PIN) as session
        ):
            for label in ("server-ca", "client-ca"):
                curve = encode_named_curve_parameters("secp256r1")
                parameters = session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: curve}, local=True
                )
                parameters.generate_keypair(store=True, label=label)
        yield (
            lambda label: (
                f"pkcs11:token=elb;object={label}?module-path={SOFTHSM}&pin-source=env:HSM_PIN"
            )
        )
    finally:
        if saved is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved


def on_token(text: str) -> str:
    for ca, var in (("Server", "SERVER_CA_KEY"), ("Client", "CLIENT_CA_KEY")):
        line = f"          subject: {{common_name: Verify {ca} CA}}"
        text = text.replace(line, f"{line}\n          key: {{env: {var}}}")
    return text


def openssl_verify(ca: Path, leaf: Path, purpose: str) -> str:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    done = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile", str(ca), str(leaf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_ca_on_softhsm2_issues_what_openssl_accepts_and_mutual_tls_works(
    live: Live, token: Uri, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HSM_PIN", PIN)
    monkeypatch.setenv("SERVER_CA_KEY", token("server-ca"))
    monkeypatch.setenv("CLIENT_CA_KEY", token("client-ca"))
    live.write(on_token(spec_text(live.members)))
    out = live.apply()
    assert "issued   ca     client-ca" in out and "issued   client teller" in out

    pki = live.root / "pki" / "vfy"
    assert not list(pki.rglob("*-ca.key")), "a CA key reached the disk"
    assert "PRIVATE KEY" not in "".join(p.read_text() for p in pki.rglob("*-ca.crt"))
    crt = {p.name: p for p in pki.rglob("*.crt")}
    assert "OK" in openssl_verify(crt["server-ca.crt"], crt["www.crt"], "sslserver")
    assert "OK" in openssl_verify(crt["client-ca.crt"], crt["teller.crt"], "sslclient")

    seen = live.handshake("teller")
    assert seen.outcome == "accepted", seen.detail
    assert live.handshake(None).outcome == "refused"

    # A device's own key, signed on the token by `deploy sign`.
    subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "device.key", "-out", "device.csr", "-subj", "/CN=device-9"],
        cwd=live.root, check=True, capture_output=True,
    )  # fmt: skip
    code, out, err = live.run(
        "sign", str(live.spec), "--ca", "client-ca", "--csr", str(live.root / "device.csr"),
        "--out", str(live.root / "device.crt"),
    )  # fmt: skip
    assert code == 0, out + err
    assert "OK" in openssl_verify(crt["client-ca.crt"], live.root / "device.crt", "sslclient")

    # Nothing to sign: a second apply needs neither the PIN nor the token.
    monkeypatch.delenv("HSM_PIN")
    code, out, err = live.run("apply", str(live.spec), "--auto-approve")
    assert code == 0 and "No changes" in out, out + err


def test_a_wrong_pin_is_a_clear_error_before_any_api_call(
    live: Live, token: Uri, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HSM_PIN", "000000")
    monkeypatch.setenv("SERVER_CA_KEY", token("server-ca"))
    monkeypatch.setenv("CLIENT_CA_KEY", token("client-ca"))
    live.write(on_token(spec_text(live.members)))
    calls = int(live.server.emulator.stats.snapshot()["total"])
    code, out, err = live.run("apply", str(live.spec), "--auto-approve")
    assert code == 1, out + err
    assert "cannot use PKCS#11 key 'server-ca' on token 'elb'" in err
    assert "000000" not in out + err
    assert int(live.server.emulator.stats.snapshot()["total"]) == calls
