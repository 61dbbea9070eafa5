"""The import contracts cover every module: a probe import that breaks a layer fails lint.

Each case copies the package, injects one import that the architecture forbids, and runs
`lint-imports` over the copy with the project's own contracts (pyproject.toml).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="lint-imports is not installed")


def lint(
    tmp_path: Path, module: str | None = None, line: str = ""
) -> subprocess.CompletedProcess[str]:
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "elb_mtls_deploy",
        src / "elb_mtls_deploy",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if module is not None:
        path = src / module
        path.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text() if path.exists() else '"""A new module."""\n'
        path.write_text(text + f"\n{line}  # noqa\n")
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    done = lint(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("elb_mtls_deploy/diff.py", "import elb_mtls_deploy.pki.store", "pure core does no I/O"),
        ("elb_mtls_deploy/emulator/control/models.py", "import elb_mtls_deploy.state", "Layers"),
        ("elb_mtls_deploy/state.py", "import huaweicloudsdkcore", "official SDK"),
        ("elb_mtls_deploy/plan.py", "import elb_mtls_deploy.workflow", "Layers"),
        ("elb_mtls_deploy/brand_new.py", "import elb_mtls_deploy.state", "Layers"),
        (
            "elb_mtls_deploy/emulator/data/listeners.py",
            "import elb_mtls_deploy.emulator.control.models",
            "Emulator: edges -> control plane -> data plane",
        ),
        (
            "elb_mtls_deploy/emulator/control/admin.py",
            "from elb_mtls_deploy.emulator.control.api import Emulator",
            "Emulator control plane",
        ),
        ("elb_mtls_deploy/emulator/brand_new.py", "import os", "Emulator: edges"),
        ("elb_mtls_deploy/cli.py", "import elb_mtls_deploy.apply", "only through workflow/"),
        (
            "elb_mtls_deploy/workflow/session.py",
            "import elb_mtls_deploy.workflow.deploy",
            "Layers inside workflow/",
        ),
    ],
    ids=[
        "core-reads-pki-files",
        "emulator-imports-the-product",
        "sdk-outside-cloud",
        "core-imports-workflow",
        "unplaced-new-module",
        "data-plane-reads-control-models",
        "admin-imports-api-back",
        "unplaced-new-emulator-module",
        "cli-drives-the-engine",
        "workflow-session-imports-a-command",
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    done = lint(tmp_path, module, line)
    assert done.returncode != 0
    broken = [row for row in done.stdout.splitlines() if "BROKEN" in row]
    assert any(contract in row for row in broken), done.stdout
