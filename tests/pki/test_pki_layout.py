"""The PKI directory's safety rules and layout: permissions, symlinks, the ownership
manifest, the old flat layout's migration and the kept generations."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.pki.conftest import CurrentFiles, spec_dict

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import assess, ensure_certificates, history, locked
from elb_mtls_deploy.spec.model import Spec

SpecFactory = Callable[..., Spec]


@pytest.fixture
def issued(spec: Spec, tmp_path: Path, now: datetime) -> CurrentFiles:
    ensure_certificates(spec, tmp_path, {}, now)
    return CurrentFiles(tmp_path / "pki")


def both(spec: Spec, tmp_path: Path, now: datetime) -> list[Callable[[], object]]:
    """plan's read-only view and the writer must both refuse."""
    return [
        lambda: assess(spec, tmp_path, {}, now),
        lambda: ensure_certificates(spec, tmp_path, {}, now),
    ]


@pytest.mark.parametrize("where", ["pki", "pki/demo"])
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_group_or_world_writable_pki_directory_is_refused(
    spec: Spec, tmp_path: Path, now: datetime, issued: CurrentFiles, where: str, mode: int
) -> None:
    os.chmod(tmp_path / where, mode)
    for call in both(spec, tmp_path, now):
        with pytest.raises(CertificateError, match="writable by group or others") as caught:
            call()
        assert f"chmod 700 {tmp_path / where}" in str(caught.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o400])
def test_a_key_that_is_not_0600_is_refused_with_the_exact_fix(
    spec: Spec, tmp_path: Path, now: datetime, issued: CurrentFiles, mode: int
) -> None:
    key = issued / "web.key"
    os.chmod(key, mode)
    for call in both(spec, tmp_path, now):
        with pytest.raises(CertificateError, match=f"has mode {mode:04o}, not 0600") as caught:
            call()
        assert f"chmod 600 {key}" in str(caught.value)


@pytest.mark.parametrize("victim", ["web.key", "alice.p12.password", "alice.p12"])
def test_a_symlink_inside_the_pki_directory_is_never_followed(
    spec: Spec, tmp_path: Path, now: datetime, issued: CurrentFiles, victim: str
) -> None:
    planted = tmp_path / "planted"
    target = issued / victim
    planted.write_bytes(target.read_bytes())
    os.chmod(planted, 0o600)
    target.unlink()
    target.symlink_to(planted)
    with pytest.raises(CertificateError, match="symbolic link"):
        ensure_certificates(spec, tmp_path, {}, now)
    assert planted.read_bytes()  # neither read as ours nor replaced


def test_a_symlinked_generation_directory_is_refused(
    spec: Spec, tmp_path: Path, now: datetime, issued: CurrentFiles
) -> None:
    generation = issued.generation("ca")
    moved = tmp_path / "elsewhere"
    generation.rename(moved)
    generation.symlink_to(moved, target_is_directory=True)
    for call in both(spec, tmp_path, now):
        with pytest.raises(CertificateError, match="symbolic link"):
            call()


def test_a_symlinked_lock_file_is_refused(spec: Spec, tmp_path: Path, issued: CurrentFiles) -> None:
    lock = issued.stack_dir / ".lock"
    target = tmp_path / "not-a-lock"
    target.write_text("precious")
    lock.symlink_to(target)
    for exclusive in (True, False):
        with (
            pytest.raises(CertificateError, match="symbolic link"),
            locked(spec, tmp_path, exclusive=exclusive),
        ):
            pass
    assert target.read_text() == "precious"


def test_a_reader_creates_no_lock_file(spec: Spec, tmp_path: Path) -> None:
    with locked(spec, tmp_path, exclusive=False):
        pass
    assert not (tmp_path / "pki").exists()


def test_the_manifest_names_the_owner_and_every_generation(
    spec: Spec, tmp_path: Path, now: datetime, issued: CurrentFiles
) -> None:
    ensure_certificates(spec, tmp_path, {}, now + timedelta(days=397 - 10))  # leaves renew
    manifest = json.loads((issued.stack_dir / "manifest.json").read_text())
    assert manifest["stack"] == "demo" and manifest["format"] == 1
    web = manifest["entries"]["web"]
    assert web["current"] == "0002" and [g["id"] for g in web["generations"]] == ["0001", "0002"]
    assert web["generations"][0]["files"] == ["web.crt", "web.key"]
    rows = history(spec, tmp_path)
    assert [(r.name, r.generation, r.current) for r in rows if r.name == "web"] == [
        ("web", "0001", False),
        ("web", "0002", True),
    ]
    assert all((r.directory / f"{r.name}.crt").exists() for r in rows)


