"""Secret canary: run every command with known secrets and scan everything produced.

Secrets planted: a generated server key and a generated client key (read back from the PKI
dir after `certs`), a CA key given through an environment variable, an imported encrypted
server key and its password, a `.p12` password (`password_env`), and — through the
`target: huaweicloud` code path pointed at the emulator on 127.0.0.1 — an AK/SK pair from
the environment. Commands: validate, certs, plan --out --gitlab-report, apply, verify
--junit, destroy; each with --debug, in text and in --output json. Python logging is at
DEBUG for the whole run, including the SDK's own loggers (which do not propagate by
default) and urllib3. Scanned: stdout, stderr, the log stream, every file the commands
wrote outside the PKI dir's key files, and the text of every exception (with its chain).
Expected hits: 0.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.emulator import RunningServer, start_server
from tests.security.material import issue

pytestmark = pytest.mark.slow

KEY_PASSWORD = "canary-key-password-5e1f0c"
P12_PASSWORD = "canary-p12-password-9b7d2a"
CANARY_AK = "CANARYAKQ2V7X9TZ0001"
CANARY_SK = "canarySKz8Yq3Lw5Rt7Uv9Xa1Cd3Ef5Gh7Jk9Mn2Pq4"
WRONG_SK = "canaryWrongSKb6Nd8Fg1Hj3Kl5Zx7Cv9Bn2Mq4Wp6"
PROJECT = "c0ffee00c0ffee00c0ffee00c0ffee00"
# Files where secrets belong (the PKI dir's key, .p12 and password files, our own inputs)
# and the emulator's database (the "cloud", which stores uploaded keys like ELB does).
SECRET_HOMES = (".key", ".p12", ".password", ".db", ".db-wal", ".db-shm")


@dataclass
class Canary:
    root: Path
    server: RunningServer
    logs: list[str]  # python logging at DEBUG, every logger
    secrets: dict[str, str] = field(default_factory=dict)  # label -> secret text
    seen: list[tuple[str, str]] = field(default_factory=list)  # (where, text)

    def add_pem(self, label: str, pem: str) -> None:
        """Every base64 line of a PEM body is a canary on its own (a partial leak counts)."""
        lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        for i, line in enumerate(lines):
            if len(line) >= 16 and ":" not in line:
                self.secrets[f"{label} line {i + 1}"] = line

    def hits(self) -> list[str]:
        return [
            f"{label} in {where}"
            for where, text in self.seen
            for label, secret in self.secrets.items()
            if secret in text
        ]


@pytest.fixture
def debug_logs() -> Iterator[list[str]]:
    """Root logging at DEBUG into a list, and the SDK's loggers made to propagate."""
    from huaweicloudsdkcore import client as sdk_client

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    original = sdk_client.Client.__dict__["_init_logger"]

    def init_logger(cls: Any) -> logging.Logger:
        logger = logging.getLogger(f"HuaweiCloud-SDK-{cls.__name__}")
        logger.setLevel(logging.DEBUG)
        logger.propagate = True
        return logger

    sdk_client.Client._init_logger = classmethod(init_logger)  # type: ignore[method-assign,assignment]
    try:
        yield records
    finally:
        sdk_client.Client._init_logger = original  # type: ignore[method-assign]
        root.removeHandler(handler)
        root.setLevel(saved_level)


def write_spec(root: Path, target: dict[str, Any]) -> Path:
    doc = {
        "stack": "canary",
        "target": target,
        "pki_dir": "pki",
        "certificates": {
            "cas": [
                {"name": "server-ca", "subject": {"common_name": "Canary Server CA"}},
                {
                    "name": "client-ca",
                    "subject": {"common_name": "Canary Client CA"},
                    "key": {"env": "CANARY_CLIENT_CA_KEY"},
                },
                {"name": "partner-ca", "import": {"certificate": "imported/partner-ca.crt"}},
            ],
            "servers": [
                {
                    "name": "www",
                    "issuer": "server-ca",
                    "subject": {"common_name": "www.test.com"},
                    "dns_names": ["www.test.com"],
                    "ip_addresses": ["127.0.0.1"],
                },
                {
                    "name": "shop",
                    "import": {
                        "certificate": "imported/shop.crt",
                        "key": {"file": "imported/shop.key", "password_env": "SHOP_KEY_PASSWORD"},
                    },
                },
            ],
            "clients": [
                {
                    "name": "teller",
                    "issuer": "client-ca",
                    "subject": {"common_name": "teller"},
                    "p12": {"password_env": "TELLER_P12_PASSWORD"},
                }
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
            },
            {
                "name": "shop",
                "loadbalancer": {"name": "emulator-dedicated-lb"},
                "port": 8443,
                "server_certificate": "shop",
                "client_ca": "partner-ca",
                "pool": {"members": [{"address": "127.0.0.1", "port": 18082}]},
            },
        ],
    }
    root.mkdir(exist_ok=True)
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def canary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug_logs: list[str]
) -> Iterator[Canary]:
    partner = issue("Canary Partner CA", is_ca=True, days=3650)
    shop_ca = issue("Canary Shop Issuer", is_ca=True, days=3650)
    shop = issue("shop.test.com", issuer=shop_ca, san=("shop.test.com",))
    client_ca_key = issue("throwaway", is_ca=True)  # only its key is used, as the CA key
    imported = tmp_path / "imported"
    imported.mkdir()
    (imported / "partner-ca.crt").write_bytes(partner.pem)
    (imported / "shop.crt").write_bytes(shop.pem + shop_ca.pem)
    (imported / "shop.key").write_bytes(shop.key_pem(KEY_PASSWORD.encode()))
    monkeypatch.setenv("SHOP_KEY_PASSWORD", KEY_PASSWORD)
    monkeypatch.setenv("TELLER_P12_PASSWORD", P12_PASSWORD)
    monkeypatch.setenv("CANARY_CLIENT_CA_KEY", client_ca_key.key_pem().decode())
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    credentials = {CANARY_AK: (CANARY_SK, PROJECT)}
    with start_server(state_dir, announce=True, dataplane=True) as embedded:
        c = Canary(tmp_path, embedded, debug_logs)
        c.add_pem("imported shop key (encrypted PEM)", shop.key_pem(KEY_PASSWORD.encode()).decode())
        c.add_pem("imported shop key (plain PKCS#8)", shop.key_pem().decode())
        c.add_pem("CA key from the environment", client_ca_key.key_pem().decode())
        c.secrets |= {"key password": KEY_PASSWORD, "p12 password": P12_PASSWORD}
        c.secrets |= {"secret access key": CANARY_SK, "wrong secret access key": WRONG_SK}
        with start_server(tmp_path / "cloud", credentials=credentials, dataplane=False) as cloud:
            c.cloud = cloud  # type: ignore[attr-defined]
            yield c


