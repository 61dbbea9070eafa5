"""The named catalogue of bad input: each case, run through `deploy apply --auto-approve`
against a live emulator announced over the spec's state dir, must exit 1 with its message,
print no traceback, and make NO API call (the emulator's request counter stays at 0).

This complements tests/spec/test_load.py, whose catalogue (23 spec mistakes with their
file:line:column) runs `deploy validate`: here the cases are certificate/PKI mistakes and
hostile files, and what is proven is that `apply` stops before it touches the cloud.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.x509.oid import ExtendedKeyUsageOID

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.emulator import RunningServer, start_server
from tests.security.material import Issued, armour, issue, write

pytestmark = pytest.mark.slow

SEED_RECIPE = Path(__file__).resolve().parents[1] / "pki" / "seed_recipe.sh"
PASSWORD = b"catalogue-key-password"


@dataclass(frozen=True)
class Material:
    root: Issued
    inter: Issued
    leaf: Issued  # issued by `inter`
    client_ca: Issued
    other: Issued  # an unrelated leaf (its key is the "wrong key")


@pytest.fixture(scope="module")
def material() -> Material:
    root = issue("Catalogue Root", is_ca=True, days=3650)
    inter = issue("Catalogue Intermediate", issuer=root, is_ca=True, days=1825)
    return Material(
        root=root,
        inter=inter,
        leaf=issue("www.test.com", issuer=inter),
        client_ca=issue("Catalogue Client CA", is_ca=True, days=3650),
        other=issue("other.test.com", issuer=inter),
    )


def base_spec(state_dir: Path) -> dict[str, Any]:
    return {
        "stack": "cat",
        "target": {"kind": "embedded", "state_dir": str(state_dir)},
        "certificates": {
            "cas": [{"name": "client-ca", "import": {"certificate": "client-ca.crt"}}],
            "servers": [
                {"name": "www", "import": {"certificate": "www.crt", "key": {"file": "www.key"}}}
            ],
        },
        "listeners": [
            {
                "name": "www",
                "loadbalancer": {"name": "emulator-dedicated-lb"},
                "port": 443,
                "server_certificate": "www",
                "client_ca": "client-ca",
                "pool": {"members": [{"address": "127.0.0.1", "port": 18081}]},
            }
        ],
    }


@dataclass
class Workspace:
    root: Path
    m: Material
    spec: dict[str, Any]
    env: dict[str, str]
    target: Path  # what `deploy apply` is given (the spec unless a case says otherwise)
    raw: bytes | None = None  # a case that writes the spec file itself

    def file(self, name: str, data: bytes) -> None:
        write(self.root / name, data)

    @property
    def server(self) -> dict[str, Any]:
        server: dict[str, Any] = self.spec["certificates"]["servers"][0]
        return server


Edit = Callable[[Workspace], None]


# --- the cases ----------------------------------------------------------------------------


def seed_recipe(ws: Workspace, side: str) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    env = {**os.environ, "SEED_P12_PASSWORD": "seed-recipe-catalogue"}
    subprocess.run(
        ["sh", str(SEED_RECIPE), str(ws.root / "seed"), side],
        check=True,
        capture_output=True,
        env=env,
    )
    return ws.root / "seed" / side


def seed_server(ws: Workspace) -> None:
    made = seed_recipe(ws, "server")
    ws.file("www.crt", (made / "server.crt").read_bytes())
    ws.file("www.key", (made / "server.key").read_bytes())


def seed_client_as_server(ws: Workspace) -> None:
    made = seed_recipe(ws, "client")
    ws.file("www.crt", (made / "client.crt").read_bytes())
    ws.file("www.key", (made / "client.key").read_bytes())


def seed_client_ca(ws: Workspace) -> None:
    ws.file("client-ca.crt", (seed_recipe(ws, "client") / "ca.crt").read_bytes())


def seed_p12_as_certificate(ws: Workspace) -> None:
    ws.file("client-ca.crt", (seed_recipe(ws, "client") / "client.p12").read_bytes())


def wrong_key(ws: Workspace) -> None:
    ws.file("www.key", ws.m.other.key_pem())


def encrypted_without_password(ws: Workspace) -> None:
    ws.file("www.key", ws.m.leaf.key_pem(PASSWORD))


def encrypted_password_unset(ws: Workspace) -> None:
    ws.file("www.key", ws.m.leaf.key_pem(PASSWORD))
    ws.server["import"]["key"]["password_env"] = "WWW_KEY_PASSWORD"


def wrong_password(ws: Workspace) -> None:
    encrypted_password_unset(ws)
    ws.env["WWW_KEY_PASSWORD"] = "not-the-password"


def chain_out_of_order(ws: Workspace) -> None:
    ws.file("www.crt", ws.m.leaf.pem + ws.m.root.pem + ws.m.inter.pem)


def chain_incomplete(ws: Workspace) -> None:
    ws.file("www.crt", ws.m.leaf.pem + ws.m.root.pem)


def ca_as_server(ws: Workspace) -> None:
    ws.file("www.crt", ws.m.inter.pem + ws.m.root.pem)
    ws.file("www.key", ws.m.inter.key_pem())


def leaf_as_client_ca(ws: Workspace) -> None:
    ws.file("client-ca.crt", ws.m.other.pem)


def der_certificate(ws: Workspace) -> None:
    ws.file("www.crt", ws.m.leaf.der)


def der_key(ws: Workspace) -> None:
    ws.file("www.key", ws.m.leaf.key_der())


def key_in_certificate_file(ws: Workspace) -> None:
    ws.file("www.crt", ws.m.leaf.pem + ws.m.leaf.key_pem())


def missing_certificate(ws: Workspace) -> None:
    (ws.root / "www.crt").unlink()


def missing_chain_file(ws: Workspace) -> None:
    ws.server["import"]["chain"] = "chain/intermediates.crt"


def expired(ws: Workspace) -> None:
    old = issue("www.test.com", issuer=ws.m.inter, start=timedelta(days=-400), days=30)
    ws.file("www.crt", old.pem + ws.m.inter.pem)
    ws.file("www.key", old.key_pem())


def not_yet_valid(ws: Workspace) -> None:
    later = issue("www.test.com", issuer=ws.m.inter, start=timedelta(days=30))
    ws.file("www.crt", later.pem + ws.m.inter.pem)
    ws.file("www.key", later.key_pem())


def client_auth_only(ws: Workspace) -> None:
    client = issue("www.test.com", issuer=ws.m.inter, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    ws.file("www.crt", client.pem + ws.m.inter.pem)
    ws.file("www.key", client.key_pem())


def no_san(ws: Workspace) -> None:
    bare = issue("www.test.com", issuer=ws.m.inter, san=())
    ws.file("www.crt", bare.pem + ws.m.inter.pem)
    ws.file("www.key", bare.key_pem())


def rsa_1024(ws: Workspace) -> None:
    weak = issue("www.test.com", issuer=ws.m.inter, key="rsa1024")
    ws.file("www.crt", weak.pem + ws.m.inter.pem)
    ws.file("www.key", weak.key_pem())


def ed25519_key(ws: Workspace) -> None:
    odd = issue("www.test.com", issuer=ws.m.inter, key="ed25519")
    ws.file("www.crt", odd.pem + ws.m.inter.pem)
    ws.file("www.key", odd.key_pem())


def damaged_pem(ws: Workspace) -> None:
    lines = ws.m.leaf.pem.decode().splitlines()
    lines[3] = lines[3][:10] + "!!!!" + lines[3][14:]
    ws.file("www.crt", ("\n".join(lines) + "\n").encode())


# id-ecPublicKey (1.2.840.10045.2.1) with its last arc changed: an unknown key algorithm.
EC_KEY_OID = bytes.fromhex("06072a8648ce3d0201")
UNKNOWN_OID = bytes.fromhex("06072a8648ce3d0263")


def unknown_key_algorithm_in_certificate(ws: Workspace) -> None:
    der = ws.m.leaf.der.replace(EC_KEY_OID, UNKNOWN_OID)
    ws.file("www.crt", armour("CERTIFICATE", der) + ws.m.inter.pem)


def damaged_extension(ws: Workspace) -> None:
    der = ws.m.leaf.der.replace(b"\x82\x0cwww.test.com", b"\x00\x0cwww.test.com")
    ws.file("www.crt", armour("CERTIFICATE", der) + ws.m.inter.pem)


def unknown_key_algorithm_in_key(ws: Workspace) -> None:
    ws.file("www.key", armour("PRIVATE KEY", ws.m.leaf.key_der().replace(EC_KEY_OID, UNKNOWN_OID)))


def junk_certificate(ws: Workspace) -> None:
    ws.file("www.crt", os.urandom(2048).replace(b"-", b"_"))


def junk_key(ws: Workspace) -> None:
    ws.file("www.key", b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")


def p12_as_key(ws: Workspace) -> None:
    ws.file("www.key", ws.m.leaf.p12(PASSWORD))


def ca_key_env_unset(ws: Workspace) -> None:
    ws.spec["certificates"]["cas"].append(
        {"name": "issuing-ca", "subject": {"common_name": "Issuing CA"}, "key": {"env": "CA_KEY"}}
    )


def ca_key_env_junk(ws: Workspace) -> None:
    ca_key_env_unset(ws)
    ws.env["CA_KEY"] = "this is not a key"


def p12_password_unset(ws: Workspace) -> None:
    ws.spec["certificates"]["cas"].append(
        {"name": "issuing-ca", "subject": {"common_name": "Issuing CA"}}
    )
    ws.spec["certificates"]["clients"] = [
        {
            "name": "teller",
            "issuer": "issuing-ca",
            "subject": {"common_name": "teller"},
            "p12": {"password_env": "TELLER_P12_PASSWORD"},
        }
    ]


def spec_bytes(data: bytes) -> Edit:
    def edit(ws: Workspace) -> None:
        ws.raw = data

    return edit


def alias_bomb(ws: Workspace) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    ws.raw = ("\n".join(lines) + "\n").encode()


def sparse_100mb(ws: Workspace) -> None:
    ws.raw = b""  # written, then grown to 100 MB without touching the disk


def deeply_nested(ws: Workspace) -> None:
    ws.raw = ("stack: cat\nx: " + "[" * 200 + "]" * 200 + "\n").encode()


def unknown_field(ws: Workspace) -> None:
    ws.spec["listeners"][0]["colour"] = "blue"


def duplicate_ports(ws: Workspace) -> None:
    second = copy.deepcopy(ws.spec["listeners"][0])
    second["name"] = "www2"
    ws.spec["listeners"].append(second)


def missing_env_var(ws: Workspace) -> None:
    ws.spec["listeners"][0]["pool"]["members"][0]["address"] = "${BACKEND_ADDRESS}"


def cloud_without_credentials(ws: Workspace) -> None:
    endpoint = ws.env.pop("_ENDPOINT")
    ws.spec["target"] = {
        "kind": "huaweicloud",
        "region": "cn-north-4",
        "project_id": "0e1a2b3c4d5e6f708192a3b4c5d6e7f8",
        "endpoint": endpoint,
    }


def garbage_plan_file(ws: Workspace) -> None:
    ws.target = ws.root / "plan.json"
    ws.file("plan.json", b"\x00\x01 not json")


def spec_is_directory(ws: Workspace) -> None:
    ws.target = ws.root / "specs.yaml"
    ws.target.mkdir()


# --- issue 14 items 5 and 6: unbounded input, values that pass a type check ------------------


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    length = bytes([size]) if size < 0x80 else bytes([0x82]) + size.to_bytes(2, "big")
    return bytes([tag]) + length + body


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return _der(0x06, body)


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes((value.bit_length() + 8) // 8, "big"))


def encrypted_pkcs8(kdf: bytes) -> bytes:
    """An EncryptedPrivateKeyInfo (PBES2 + AES-256-CBC) with the given KDF; the ciphertext
    is junk: the KDF parameters alone must get the key refused, before any decryption."""
    aes = _der(0x30, _oid("2.16.840.1.101.3.4.1.42") + _der(0x04, bytes(16)))
    pbes2 = _der(0x30, _oid("1.2.840.113549.1.5.13") + _der(0x30, kdf + aes))
    der = _der(0x30, pbes2 + _der(0x04, bytes(range(256)) * 2))
    return armour("ENCRYPTED PRIVATE KEY", der)


def with_password(ws: Workspace, key: bytes) -> None:
    ws.file("www.key", key)
    ws.server["import"]["key"]["password_env"] = "WWW_KEY_PASSWORD"
    ws.env["WWW_KEY_PASSWORD"] = "any-password"


def scrypt_key(n: int, r: int, p: int) -> Edit:
    def edit(ws: Workspace) -> None:
        params = _der(0x04, b"salt" * 4) + _int(n) + _int(r) + _int(p)
        kdf = _der(0x30, _oid("1.3.6.1.4.1.11591.4.11") + _der(0x30, params))
        with_password(ws, encrypted_pkcs8(kdf))

    return edit


def pbkdf2_key(ws: Workspace) -> None:
    prf = _der(0x30, _oid("1.2.840.113549.2.9") + b"\x05\x00")
    params = _der(0x04, b"salt" * 4) + _int(50_000_000) + prf
    kdf = _der(0x30, _oid("1.2.840.113549.1.5.12") + _der(0x30, params))
    with_password(ws, encrypted_pkcs8(kdf))


def certificate_is_dev_zero(ws: Workspace) -> None:
    ws.server["import"]["certificate"] = "/dev/zero"


def key_is_a_fifo(ws: Workspace) -> None:
    os.mkfifo(ws.root / "key.fifo")
    ws.server["import"]["key"]["file"] = "key.fifo"


def certificate_of_2mb(ws: Workspace) -> None:
    ws.file("www.crt", ws.m.leaf.pem + b"#" * (2 * 1024 * 1024))


def generated_server(ws: Workspace) -> dict[str, Any]:
    ws.spec["certificates"]["cas"].append({"name": "root", "subject": {"common_name": "Root"}})
    server = {
        "name": "gen",
        "issuer": "root",
        "subject": {"common_name": "www.test.com"},
        "dns_names": ["www.test.com"],
    }
    ws.spec["certificates"]["servers"].append(server)
    ws.spec["listeners"][0]["server_certificate"] = "gen"
    return server


def null_prefix_subject(ws: Workspace) -> None:
    generated_server(ws)["subject"]["common_name"] = "www.bank.com\x00.evil.com"


def url_path_crlf(ws: Workspace) -> None:
    ws.spec["listeners"][0]["pool"]["health_monitor"] = {"url_path": "/h\r\nX-Evil: 1"}


def url_path_81(ws: Workspace) -> None:
    ws.spec["listeners"][0]["pool"]["health_monitor"] = {"url_path": "/" + "a" * 80}


def expected_codes_backwards(ws: Workspace) -> None:
    ws.spec["listeners"][0]["pool"]["health_monitor"] = {"expected_codes": "999-100"}


# (name, edit, message fragment that must be on stderr)
CATALOGUE: list[tuple[str, Edit, str]] = [
    ("seed-recipe server certificate: SHA-1", seed_server, "is signed with SHA1"),
    ("seed-recipe client certificate as server", seed_client_as_server, "no subjectAltName"),
    ("seed-recipe CA as client CA", seed_client_ca, "lacks a critical basicConstraints CA:TRUE"),
    ("seed-recipe .p12 as certificate", seed_p12_as_certificate, "it looks binary"),
    ("wrong key", wrong_key, "the private key does not belong to the certificate"),
    ("encrypted key without password_env", encrypted_without_password, "is encrypted"),
    (
        "encrypted key, password variable unset",
        encrypted_password_unset,
        "environment variable WWW_KEY_PASSWORD is not set",
    ),
    ("wrong key password", wrong_password, "the password is wrong"),
    ("chain out of order", chain_out_of_order, "the chain is out of order"),
    ("chain missing the intermediate", chain_incomplete, "the chain is incomplete"),
    ("CA certificate as server certificate", ca_as_server, "is used as a server certificate"),
    ("leaf certificate as client CA", leaf_as_client_ca, "lacks a critical basicConstraints"),
    ("DER certificate instead of PEM", der_certificate, "openssl x509 -inform DER"),
    ("DER key instead of PEM", der_key, "is not a PEM private key"),
    ("PKCS#12 as key file", p12_as_key, "is not a PEM private key"),
    ("private key inside the certificate file", key_in_certificate_file, "only CERTIFICATE"),
    ("certificate file missing", missing_certificate, "www.crt does not exist"),
    ("chain file missing", missing_chain_file, "intermediates.crt does not exist"),
    ("expired imported certificate", expired, "the certificate expired on"),
    ("not yet valid imported certificate", not_yet_valid, "is not valid before"),
    ("server certificate with clientAuth only", client_auth_only, "lacks extendedKeyUsage"),
    ("imported server certificate without SAN", no_san, "has no subjectAltName"),
    ("RSA-1024 key", rsa_1024, "the RSA key has only 1024 bits"),
    ("Ed25519 key", ed25519_key, "Ed25519"),
    ("damaged PEM body", damaged_pem, "damaged PEM certificate"),
    ("binary junk as certificate", junk_certificate, "is not a PEM certificate"),
    # found by test_fuzz.py: these three ended in "unexpected ...; this is a bug"
    ("unknown key algorithm", unknown_key_algorithm_in_certificate, "damaged PEM certificate"),
    ("damaged subjectAltName", damaged_extension, "damaged PEM certificate"),
    ("key of an unknown algorithm", unknown_key_algorithm_in_key, "readable private key"),
    ("junk inside a PEM key block", junk_key, "does not hold a readable private key"),
    ("CA key variable unset", ca_key_env_unset, "environment variable CA_KEY is not set"),
    ("CA key variable holds junk", ca_key_env_junk, "environment variable CA_KEY"),
    ("p12 password variable unset", p12_password_unset, "it holds the .p12 password"),
    ("YAML alias bomb", alias_bomb, "aliases"),
    ("100 MB spec (sparse)", sparse_100mb, "a spec may be at most 1048576 bytes"),
    ("binary junk spec", spec_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256))), "not UTF-8"),
    ("Latin-1 spec", spec_bytes("stack: caf\xe9\n".encode("latin-1")), "is not UTF-8"),
    ("NUL bytes in spec", spec_bytes(b"stack: cat\x00\n"), "NUL bytes"),
    ("deeply nested spec", deeply_nested, "nested more than 32 levels"),
    ("unknown field", unknown_field, "unknown field 'colour'"),
    ("duplicate ports", duplicate_ports, "port 443 on load balancer"),
    ("missing environment variable", missing_env_var, "BACKEND_ADDRESS is not set"),
    ("cloud target without AK/SK", cloud_without_credentials, "HUAWEICLOUD_SDK_AK"),
    ("saved plan that is not JSON", garbage_plan_file, "cannot read the plan file"),
    ("spec path is a directory", spec_is_directory, "is a directory"),
    ("scrypt key N=2^18 r=8", scrypt_key(2**18, 8, 1), "scrypt N=262144 r=8 p=1"),
    ("scrypt key p=64", scrypt_key(16384, 8, 64), "scrypt N=16384 r=8 p=64"),
    ("PBKDF2 key, 50M iterations", pbkdf2_key, "50000000 key-derivation iterations"),
    ("certificate path /dev/zero", certificate_is_dev_zero, "is not a regular file"),
    ("key path is a FIFO", key_is_a_fifo, "is not a regular file"),
    ("2 MB certificate file", certificate_of_2mb, "is larger than 1048576 bytes"),
    ("NUL in a subject name", null_prefix_subject, "control character U+0000"),
    ("url_path with CR LF", url_path_crlf, "no spaces, CR or LF"),
    ("url_path of 81 characters", url_path_81, "at most 80"),
    ("expected_codes 999-100", expected_codes_backwards, "outside 200-599"),
]


# --- running them -------------------------------------------------------------------------


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningServer]:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    with start_server(state_dir, announce=True, dataplane=False) as server:
        yield server


def workspace(tmp_path: Path, m: Material, server: RunningServer) -> Workspace:
    root = tmp_path / "ws"
    ws = Workspace(root, m, base_spec(tmp_path / "state"), {}, root / "spec.yaml")
    ws.file("www.crt", m.leaf.pem + m.inter.pem)
    ws.file("www.key", m.leaf.key_pem())
    ws.file("client-ca.crt", m.client_ca.pem)
    ws.env["_ENDPOINT"] = server.endpoint
    return ws


def run(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    spec = ws.root / "spec.yaml"
    if ws.raw is None:
        spec.write_text(yaml.safe_dump(ws.spec, sort_keys=False))
    else:
        spec.write_bytes(ws.raw)
        if not ws.raw:
            with spec.open("r+b") as handle:
                handle.truncate(100 * 1024 * 1024)
    for name, value in ws.env.items():
        if not name.startswith("_"):
            monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = main(["apply", str(ws.target), "--auto-approve"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_good_workspace_applies(
    tmp_path: Path,
    material: Material,
    emulator: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The positive control: without an edit the same workspace applies, so each case
    below fails for its own reason, and the request counter does count."""
    code, out, err = run(workspace(tmp_path, material, emulator), monkeypatch, capsys)
    assert code == 0, out + err
    assert emulator.emulator.stats.snapshot()["total"] > 0


@pytest.mark.parametrize(("name", "edit", "fragment"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_input_is_refused_before_any_api_call(
    tmp_path: Path,
    material: Material,
    emulator: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    edit: Edit,
    fragment: str,
) -> None:
    ws = workspace(tmp_path, material, emulator)
    edit(ws)
    code, out, err = run(ws, monkeypatch, capsys)
    assert code == 1, out + err
    assert fragment in err, err
    assert "Traceback" not in out + err
    assert "this is a bug" not in err
    assert emulator.emulator.stats.snapshot()["total"] == 0, "an API call was made"


def test_catalogue_is_big_enough() -> None:
    assert len(CATALOGUE) >= 30
    assert len({name for name, _, _ in CATALOGUE}) == len(CATALOGUE)
