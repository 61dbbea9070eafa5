"""Fixtures for the PKI tests: a spec builder, a fixed clock and an `openssl` runner.

All key material is generated at run time in tmp dirs; nothing secret is committed."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from elb_mtls_deploy.spec.model import Spec

SpecFactory = Callable[..., Spec]


def spec_dict(**certificates: Any) -> dict[str, Any]:
    """A minimal valid spec around the given `certificates` section."""
    certs = certificates or default_certificates()
    server = certs["servers"][0]["name"]
    ca = certs["cas"][0]["name"]
    return {
        "stack": "demo",
        "target": {"kind": "embedded"},
        "certificates": certs,
        "listeners": [
            {
                "name": "web",
                "loadbalancer": {"name": "lb"},
                "server_certificate": server,
                "client_ca": ca,
                "pool": {},
            }
        ],
    }


def default_certificates() -> dict[str, Any]:
    return {
        "cas": [{"name": "ca", "subject": {"common_name": "Demo CA", "organization": "ELB"}}],
        "servers": [
            {
                "name": "web",
                "issuer": "ca",
                "subject": {"common_name": "www.test.com", "organization": "ELB"},
                "dns_names": ["www.test.com", "localhost"],
                "ip_addresses": ["127.0.0.1"],
            }
        ],
        "clients": [
            {"name": "alice", "issuer": "ca", "subject": {"common_name": "alice"}, "p12": {}}
        ],
    }


@pytest.fixture
def now() -> datetime:
    """Real time, taken per test: openssl, Python's ssl and files made by openssl during the
    test all judge validity against the system clock."""
    return datetime.now(UTC)


@pytest.fixture
def make_spec() -> SpecFactory:
    def build(**certificates: Any) -> Spec:
        return Spec.model_validate(spec_dict(**certificates))

    return build


CertsFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def certs() -> CertsFactory:
    """The default certificates section with changes given as `group__index__field=value`."""

    def build(**changes: Any) -> dict[str, Any]:
        data = copy.deepcopy(default_certificates())
        for path, value in changes.items():
            group, index, key = path.split("__")
            data[group][int(index)][key] = value
        return data

    return build


@pytest.fixture
def spec(make_spec: SpecFactory) -> Spec:
    return make_spec()


OpenSSL = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def openssl() -> OpenSSL:
    """Run openssl as an independent checker. Passwords go via `-passin env:VAR`, never argv.
    `check=True` (the default) fails the test with openssl's stderr."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")

    def run(
        *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["openssl", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        if check:
            assert done.returncode == 0, f"openssl {args[0]} failed:\n{done.stderr}"
        return done

    return run


class CurrentFiles:
    """`pki / "web.key"`: that file in the current generation of certificate `web`.

    The PKI keeps one directory per generation (`pki/<stack>/<name>/<NNNN>/`); tests that
    only care about "the files in use now" address them by file name through this."""

    def __init__(self, root: Path, stack: str = "demo") -> None:
        self.root, self.stack = root, stack

    @property
    def stack_dir(self) -> Path:
        return self.root / self.stack

    def generation(self, name: str) -> Path:
        manifest = self.stack_dir / "manifest.json"
        if not manifest.exists():
            return self.stack_dir / name / "none"
        entry = json.loads(manifest.read_text())["entries"].get(name)
        current = entry["current"] if entry and entry["current"] else "none"
        return self.stack_dir / name / current

    def __truediv__(self, filename: str) -> Path:
        return self.generation(filename.split(".", 1)[0]) / filename

    def files(self) -> list[str]:
        """Every file name of every current generation, sorted."""
        names = []
        for entry in sorted(p.name for p in self.stack_dir.iterdir() if p.is_dir()):
            directory = self.generation(entry)
            if directory.is_dir():
                names += [p.name for p in directory.iterdir()]
        return sorted(names)
