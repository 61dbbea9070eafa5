"""Run the GitLab CI template's jobs for real with gitlab-ci-local (shell executor).

A temporary git project holds ci/gitlab/example/ (a .gitlab-ci.yml that includes the
template, and a spec for the embedded emulator whose client CA key is a *file* variable).
gitlab-ci-local (pinned, installed into a private prefix by
ci/gitlab/install-gitlab-ci-local.sh) runs validate -> plan -> apply (manual) -> verify
with `--force-shell-executor --shell-isolation`: each job in its own copy of the tracked
files, artifacts and the cache carried between jobs as GitLab would. `deploy` comes from
this venv (ELB_INSTALL=true). Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "ci" / "gitlab" / "install-gitlab-ci-local.sh"
# gitlab-ci-local's bundled schema predates `artifacts:public` (GitLab still accepts it,
# and the issue asks for it); the fast lint test checks the artifacts keys instead.
GCL_FLAGS = (
    "--ignore-schema-paths",
    "#/additionalProperties",
    "--force-shell-executor",
    "--shell-isolation",
    "--no-color",
    "--variable",
    "ELB_INSTALL=true",
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gcl() -> str:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node/npm not installed: cannot install gitlab-ci-local")
    done = subprocess.run(
        ["bash", str(INSTALL)], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode == 3:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("gitlab")
    secrets = base / "secrets"
    secrets.mkdir()
    ca_key = secrets / "client-ca.key"
    key = ec.generate_private_key(ec.SECP256R1())
    ca_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca_key.chmod(0o600)

    proj = base / "project"
    (proj / "ci" / "gitlab").mkdir(parents=True)
    shutil.copy(ROOT / "ci" / "gitlab" / "elb-mtls-deploy.gitlab-ci.yml", proj / "ci" / "gitlab")
    shutil.copytree(ROOT / "ci" / "gitlab" / "example", proj, dirs_exist_ok=True)
    # A value that is a file path makes gitlab-ci-local create a *file* variable, as a
    # GitLab file variable would: the job sees a path to a temporary copy of the key.
    (proj / ".gitlab-ci-local-variables.yml").write_text(f"CLIENT_CA_KEY_FILE: {ca_key}\n")
    (proj / ".gitignore").write_text(".gitlab-ci-local/\n.gitlab-ci-local-variables.yml\n")
    git = ["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci"]
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-q", "-m", "pipeline"],
        ["remote", "add", "origin", "git@gitlab.example.invalid:group/demo.git"],
        ["update-ref", "refs/remotes/origin/main", "HEAD"],
        ["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"],
    ):
        subprocess.run([*git, *args], cwd=proj, check=True, timeout=60)
    return proj


def run(gcl: str, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [gcl, *GCL_FLAGS, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def build(project: Path, job: str) -> Path:
    """A job's isolated working copy (gitlab-ci-local names it after the job)."""
    [found] = [
        p for p in (project / ".gitlab-ci-local" / "builds").iterdir() if p.name.endswith(job)
    ]
    return found


def artifacts(project: Path) -> list[Path]:
    return [p for p in (project / ".gitlab-ci-local" / "artifacts").rglob("*") if p.is_file()]


def listed(gcl: str, project: Path, *args: str) -> dict[str, str]:
    done = run(gcl, project, "--list-csv", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split(";") for line in done.stdout.splitlines() if line.startswith("elb:")]
    return {row[0]: row[2] for row in rows}


def test_rules_per_pipeline_kind(gcl: str, project: Path) -> None:
    assert listed(gcl, project) == {
        "elb:validate": "on_success",
        "elb:plan": "on_success",
        "elb:apply": "manual",
        "elb:verify": "on_success",
    }
    merge_request = listed(
        gcl,
        project,
        "--variable",
        "CI_PIPELINE_SOURCE=merge_request_event",
        "--unset-variable",
        "CI_COMMIT_BRANCH",
    )
    assert merge_request == {"elb:validate": "on_success", "elb:plan": "on_success"}
    automatic = listed(gcl, project, "--variable", "ELB_AUTO_APPLY=true")
    assert automatic["elb:apply"] == "on_success"
    other_branch = listed(gcl, project, "--variable", "CI_COMMIT_BRANCH=feature")
    assert other_branch == {"elb:validate": "on_success"}


def test_pipeline_validate_plan_apply_verify(gcl: str, project: Path) -> None:
    done = run(gcl, project, "--manual", "elb:apply")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for name in ("elb:validate", "elb:plan", "elb:apply", "elb:verify"):
        assert f"PASS  {name}" in output, output
    assert "changes pending for stack demo-payments" in output

    report = json.loads((build(project, "plan") / "plan-report.json").read_text())
    assert report == {"create": 7, "update": 0, "delete": 0}

    files = artifacts(project)
    names = sorted(p.name for p in files)
    assert names == ["plan.json", "verify.xml"], names  # reports stay in the build dirs
    for path in files:
        assert b"PRIVATE KEY" not in path.read_bytes(), path
    plan = json.loads(next(p for p in files if p.name == "plan.json").read_text())
    assert plan["stack"] == "demo-payments"
    assert "PRIVATE KEY" not in json.dumps(plan)

    suites = ET.parse(build(project, "verify") / "verify.xml").getroot()
    assert int(suites.get("tests", "0")) > 0
    assert suites.get("failures") == "0" and suites.get("errors") == "0"

    # The PKI persisted in the cache (leaf keys included), the CA key did not: it is only
    # ever the file variable.
    cached = project / ".gitlab-ci-local" / "cache" / "elb-pki-demo-payments" / "elb" / "pki"
    stack = cached / "demo-payments"
    assert (stack / "manifest.json").exists()
    assert (stack / "www" / "0001" / "www.key").exists()
    assert (stack / "client-ca" / "0001" / "client-ca.crt").exists()
    assert not list(cached.rglob("client-ca.key"))


def test_second_pipeline_sees_no_changes(gcl: str, project: Path) -> None:
    done = run(gcl, project, "--manual", "elb:apply")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "no changes for stack demo-payments" in output
    assert " issued " not in output and " renewed " not in output  # certificates kept
    report = json.loads((build(project, "plan") / "plan-report.json").read_text())
    assert report == {"create": 0, "update": 0, "delete": 0}
    assert "PASS  elb:verify" in output


def test_plan_error_fails_the_job(gcl: str, project: Path) -> None:
    # Every certificate expires within 100 years: plan exits 1, which must fail the job
    # (unlike exit 2, "changes pending").
    done = run(gcl, project, "elb:plan", "--variable", "ELB_PLAN_ARGS=--fail-on-expiry 36500")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "plan failed (exit 1)" in output
    assert "FAIL  elb:plan" in output