def test_a_stack_directory_of_another_stack_is_refused(
    spec: Spec, tmp_path: Path, now: datetime, issued: CurrentFiles
) -> None:
    manifest = issued.stack_dir / "manifest.json"
    document = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**document, "stack": "someone-else"}))
    with pytest.raises(CertificateError, match="belongs to stack 'someone-else'"):
        ensure_certificates(spec, tmp_path, {}, now)


# --- the old flat layout ----------------------------------------------------------------


def flat_layout(spec: Spec, tmp_path: Path, now: datetime) -> dict[str, bytes]:
    """What earlier versions wrote: pki/<name>.crt/.key/... and one .previous generation."""
    ensure_certificates(spec, tmp_path, {}, now)
    ensure_certificates(spec, tmp_path, {}, now + timedelta(days=397 - 10))
    pki, stack = tmp_path / "pki", tmp_path / "pki" / "demo"
    flat: dict[str, bytes] = {}
    entries = json.loads((stack / "manifest.json").read_text())["entries"]
    for name in ("ca", "web", "alice"):
        generations = [g["id"] for g in entries[name]["generations"]]
        suffixes = [".previous", ""][-len(generations) :]
        for generation, suffix in zip(generations, suffixes, strict=True):
            directory = stack / name / generation
            for path in directory.iterdir():
                extension = path.name[len(name) :]
                if suffix and extension not in (".crt", ".key"):
                    continue
                flat[f"{name}{suffix}{extension}"] = path.read_bytes()
    for path in sorted(stack.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    stack.rmdir()
    for name, data in flat.items():
        (pki / name).write_bytes(data)
        os.chmod(pki / name, 0o644 if name.endswith(".crt") else 0o600)
    return flat


def test_the_flat_layout_is_read_as_is_by_plan_and_migrated_by_the_writer(
    spec: Spec, tmp_path: Path, now: datetime
) -> None:
    flat = flat_layout(spec, tmp_path, now)
    pki = tmp_path / "pki"
    later = now + timedelta(days=397 - 10)
    view = assess(spec, tmp_path, {}, later)
    assert dict(view.pending) == {} and not (pki / "demo").exists()  # plan: no change, no write
    report = ensure_certificates(spec, tmp_path, {}, later)
    assert {c.action for c in report.certificates} == {"kept"}
    assert sorted(p.name for p in pki.iterdir()) == ["demo"]  # the flat files moved
    current = CurrentFiles(pki)
    assert (current / "web.key").read_bytes() == flat["web.key"]
    assert (current / "web.key").parent.name == "0002"
    previous = pki / "demo" / "web" / "0001"
    assert (previous / "web.key").read_bytes() == flat["web.previous.key"]
    assert stat.S_IMODE((previous / "web.key").stat().st_mode) == 0o600
    manifest = json.loads((pki / "demo" / "manifest.json").read_text())
    web = manifest["entries"]["web"]["generations"]
    assert [g["migrated_from"] for g in web] == [
        ["web.previous.crt", "web.previous.key"],
        ["web.crt", "web.key"],
    ]


def test_a_flat_ca_taken_over_by_another_stack_is_refused_not_reissued(
    spec: Spec, tmp_path: Path, now: datetime
) -> None:
    flat_layout(spec, tmp_path, now)
    ensure_certificates(spec, tmp_path, {}, now)  # stack "demo" migrates the shared files
    other: dict[str, Any] = spec_dict()
    other["stack"] = "other"
    with pytest.raises(CertificateError, match="taken over by stack 'demo'") as caught:
        ensure_certificates(Spec.model_validate(other), tmp_path, {}, now)
    assert "import" in str(caught.value)
    assert not (tmp_path / "pki" / "other").exists() or not list(
        (tmp_path / "pki" / "other").rglob("*.key")
    )


def test_deploy_certs_history_lists_every_generation_and_writes_nothing(
    tmp_path: Path, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from elb_mtls_deploy.cli import main

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec_dict()))
    assert main(["certs", str(spec_file), "--history"]) == 0
    assert capsys.readouterr().out == "" and not (tmp_path / "pki").exists()
    assert main(["certs", str(spec_file)]) == 0
    wider = spec_dict()
    wider["certificates"]["servers"][0]["dns_names"] = ["www.test.com", "api.test.com"]
    spec_file.write_text(yaml.safe_dump(wider))
    assert main(["certs", str(spec_file)]) == 0
    capsys.readouterr()
    assert main(["certs", str(spec_file), "--history"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    web = [line for line in lines if line[0] == "web"]
    assert [line[1] for line in web] == ["0001", "0002"]
    assert "current" not in web[0] and web[1][2] == "current"
    assert "(subjectAltName changed; generation 0001 kept)" in " ".join(web[1])  # the reason
