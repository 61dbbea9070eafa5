"""Property-based fuzzing of the two parsers that read hostile input: the spec loader and
the certificate/key importer (plus the linter over arbitrary PEM text).

The properties: the spec loader returns a `Spec` or raises `SpecError`, nothing else; the
importer returns a bundle or raises `CertificateError`; `lint_pem` always returns findings.
No example may take longer than `HANG_SECONDS` (SIGALRM) or allocate more than
`MAX_PYTHON_BYTES` through Python (tracemalloc peak). 1,600 examples in all, derandomized
so CI replays the same cases.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import signal
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elb_mtls_deploy.errors import CertificateError, SpecError
from elb_mtls_deploy.pki import lint_pem
from elb_mtls_deploy.pki.importing import import_bundle
from elb_mtls_deploy.spec.load import load_spec
from elb_mtls_deploy.spec.model import ImportSource, KeySource, Spec
from tests.security.material import issue

HANG_SECONDS = 10.0
MAX_PYTHON_BYTES = 64 * 1024 * 1024
T = TypeVar("T")


def fuzz(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Hang(Exception):
    pass


@contextlib.contextmanager
def bounded() -> Iterator[None]:
    """Fail the example if it runs too long or allocates without bound."""

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"took longer than {HANG_SECONDS}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
        assert peak < MAX_PYTHON_BYTES, f"allocated {peak} bytes"
    finally:
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# --- the spec loader ----------------------------------------------------------------------

VALID: dict[str, Any] = {
    "stack": "fuzz",
    "target": {"kind": "embedded"},
    "certificates": {
        "cas": [{"name": "root", "subject": {"common_name": "Root CA"}}],
        "servers": [
            {
                "name": "web",
                "issuer": "root",
                "subject": {"common_name": "www.test.com"},
                "dns_names": ["www.test.com"],
            }
        ],
        "clients": [{"name": "teller", "issuer": "root", "subject": {"common_name": "t"}}],
    },
    "listeners": [
        {
            "name": "web",
            "loadbalancer": {"name": "emulator-dedicated-lb"},
            "port": 443,
            "server_certificate": "web",
            "client_ca": "root",
            "insert_headers": {"client_cert_subject_dn": True},
            "pool": {
                "health_monitor": {"type": "HTTP", "url_path": "/healthz"},
                "members": [{"address": "127.0.0.1", "port": 8080, "weight": 3}],
            },
        }
    ],
}

TOKENS = [
    "stack: ", "target:", " kind: embedded", "listeners:", "- ", ": ", "\n", "  ", "    ",
    "{", "}", "[", "]", ",", "&a ", "*a", "<<: ", "!!python/object:os.system ", "!!binary ",
    "!custom ", "? ", "|", ">", "'", '"', "%YAML 1.1\n", "---\n", "...\n", "#", "${HOME}",
    "${NOPE}", "$$", "${", "\t", "\r", "\\u0000", "\\x00", "~", "null", "1e999", "0x1F",
    "port", "443", "-1", "99999999999999999999", "name", "web", "pool", "members", "\ufeff",
    "\u2028", "=", "@", "`", "%",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["${HOME}", "${UNSET_VAR}", "$$", "emulator-dedicated-lb", "web", "root"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


PATHS = paths(VALID)[1:]


def load(folder: Path, data: bytes, env: dict[str, str] | None = None) -> None:
    path = folder / "spec.yaml"
    path.write_bytes(data)
    with bounded():
        try:
            result = load_spec(path, env or {"HOME": "/home/fuzz"})
        except SpecError as exc:
            assert str(exc)  # a message, never empty
            return
    assert isinstance(result, Spec)


@fuzz(250)
@given(data=st.binary(max_size=4096))
def test_spec_loader_on_arbitrary_bytes(folder: Path, data: bytes) -> None:
    load(folder, data)


@fuzz(150)
@given(text=st.text(max_size=2000))
def test_spec_loader_on_arbitrary_text(folder: Path, text: str) -> None:
    load(folder, text.encode("utf-8", "surrogatepass"))


@fuzz(250)
@given(parts=st.lists(st.sampled_from(TOKENS), max_size=80))
def test_spec_loader_on_yaml_token_soup(folder: Path, parts: list[str]) -> None:
    load(folder, "".join(parts).encode("utf-8", "surrogatepass"))


@fuzz(300)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(PATHS), values, st.booleans()), min_size=1, max_size=3
    ),
    env=st.dictionaries(st.sampled_from(["HOME", "UNSET_VAR", "X"]), st.text(max_size=8)),
)
def test_spec_loader_on_edited_valid_specs(
    folder: Path, edits: list[tuple[tuple[Any, ...], Any, bool]], env: dict[str, str]
) -> None:
    """A valid spec with 1-3 values replaced (or deleted): pydantic's errors, union tags,
    cross-reference checks and `${VAR}` interpolation all end as one SpecError."""
    document = copy.deepcopy(VALID)
    for path, value, delete in edits:
        _set(document, path, value, delete)
    load(folder, yaml.safe_dump(document, allow_unicode=True).encode("utf-8", "surrogatepass"), env)


def _set(document: Any, path: tuple[Any, ...], value: Any, delete: bool) -> None:
    node = document
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    with contextlib.suppress(KeyError, IndexError, TypeError):
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value


# --- the certificate importer -------------------------------------------------------------

LABELS = ["CERTIFICATE", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY",
          "EC PRIVATE KEY", "PKCS7", "X509 CRL", "CERTIFICATE REQUEST"]  # fmt: skip
HEADERS = ["", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"]


@pytest.fixture(scope="module")
def real() -> dict[str, bytes]:
    ca = issue("Fuzz CA", is_ca=True)
    leaf = issue("www.test.com", issuer=ca, key="rsa")
    return {"cert_der": leaf.der, "key_der": leaf.key_der(), "cert_pem": leaf.pem,
            "key_pem": leaf.key_pem(), "ca_pem": ca.pem}  # fmt: skip


def armour(label: str, header: str, body: bytes) -> bytes:
    lines = "\n".join(base64.encodebytes(body).decode().split())
    return f"-----BEGIN {label}-----\n{header}{lines}\n-----END {label}-----\n".encode()


def mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    raw = bytearray(data)
    for position, value in flips:
        raw[position % len(raw)] = value
    return bytes(raw[:cut] if cut else raw)


def import_files(folder: Path, certificate: bytes, key: bytes, password: str | None) -> None:
    (folder / "leaf.crt").write_bytes(certificate)
    (folder / "leaf.key").write_bytes(key)
    source = ImportSource(
        certificate=Path("leaf.crt"),
        key=KeySource(file=Path("leaf.key"), password_env="KEY_PASSWORD" if password else None),
    )
    env = {"KEY_PASSWORD": password} if password else {}
    with bounded():
        try:
            bundle = import_bundle("leaf", "server", source, folder, env)
        except CertificateError as exc:
            assert str(exc)
            return
    assert bundle.certificate_pem.startswith("-----BEGIN CERTIFICATE-----")


pem_blocks = st.builds(
    armour,
    st.sampled_from(LABELS),
    st.sampled_from(HEADERS),
    st.binary(max_size=600),
)


@fuzz(200)
@given(certificate=st.binary(max_size=3000), key=st.binary(max_size=3000))
def test_importer_on_arbitrary_bytes(folder: Path, certificate: bytes, key: bytes) -> None:
    import_files(folder, certificate, key, None)


@fuzz(200)
@given(
    certificate=st.lists(pem_blocks, min_size=1, max_size=3).map(b"".join),
    key=pem_blocks,
    password=st.one_of(st.none(), st.text(min_size=1, max_size=10)),
)
def test_importer_on_pem_armoured_junk(
    folder: Path, certificate: bytes, key: bytes, password: str | None
) -> None:
    import_files(folder, certificate, key, password)


@fuzz(150)
@given(
    target=st.sampled_from(["cert_der", "key_der"]),
    flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(1, 1200)),
    as_pem=st.booleans(),
)
def test_importer_on_damaged_real_material(
    folder: Path,
    real: dict[str, bytes],
    target: str,
    flips: list[tuple[int, int]],
    cut: int | None,
    as_pem: bool,
) -> None:
    """A real certificate or key with bytes flipped or cut off, as DER or re-armoured PEM."""
    damaged = mutate(real[target], flips, cut)
    if target == "cert_der":
        certificate = armour("CERTIFICATE", "", damaged) if as_pem else damaged
        import_files(folder, certificate + real["ca_pem"], real["key_pem"], None)
    else:
        key = armour("PRIVATE KEY", "", damaged) if as_pem else damaged
        import_files(folder, real["cert_pem"], key, None)


@fuzz(150)
@given(
    certificate=st.one_of(st.text(max_size=2000), pem_blocks.map(bytes.decode)),
    key=st.one_of(st.none(), st.text(max_size=500), pem_blocks.map(bytes.decode)),
    ca=st.one_of(st.none(), pem_blocks.map(bytes.decode)),
    role=st.sampled_from(["server", "ca", "client"]),
)
def test_lint_pem_always_returns_findings(
    certificate: str, key: str | None, ca: str | None, role: Any
) -> None:
    with bounded():
        findings = lint_pem(
            "fuzz", role, certificate, now=datetime.now(UTC), key_pem=key, ca_pem=ca
        )
    assert isinstance(findings, list)
    assert all(f.severity in ("error", "warning", "info") for f in findings)


def test_fuzzing_budget_is_at_least_1000_cases() -> None:
    budgets = [
        test._hypothesis_internal_use_settings.max_examples  # type: ignore[attr-defined]
        for test in (
            test_spec_loader_on_arbitrary_bytes,
            test_spec_loader_on_arbitrary_text,
            test_spec_loader_on_yaml_token_soup,
            test_spec_loader_on_edited_valid_specs,
            test_importer_on_arbitrary_bytes,
            test_importer_on_pem_armoured_junk,
            test_importer_on_damaged_real_material,
            test_lint_pem_always_returns_findings,
        )
    ]
    assert sum(budgets) >= 1000