def run(c: Canary, capsys: pytest.CaptureFixture[str], *args: str) -> int:
    capsys.readouterr()
    try:
        code = main(list(args))
    except BaseException as exc:  # --debug re-raises: scan the traceback a user would see
        c.seen.append((f"exception of {args}", "".join(traceback.format_exception(exc))))
        code = -1
    captured = capsys.readouterr()
    c.seen += [(f"stdout of {args}", captured.out), (f"stderr of {args}", captured.err)]
    return code


def produced_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.endswith(SECRET_HOMES):
            yield path


def test_no_secret_reaches_any_output(
    canary: Canary, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = canary
    spec = write_spec(c.root, {"kind": "embedded", "state_dir": str(c.root / "state")})
    for mode in (["--debug"], ["--debug", "--output", "json"]):
        tag = "json" if "json" in mode else "text"
        out = c.root / "out" / tag
        assert run(c, capsys, "validate", str(spec), *mode) == 0
        assert run(c, capsys, "certs", str(spec), *mode) == 0
        if tag == "text":  # the generated keys exist now: they are canaries too
            for name in ("www", "teller", "server-ca"):
                [key] = (c.root / "pki" / "canary" / name).glob(f"*/{name}.key")
                c.add_pem(f"generated {name} key", key.read_text())
        plan = out / "plan.json"
        args = ("--out", str(plan), "--gitlab-report", str(out / "report.json"))
        assert run(c, capsys, "plan", str(spec), *args, *mode) == 0
        assert run(c, capsys, "apply", str(plan), "--auto-approve", *mode) == 0
        assert run(c, capsys, "plan", str(spec), *mode) == 0
        verify = ("--junit", str(out / "verify.xml"), "--listener", "www")
        assert run(c, capsys, "verify", str(spec), *verify, *mode) == 0
        assert run(c, capsys, "destroy", str(spec), "--auto-approve", *mode) == 0

    # The huaweicloud target: AK/SK from the environment, signed requests to 127.0.0.1.
    cloud = c.cloud  # type: ignore[attr-defined]
    target = {"kind": "huaweicloud", "region": "cn-north-4", "project_id": PROJECT,
              "endpoint": cloud.endpoint}  # fmt: skip
    spec = write_spec(c.root / "hwc", target)
    (c.root / "hwc" / "imported").symlink_to(c.root / "imported")
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", CANARY_AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", CANARY_SK)
    for mode in (["--debug"], ["--debug", "--output", "json"]):
        assert run(c, capsys, "plan", str(spec), "--out", str(c.root / "hwc.json"), *mode) == 0
        assert run(c, capsys, "apply", str(spec), "--auto-approve", *mode) == 0
        assert run(c, capsys, "destroy", str(spec), "--auto-approve", *mode) == 0
    assert cloud.emulator.stats.snapshot()["by_status"].get("201", 0) > 0  # really signed

    # Failure paths, where secrets most often slip into messages: a wrong SK (401 from the
    # API), a wrong key password, without and with --debug (which re-raises).
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", WRONG_SK)
    for mode in ([], ["--debug"], ["--output", "json"]):
        assert run(c, capsys, "plan", str(spec), *mode) != 0
    monkeypatch.setenv("SHOP_KEY_PASSWORD", "canary-not-the-password-31d")
    c.secrets["wrong key password"] = "canary-not-the-password-31d"
    for mode in ([], ["--debug"]):
        assert run(c, capsys, "validate", str(spec), *mode) != 0

    for path in produced_files(c.root):
        c.seen.append((str(path.relative_to(c.root)), path.read_text(errors="replace")))
    c.seen.append(("python logging at DEBUG", "\n".join(c.logs)))
    written = {where for where, _ in c.seen}
    assert {"out/text/plan.json", "out/json/report.json", "out/text/verify.xml"} <= written
    assert any(line.startswith("HuaweiCloud-SDK-ElbClient") for line in c.logs)
    assert any(line.startswith("urllib3") for line in c.logs)
    assert len(c.secrets) > 20
    assert c.hits() == []


def test_the_scanner_finds_a_planted_secret(tmp_path: Path) -> None:
    """The negative control: the same scan reports a secret that is really there."""
    c = Canary(tmp_path, None, [])  # type: ignore[arg-type]
    c.add_pem("key", issue("x").key_pem().decode())
    c.secrets["sk"] = CANARY_SK
    line = next(iter(c.secrets.values()))
    c.seen = [("stdout", f"... {line} ..."), ("log", f"signed with {CANARY_SK}")]
    assert c.hits() == ["key line 1 in stdout", "sk in log"]
