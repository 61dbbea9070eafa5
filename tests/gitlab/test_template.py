"""Run the GitLab CI jobs for real with gitlab-ci-local (shell executor), twice: through
the plain `include:` of ci/gitlab/elb-mtls-deploy.gitlab-ci.yml and through the CI/CD
component templates/elb-mtls-deploy.yml (gitlab-ci-local resolves a component of the
project itself, at its current commit, from the working copy).

A temporary git project holds ci/gitlab/example/ (a spec for the embedded emulator whose
CA keys are *file* variables) and the templates. gitlab-ci-local (pinned, installed into a
private prefix by ci/gitlab/install-gitlab-ci-local.sh) runs the pipelines with
`--force-shell-executor --shell-isolation`: each job in its own copy of the tracked files,
artifacts and the cache carried between jobs as GitLab would. `deploy` comes from this
venv (the install line is `true`). Everything talks to 127.0.0.1 only.

Which jobs a real GitLab puts in which pipeline is checked by test_rules.py (gitlab-ci-local
does not model merge request pipelines faithfully); here the jobs run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "ci" / "gitlab" / "install-gitlab-ci-local.sh"
# gitlab-ci-local's bundled schema predates `artifacts:public` (GitLab still accepts it);
# the fast lint test checks the artifacts keys instead.
GCL_FLAGS = (
    "--ignore-schema-paths",
    "#/additionalProperties",
    "--force-shell-executor",
    "--shell-isolation",
    "--no-color",
    "--variable",
    "ELB_INSTALL=true",
)
MERGE_REQUEST = (
    "--variable",
    "CI_PIPELINE_SOURCE=merge_request_event",
    "--unset-variable",
    "CI_COMMIT_BRANCH",
    "--variable",
    "CI_MERGE_REQUEST_IID=7",
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


def _key(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def git(project: Path, *args: str) -> None:
    base = ["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci"]
    subprocess.run([*base, *args], cwd=project, check=True, timeout=60, capture_output=True)


@pytest.fixture(scope="module", params=["include", "component"])
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp(f"gitlab-{request.param}")
    secrets = base / "secrets"
    secrets.mkdir()
    _key(secrets / "server-ca.key")
    _key(secrets / "client-ca.key")

    proj = base / "project"
    (proj / "ci" / "gitlab").mkdir(parents=True)
    shutil.copy(ROOT / "ci" / "gitlab" / "elb-mtls-deploy.gitlab-ci.yml", proj / "ci" / "gitlab")
    shutil.copytree(ROOT / "templates", proj / "templates")
    shutil.copytree(ROOT / "ci" / "gitlab" / "example", proj, dirs_exist_ok=True)
    if request.param == "component":
        shutil.copy(
            ROOT / "ci" / "gitlab" / "example-component.gitlab-ci.yml", proj / ".gitlab-ci.yml"
        )
    # A value that is a file path makes gitlab-ci-local create a *file* variable, as a
    # GitLab file variable would: the job sees a path to a temporary copy of the key.
    (proj / ".gitlab-ci-local-variables.yml").write_text(
        f"SERVER_CA_KEY_FILE: {secrets / 'server-ca.key'}\n"
        f"CLIENT_CA_KEY_FILE: {secrets / 'client-ca.key'}\n"
    )
    (proj / ".gitignore").write_text(".gitlab-ci-local/\n.gitlab-ci-local-variables.yml\n")
    git(proj, "init", "-q", "-b", "main")
    git(proj, "add", "-A")
    git(proj, "commit", "-q", "-m", "pipeline")
    git(proj, "remote", "add", "origin", "git@gitlab.example.invalid:group/demo.git")
    git(proj, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(proj, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    return proj


def run(gcl: str, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [gcl, *GCL_FLAGS, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
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


class _Notes(BaseHTTPRequestHandler):
    """GitLab's merge request notes API, as far as the plan job uses it (GitLab docs,
    "Notes API": list, create, modify), recording every request."""

    notes: ClassVar[dict[int, str]] = {}
    requests: ClassVar[list[dict[str, Any]]] = []

    def _answer(self, status: int, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        seen = {"method": self.command, "path": self.path,
                "token": self.headers.get("PRIVATE-TOKEN"), "body": body.get("body")}  # fmt: skip
        self.requests.append(seen)
        return seen

    def do_GET(self) -> None:
        self._record()
        self._answer(200, [{"id": i, "body": b} for i, b in self.notes.items()])

    def do_POST(self) -> None:
        seen = self._record()
        note = len(self.notes) + 1
        self.notes[note] = str(seen["body"])
        self._answer(201, {"id": note})

    def do_PUT(self) -> None:
        seen = self._record()
        note = int(self.path.rsplit("/", 1)[1])
        self.notes[note] = str(seen["body"])
        self._answer(200, {"id": note})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gitlab_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback stand-in for GitLab's notes API, recording what the plan job sends."""
    _Notes.notes, _Notes.requests = {}, []
    server = HTTPServer(("127.0.0.1", 0), _Notes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v4", _Notes.requests
    finally:
        server.shutdown()
        server.server_close()


def test_rules_per_pipeline_kind(gcl: str, project: Path) -> None:
    assert listed(gcl, project) == {
        "elb:validate": "on_success",
        "elb:plan": "on_success",
        "elb:apply": "manual",
        "elb:verify": "on_success",
        "elb:destroy": "manual",
    }
    assert listed(gcl, project, *MERGE_REQUEST) == {
        "elb:validate": "on_success",
        "elb:plan": "on_success",
    }
    scheduled = listed(gcl, project, "--variable", "CI_PIPELINE_SOURCE=schedule")
    assert scheduled == {"elb:drift": "on_success", "elb:verify:scheduled": "on_success"}
    other_branch = listed(gcl, project, "--variable", "CI_COMMIT_BRANCH=feature")
    assert other_branch == {"elb:validate": "on_success"}


def test_merge_request_plan_needs_no_ca_key_and_posts_a_note(
    gcl: str, project: Path, gitlab_api: tuple[str, list[dict[str, Any]]]
) -> None:
    url, requests = gitlab_api
    merge_request = (
        *MERGE_REQUEST,
        "--variable",
        "SERVER_CA_KEY_FILE=/dev/null",  # protected variables are absent in merge requests
        "--variable",
        "CLIENT_CA_KEY_FILE=/dev/null",
        "--variable",
        "ELB_NOTE_TOKEN=note-token-for-the-test",
        "--variable",
        f"CI_API_V4_URL={url}",
    )
    done = run(gcl, project, *merge_request)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "PASS  elb:plan" in output
    # gitlab-ci-local renders a section_start/section_end pair as "<name>_started" ...
    # "<name> took"; GitLab folds the lines between them.
    assert "elb_plan_started" in output and "elb_plan took" in output
    assert "Plan: 7 to add, 0 to change, 0 to destroy." in output
    assert "plan posted on merge request !7" in output
    report = json.loads((build(project, "plan") / "plan-report.json").read_text())
    assert report == {"create": 7, "update": 0, "delete": 0}
    get, post = requests
    assert get["method"] == "GET" and post["method"] == "POST"
    assert post["path"].endswith("/merge_requests/7/notes")
    assert post["token"] == "note-token-for-the-test"
    assert "Plan: 7 to add" in post["body"] and "PRIVATE KEY" not in post["body"]
    assert not (build(project, "plan") / "elb" / "pki" / "server-ca.crt").exists()

    # The next pipeline of the merge request updates that note instead of adding one.
    done = run(gcl, project, *merge_request)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "plan updated on merge request !7" in done.stdout + done.stderr
    assert [r["method"] for r in requests] == ["GET", "POST", "GET", "PUT"]
    assert requests[-1]["path"].endswith("/merge_requests/7/notes/1")
    assert len(_Notes.notes) == 1


def test_pipeline_plan_manual_apply_verify(gcl: str, project: Path) -> None:
    done = run(gcl, project, "--manual", "elb:apply")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for name in ("elb:validate", "elb:plan", "elb:apply", "elb:verify"):
        assert f"PASS  {name}" in output, output
    assert "elb:destroy" not in output.split("PASS")[-1]  # the stop action waits for a click
    assert "changes pending for stack demo-payments" in output

    report = json.loads((build(project, "plan") / "plan-report.json").read_text())
    assert report == {"create": 7, "update": 0, "delete": 0}
    files = artifacts(project)
    assert {"plan.json", "plan.txt", "verify.xml"} <= {p.name for p in files}
    for path in files:
        assert b"PRIVATE KEY" not in path.read_bytes(), path
    plan = json.loads(next(p for p in files if p.name == "plan.json").read_text())
    assert plan["stack"] == "demo-payments" and plan["spec"]["path"] == "elb/stack.yaml"

    suites = ET.parse(build(project, "verify") / "verify.xml").getroot()
    assert int(suites.get("tests", "0")) > 0
    assert suites.get("failures") == "0" and suites.get("errors") == "0"

    # The PKI persisted in the cache (leaf keys included); no CA key ever did: both are
    # only file variables.
    cached = project / ".gitlab-ci-local" / "cache" / "elb-pki-demo-payments" / "elb" / "pki"
    stack = cached / "demo-payments"
    assert (stack / "manifest.json").exists()
    assert (stack / "www" / "0001" / "www.key").exists()
    assert (stack / "client-ca" / "0001" / "client-ca.crt").exists()
    assert not list(cached.rglob("*ca*.key")), sorted(cached.rglob("*.key"))


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
    assert "plan failed (exit 1)" in output and "FAIL  elb:plan" in output


def test_schedule_fails_visibly_on_drift_and_never_applies(gcl: str, project: Path) -> None:
    schedule = ("--variable", "CI_PIPELINE_SOURCE=schedule")
    done = run(gcl, project, *schedule)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "PASS  elb:drift" in output and "no drift for stack demo-payments" in output
    assert "PASS  elb:verify:scheduled" in output

    spec = project / "elb" / "stack.yaml"
    original = spec.read_text()
    spec.write_text(original.replace("port: 18082, weight: 10", "port: 18082, weight: 20"))
    git(project, "commit", "-q", "-am", "someone changed a weight")
    try:
        done = run(gcl, project, *schedule)
        output = done.stdout + done.stderr
        assert done.returncode != 0, output
        assert "FAIL  elb:drift" in output
        assert "DRIFT: the cloud differs from elb/stack.yaml" in output
        assert "elb:apply" not in output
    finally:
        spec.write_text(original)
        git(project, "commit", "-q", "-am", "back")


def test_destroy_is_the_stop_action(gcl: str, project: Path) -> None:
    done = run(gcl, project, "elb:destroy")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "PASS  elb:destroy" in output
    assert "Plan: 0 to add, 0 to change, 7 to destroy." in output
    assert "Apply complete; a fresh plan shows no changes." in output
