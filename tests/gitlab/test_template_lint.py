"""Fast checks of the GitLab CI templates' shape (the plain include and the component):
a YAML parse, no GitLab needed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitlab.rules import load_template, merged_job

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "ci" / "gitlab" / "elb-mtls-deploy.gitlab-ci.yml"
COMPONENT = ROOT / "templates" / "elb-mtls-deploy.yml"
EXAMPLE = ROOT / "ci" / "gitlab" / "example" / ".gitlab-ci.yml"
JOBS = ("elb:validate", "elb:plan", "elb:apply", "elb:verify")
LIFECYCLE = ("elb:destroy", "elb:drift", "elb:verify:scheduled")
ALL_JOBS = JOBS + LIFECYCLE


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module", params=["plain", "component"])
def either(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_template(TEMPLATE if request.param == "plain" else COMPONENT)


def job(config: dict[str, Any], name: str) -> dict[str, Any]:
    return merged_job(config, name)


def scripts(body: dict[str, Any]) -> str:
    return "\n".join(str(line) for line in body["script"])


def test_stages_in_order(template: dict[str, Any]) -> None:
    assert template["stages"] == ["validate", "plan", "apply", "verify"]
    for name, stage in zip(JOBS, template["stages"], strict=True):
        assert template[name]["stage"] == stage


def test_variables_have_defaults(template: dict[str, Any]) -> None:
    variables = template["variables"]
    for name in (
        "ELB_SPEC",
        "ELB_STACK",
        "ELB_PKI_DIR",
        "ELB_PYTHON_IMAGE",
        "ELB_WHEEL_URL",
        "ELB_INSTALL",
        "ELB_AUTO_APPLY",
        "ELB_PLAN_ARGS",
        "ELB_EXPIRY_DAYS",
    ):
        assert name in variables, name
    assert variables["ELB_AUTO_APPLY"] == "false"
    for path in (TEMPLATE, COMPONENT):  # no credentials or key material as defaults
        text = path.read_text()
        assert "PRIVATE KEY" not in text
        for secret in ("HUAWEICLOUD_SDK_AK:", "HUAWEICLOUD_SDK_SK:", "HW_SECRET_KEY:"):
            assert secret not in text


def test_the_image_is_pinned_to_an_exact_tag(either: dict[str, Any]) -> None:
    image = job(either, "elb:plan")["image"]
    if image == "$ELB_PYTHON_IMAGE":
        image = load_template(TEMPLATE)["variables"]["ELB_PYTHON_IMAGE"]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image


def test_every_job_has_rules_installs_and_runs_deploy(either: dict[str, Any]) -> None:
    for name in ALL_JOBS:
        body = job(either, name)
        assert body["rules"], name
        assert 'eval "$ELB_INSTALL"' in body["before_script"]
        assert "deploy " in scripts(body)


def install_line(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the default install line with a `pip` that only prints its arguments."""
    stub = Path(os.environ.get("TMPDIR", "/tmp")) / f"elb-pip-stub-{os.getpid()}"
    stub.mkdir(exist_ok=True)
    (stub / "pip").write_text('#!/bin/sh\necho "pip $*"\n')
    (stub / "pip").chmod(0o755)
    line = load_template(TEMPLATE)["variables"]["ELB_INSTALL"]
    env = {"PATH": f"{stub}:/usr/bin:/bin", **extra_env}
    return subprocess.run(
        ["sh", "-c", 'eval "$ELB_INSTALL"'], env={**env, "ELB_INSTALL": line},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_the_default_install_takes_only_a_pinned_wheel() -> None:
    done = install_line({"ELB_WHEEL_URL": ""})
    assert done.returncode == 1 and "set ELB_WHEEL_URL" in done.stderr
    assert "pip" not in done.stdout  # nothing was installed from an index by name
    done = install_line({"ELB_WHEEL_URL": "https://example.invalid/x.whl"})
    assert done.returncode == 1, "a URL without its hash is refused"
    url = "https://example.invalid/elb_mtls_deploy-0.1.0-py3-none-any.whl#sha256=" + "a" * 64
    done = install_line({"ELB_WHEEL_URL": url})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"pip install --quiet --no-cache-dir elb-mtls-deploy @ {url}"
    component = load_template(COMPONENT)
    assert job(component, "elb:plan")["variables"]["ELB_INSTALL"] == load_template(TEMPLATE)[
        "variables"
    ]["ELB_INSTALL"].replace("set ELB_WHEEL_URL", "set the wheel_url input").replace(
        "or ELB_INSTALL", "or the install input"
    )


def test_plan_exit_codes_report_log_section_and_artifacts(either: dict[str, Any]) -> None:
    body = job(either, "elb:plan")
    conditions = [rule["if"] for rule in body["rules"]]
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in conditions
    script = scripts(body)
    assert "--out plan.json" in script and "--gitlab-report plan-report.json" in script
    assert "--detailed-exitcode" in script
    assert "|| code=$?" in script and "2)" in script  # 2 = changes, not a failure
    assert "section_start:" in script and "section_end:" in script
    assert "ELB_NOTE_TOKEN" in script and "CI_MERGE_REQUEST_IID" in script
    artifacts = body["artifacts"]
    assert artifacts["public"] is False and artifacts["expire_in"]
    assert artifacts["paths"] == ["plan.json", "plan.txt"]
    assert artifacts["reports"] == {"terraform": "plan-report.json"}
    assert body["environment"]["name"] == "elb-plan/$ELB_STACK"  # read-only credentials


def test_apply_is_manual_serialised_pinned_to_the_spec(either: dict[str, Any]) -> None:
    body = job(either, "elb:apply")
    assert body["resource_group"] == "elb-$ELB_STACK"
    assert body["environment"] == {
        "name": "elb/$ELB_STACK",
        "action": "start",
        "on_stop": "elb:destroy",
    }
    assert body["needs"] == [{"job": "elb:plan", "artifacts": True}]
    assert scripts(body) == 'deploy apply plan.json --spec "$ELB_SPEC"'
    assert body["rules"][-1] == {"when": "manual"}
    assert body["variables"]["ELB_CACHE_POLICY"] == "pull-push"
    assert "artifacts" not in body


def test_destroy_is_the_environments_manual_stop_action(either: dict[str, Any]) -> None:
    body = job(either, "elb:destroy")
    assert body["environment"] == {"name": "elb/$ELB_STACK", "action": "stop"}
    assert body["stage"] == job(either, "elb:apply")["stage"]
    assert body["resource_group"] == "elb-$ELB_STACK"
    assert body["rules"][-1] == {"when": "manual"} and body["allow_failure"] is True
    assert scripts(body) == 'deploy destroy "$ELB_SPEC" --auto-approve'


def test_scheduled_jobs_never_apply(either: dict[str, Any]) -> None:
    drift = scripts(job(either, "elb:drift"))
    assert "--detailed-exitcode" in drift and "DRIFT" in drift and "exit 1" in drift
    assert "deploy apply" not in drift
    verify = scripts(job(either, "elb:verify:scheduled"))
    assert '--fail-on-expiry "$ELB_EXPIRY_DAYS"' in verify and "--junit verify.xml" in verify


def test_verify_reports_junit_always(either: dict[str, Any]) -> None:
    body = job(either, "elb:verify")
    assert body["needs"] == [{"job": "elb:apply", "artifacts": False}]
    assert 'deploy verify "$ELB_SPEC" --junit verify.xml' in scripts(body)
    artifacts = body["artifacts"]
    assert artifacts["when"] == "always" and artifacts["public"] is False
    assert artifacts["reports"] == {"junit": "verify.xml"}


def test_pki_only_in_the_protected_cache_never_an_artifact(either: dict[str, Any]) -> None:
    for name in ALL_JOBS:
        body = job(either, name)
        [cache] = body["cache"]
        assert cache["key"] == "elb-pki-$ELB_STACK"
        assert cache["paths"] == ["$ELB_PKI_DIR/"]
        assert cache["unprotect"] is False
        artifacts = body.get("artifacts", {})
        listed = [*artifacts.get("paths", []), *artifacts.get("reports", {}).values()]
        assert set(listed) <= {"plan.json", "plan.txt", "plan-report.json", "verify.xml"}, name
        # only apply writes the cache (it issues what plan showed as known after apply)
        expected = "pull-push" if name == "elb:apply" else "pull"
        assert body["variables"]["ELB_CACHE_POLICY"] == expected, name


def test_component_and_plain_template_have_the_same_jobs() -> None:
    """The component rendered with inputs that name the plain template's variables is the
    plain template, except for where the values come from."""
    plain = load_template(TEMPLATE)
    inputs = {
        "stage_validate": "validate",
        "stage_plan": "plan",
        "stage_apply": "apply",
        "stage_verify": "verify",
        "image": "$ELB_PYTHON_IMAGE",
    }
    component = load_template(COMPONENT, inputs)
    for name in ALL_JOBS:
        mine, theirs = job(component, name), job(plain, name)
        # the auto-apply rule reads an input in one, a variable in the other
        mine_rules = [r for r in mine.pop("rules") if '== "true"' not in r.get("if", "")]
        theirs_rules = [r for r in theirs.pop("rules") if '== "true"' not in r.get("if", "")]
        assert mine_rules == theirs_rules, name
        for body in (mine, theirs):
            body["variables"] = {k: v for k, v in body["variables"].items() if k != "ELB_INSTALL"}
            for key in ("ELB_SPEC", "ELB_STACK", "ELB_PKI_DIR", "ELB_WHEEL_URL", "ELB_PLAN_ARGS",
                        "ELB_EXPIRY_DAYS"):  # fmt: skip
                body["variables"].pop(key, None)
        assert mine == theirs, name


def test_example_includes_the_template() -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    assert {"local": "ci/gitlab/elb-mtls-deploy.gitlab-ci.yml"} in example["include"]
    assert example["variables"]["ELB_SPEC"] == "elb/stack.yaml"
    spec = (EXAMPLE.parent / "elb" / "stack.yaml").read_text()
    assert "${CLIENT_CA_KEY_FILE}" in spec and "${SERVER_CA_KEY_FILE}" in spec
