"""Crash safety: SIGKILL at every file operation of `deploy certs` (the stage apply runs
after approval), then the next run must use or repair the PKI by itself.

The child process is forked and kills itself with SIGKILL at the Nth disk-changing
operation (`layout.crash_hook`), for N = 1, 2, ... until a run completes untouched.
After each kill the next run must succeed, and then: every certificate has its key, no
`.partial` generation or temp file is left, and every earlier generation is still there.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from elb_mtls_deploy.pki import ensure_certificates, layout, load_bundles
from elb_mtls_deploy.pki.keys import key_matches, load_key
from elb_mtls_deploy.spec.model import Spec

SpecFactory = Callable[..., Spec]
CertsFactory = Callable[..., dict[str, Any]]


def killed_at(n: int, run: Callable[[], object]) -> bool:
    """Run `run` in a child killed at its n-th file operation; False if it finished first."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        count = 0

        def hook(label: str) -> None:
            nonlocal count
            count += 1
            if count == n:
                os.kill(os.getpid(), signal.SIGKILL)

        layout.crash_hook = hook
        try:
            run()
        except BaseException:
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, f"the child failed at step {n} before being killed"
    return False


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def assert_sound(spec: Spec, base: Path, keep: dict[str, bytes]) -> None:
    """The PKI a run left: complete, no leftovers, every older generation intact."""
    pki = base / "pki"
    leftovers = [p for p in pki.rglob("*") if p.name.endswith((".partial", ".tmp"))]
    assert leftovers == []
    now = tree(pki)
    for path, data in keep.items():
        if "/0" in path and not path.endswith("manifest.json"):
            assert now.get(path) == data, f"{path} changed or vanished"
    for name, bundle in load_bundles(spec, base, {}).items():
        if bundle.key_pem is not None:
            key = load_key(bundle.key_pem.encode(), where=name, password=None, password_env=None)
            assert key_matches(key, bundle.certificate), name


def campaign(spec: Spec, base: Path, now: datetime) -> int:
    """Kill at every step of one `certs` run over a copy of `base`; the number of steps."""
    steps = 0
    while True:
        steps += 1
        work = base.with_name(f"{base.name}-{steps}")
        _copy(base, work)
        keep = tree(work / "pki") if (work / "pki").exists() else {}
        if not killed_at(steps, lambda w=work: ensure_certificates(spec, w, {}, now)):
            break
        report = ensure_certificates(spec, work, {}, now)  # the next run repairs or finishes
        assert_sound(spec, work, keep)
        again = ensure_certificates(spec, work, {}, now)
        assert {c.action for c in again.certificates} <= {"kept", "imported"}, steps
        assert report.bundles.keys() == again.bundles.keys()
    return steps - 1


def _copy(source: Path, target: Path) -> None:
    import shutil

    shutil.copytree(source, target, symlinks=True)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "stack"
    path.mkdir()
    return path


def test_a_kill_at_any_step_of_a_fresh_issue_leaves_a_usable_pki(
    spec: Spec, base: Path, now: datetime
) -> None:
    steps = campaign(spec, base, now)
    assert steps >= 20  # every mkdir, create, write, rename, sync and manifest replace


def test_a_kill_at_any_step_of_a_reissue_keeps_every_generation(
    make_spec: SpecFactory, certs: CertsFactory, base: Path, now: datetime
) -> None:
    wider = make_spec(**certs(servers__0__dns_names=["www.test.com", "api.test.com"]))
    ensure_certificates(make_spec(), base, {}, now)
    later = now + timedelta(days=397 - 10)  # the leaves renew too
    steps = campaign(wider, base, later)
    assert steps >= 10


def test_the_old_flat_layout_migrates_safely_under_kills(
    spec: Spec, base: Path, now: datetime
) -> None:
    flat = _flat_layout(spec, base, now)
    steps = campaign(spec, base, now)
    assert steps >= 5
    work = base.with_name(f"{base.name}-1")
    kept = {p.name: p.read_bytes() for p in (work / "pki").rglob("*.key")}
    for name, data in flat.items():
        if name.endswith(".key"):
            assert data in kept.values(), f"{name} was lost"


def _flat_layout(spec: Spec, base: Path, now: datetime) -> dict[str, bytes]:
    """What earlier versions wrote: every file directly in pki/."""
    ensure_certificates(spec, base, {}, now)
    pki = base / "pki"
    flat: dict[str, bytes] = {}
    for path in sorted(pki.rglob("*")):
        if path.is_file() and path.parent.name == "0001":
            flat[path.name] = path.read_bytes()
    import shutil

    shutil.rmtree(pki)
    pki.mkdir(mode=0o700)
    for name, data in flat.items():
        target = pki / name
        target.write_bytes(data)
        os.chmod(target, 0o644 if name.endswith(".crt") else 0o600)
    return flat
