"""The spec loader: valid files load; every invalid one gives exit 1 and file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.errors import SpecError
from elb_mtls_deploy.spec.load import load_spec

CONFIG = Path(__file__).resolve().parents[2] / "config"

VALID = """\
stack: pay-edge
target: {kind: embedded}
certificates:
  cas:
    - name: root
      subject: {common_name: Root CA}
  servers:
    - name: web
      issuer: root
      subject: {common_name: www.test.com}
      dns_names: [www.test.com]
listeners:
  - name: web
    loadbalancer: {name: emulator-dedicated-lb}
    port: 443
    server_certificate: web
    client_ca: root
    pool:
      members:
        - {address: 127.0.0.1, port: 8080}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_valid_spec_loads(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, VALID), {})
    assert spec.stack == "pay-edge"
    assert spec.listeners[0].client_ca == "root"
    assert spec.listeners[0].pool_name == "web"


@pytest.mark.parametrize("path", sorted(CONFIG.glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_file_validates(path: Path) -> None:
    env = {
        "ELB_LOADBALANCER_ID": "5a1b2c3d-0000-4000-8000-000000000001",
        "ELB_LOADBALANCER_NAME": "shared-lb",
        "ELB_SUBNET_ID": "subnet-1",
        "HUAWEICLOUD_SDK_PROJECT_ID": "0123456789abcdef0123456789abcdef",
    }
    spec = load_spec(path, env)
    assert spec.listeners


def test_interpolates_environment(tmp_path: Path) -> None:
    text = VALID.replace("port: 8080", 'port: "${BACKEND_PORT}"')
    spec = load_spec(write(tmp_path, text), {"BACKEND_PORT": "9090"})
    assert spec.listeners[0].pool.members[0].port == 9090


def test_dollar_dollar_is_a_literal_dollar(tmp_path: Path) -> None:
    text = VALID.replace("common_name: Root CA", "common_name: Root $$ CA")
    spec = load_spec(write(tmp_path, text), {})
    assert spec.certificates.cas[0].subject.common_name == "Root $ CA"


# (name, edit of VALID, expected line, expected fragment of the message)
CATALOGUE = [
    ("unknown top-level key", VALID + "colour: blue\n", 21, "unknown field 'colour'"),
    (
        "unknown nested key",
        VALID.replace("    port: 443\n", "    port: 443\n    prot: 1\n"),
        16,
        "unknown field 'prot'",
    ),
    (
        # listeners are always HTTPS (TERMINATED_HTTPS on shared load balancers): the old
        # `protocol` field was accepted and never read, so it is refused now (issue 15)
        "listener protocol is not a field",
        VALID.replace("    port: 443\n", "    port: 443\n    protocol: HTTPS\n"),
        16,
        "unknown field 'protocol'",
    ),
    ("wrong type", VALID.replace("port: 443", "port: https"), 15, "valid integer"),
    ("port out of range", VALID.replace("port: 443", "port: 70000"), 15, "less than or equal"),
    ("missing stack", VALID.replace("stack: pay-edge\n", ""), 1, "missing required field 'stack'"),
    ("bad stack name", VALID.replace("stack: pay-edge", "stack: Pay_Edge"), 1, "stack"),
    (
        "dangling server certificate",
        VALID.replace("server_certificate: web", "server_certificate: api"),
        16,
        "'api' is not a certificate in this spec",
    ),
    (
        "CA used as server certificate",
        VALID.replace("server_certificate: web", "server_certificate: root"),
        16,
        "'root' is a ca certificate; name a server certificate",
    ),
    (
        "leaf used as client CA",
        VALID.replace("client_ca: root", "client_ca: web"),
        17,
        "'web' is a server certificate; name a CA certificate",
    ),
    (
        "dangling issuer",
        VALID.replace("issuer: root", "issuer: nobody"),
        9,
        "issuer 'nobody' is not a certificate",
    ),
    (
        "duplicate port",
        VALID
        + """\
  - name: web2
    loadbalancer: {name: emulator-dedicated-lb}
    port: 443
    server_certificate: web
    pool: {members: []}
""",
        23,
        "port 443 on load balancer name emulator-dedicated-lb is already used",
    ),
    (
        "duplicate listener name",
        VALID
        + """\
  - name: web
    loadbalancer: {name: emulator-dedicated-lb}
    port: 8443
    server_certificate: web
    pool: {name: other, members: []}
""",
        21,
        "listener name 'web' is used twice",
    ),
    (
        "duplicate member",
        VALID + "        - {address: 127.0.0.1, port: 8080}\n",
        21,
        "member 127.0.0.1:8080 appears twice",
    ),
    (
        "bad IP address",
        VALID.replace("address: 127.0.0.1", "address: 127.0.0.999"),
        20,
        "not an IPv4 or IPv6 address",
    ),
    (
        "bad DNS name",
        VALID.replace("dns_names: [www.test.com]", "dns_names: [www_test]"),
        11,
        "not a DNS name",
    ),
    (
        "server without SAN",
        VALID.replace("      dns_names: [www.test.com]\n", ""),
        8,
        "needs at least one entry in 'dns_names'",
    ),
    (
        "missing env var",
        VALID.replace("port: 8080", 'port: "${NOPE_PORT}"'),
        20,
        "environment variable NOPE_PORT is not set",
    ),
    ("invalid YAML", VALID.replace("port: 443", "port: [443"), 16, "invalid YAML"),
    (
        "YAML alias",
        VALID.replace(
            "subject: {common_name: Root CA}", "subject: &s {common_name: Root CA}"
        ).replace("subject: {common_name: www.test.com}", "subject: *s"),
        10,
        "aliases",
    ),
    (
        "duplicate key",
        VALID.replace("    port: 443\n", "    port: 443\n    port: 444\n"),
        16,
        "appears twice",
    ),
    (
        "key type",
        VALID.replace(
            "subject: {common_name: Root CA}",
            "subject: {common_name: Root CA}\n      key_type: rsa-1024",
        ),
        7,
        "key_type",
    ),
    ("unknown target kind", VALID.replace("kind: embedded", "kind: aws"), 2, "kind"),
    (
        "client-cert headers without mTLS",
        VALID.replace(
            "    client_ca: root\n", "    insert_headers: {client_cert_subject_dn: true}\n"
        ),
        17,
        "need mutual TLS",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "line", "fragment"), CATALOGUE, ids=[c[0] for c in CATALOGUE]
)
def test_invalid_spec_catalogue(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    line: int,
    fragment: str,
) -> None:
    path = write(tmp_path, text)
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err + captured.out
    assert f"{path}:{line}:" in captured.err, captured.err
    assert fragment in captured.err, captured.err


def test_catalogue_is_big_enough() -> None:
    assert len(CATALOGUE) >= 15


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\xff\xfe\x00junk", "not UTF-8"),
        (b"stack: a\x00b", "NUL"),
        (b"", "empty"),
        (b"- just\n- a list\n", "mapping"),
        (b"a: !!python/object:os.system ls\n", "tag"),
        (b"[" * 5000, "nest"),
    ],
)
def test_hostile_files(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    with pytest.raises(SpecError) as info:
        load_spec(path, {})
    assert fragment in str(info.value)


def test_huge_file_refused_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    with path.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: 100 MB on paper, nothing on disk
    with pytest.raises(SpecError, match="at most"):
        load_spec(path, {})


def test_billion_laughs_refused(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(SpecError, match="aliases"):
        load_spec(path, {})


def test_schema_command_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "elb-mtls-deploy spec"
    assert "listeners" in schema["properties"]
