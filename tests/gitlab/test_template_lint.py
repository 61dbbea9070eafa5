"""Fast checks of the GitLab CI template's shape: a YAML parse, no GitLab needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "ci" / "gitlab" / "elb-mtls-deploy.gitlab-ci.yml"
EXAMPLE = ROOT / "ci" / "gitlab" / "example" / ".gitlab-ci.yml"
JOBS = ("elb:validate", "elb:plan", "elb:apply", "elb:verify")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded = yaml.safe_load(TEMPLATE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def job(template: dict[str, Any], name: str) -> dict[str, Any]:
    """The job with its `extends` chain merged (shallow per key, as far as we use it)."""
    body = dict(template[name])
    parents = body.pop("extends", [])
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = job(template, parent)
        variables = {**merged.get("variables", {}), **body.get("variables", {})}
        merged.update(body)
        if variables:
            merged["variables"] = variables
        body = merged
    return body


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
        "ELB_INSTALL",
        "ELB_AUTO_APPLY",
        "ELB_PLAN_ARGS",
    ):
        assert name in variables, name
    assert variables["ELB_AUTO_APPLY"] == "false"
    # Credentials and key material are never defaults in the template.
    text = TEMPLATE.read_text()
    assert "PRIVATE KEY" not in text
    for secret in ("HUAWEICLOUD_SDK_AK:", "HUAWEICLOUD_SDK_SK:", "HW_SECRET_KEY:"):
        assert secret not in text


def test_every_job_installs_and_runs_deploy(template: dict[str, Any]) -> None:
    for name in JOBS:
        body = job(template, name)
        assert body["image"] == "$ELB_PYTHON_IMAGE"
        assert 'eval "$ELB_INSTALL"' in body["before_script"]
        assert "deploy " in scripts(body)


def test_validate_runs_on_every_pipeline(template: dict[str, Any]) -> None:
    body = job(template, "elb:validate")
    assert "rules" not in body and "only" not in body
    assert 'deploy validate "$ELB_SPEC"' in scripts(body)


def test_plan_rules_exit_codes_and_artifacts(template: dict[str, Any]) -> None:
    body = job(template, "elb:plan")
    conditions = [rule["if"] for rule in body["rules"]]
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in conditions
    assert "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" in conditions
    script = scripts(body)
    assert "--out plan.json" in script
    assert "--gitlab-report plan-report.json" in script
    assert "--detailed-exitcode" in script
    assert "|| code=$?" in script and "2)" in script  # 2 = changes, not a failure
    artifacts = body["artifacts"]
    assert artifacts["public"] is False
    assert artifacts["expire_in"]
    assert artifacts["paths"] == ["plan.json"]
    assert artifacts["reports"] == {"terraform": "plan-report.json"}


def test_apply_is_manual_serialised_and_uses_the_saved_plan(template: dict[str, Any]) -> None:
    body = job(template, "elb:apply")
    assert body["resource_group"] == "elb-$ELB_STACK"
    assert body["environment"]["name"] == "elb/$ELB_STACK"
    assert body["needs"] == [{"job": "elb:plan", "artifacts": True}]
    assert scripts(body) == "deploy apply plan.json --auto-approve"
    rules = body["rules"]
    assert rules[0]["when"] == "never" and "$CI_DEFAULT_BRANCH" in rules[0]["if"]
    assert rules[1] == {"if": '$ELB_AUTO_APPLY == "true"', "when": "on_success"}
    assert rules[-1] == {"when": "manual"}
    assert "artifacts" not in body


def test_verify_reports_junit_always(template: dict[str, Any]) -> None:
    body = job(template, "elb:verify")
    assert body["needs"] == [{"job": "elb:apply", "artifacts": False}]
    assert 'deploy verify "$ELB_SPEC" --junit verify.xml' in scripts(body)
    artifacts = body["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["public"] is False
    assert artifacts["reports"] == {"junit": "verify.xml"}
    assert "$CI_DEFAULT_BRANCH" in body["rules"][0]["if"]


def test_pki_only_in_the_protected_cache_never_an_artifact(template: dict[str, Any]) -> None:
    for name in JOBS:
        body = job(template, name)
        [cache] = body["cache"]
        assert cache["key"] == "elb-pki-$ELB_STACK"
        assert cache["paths"] == ["$ELB_PKI_DIR/"]
        assert cache["unprotect"] is False
        artifacts = body.get("artifacts", {})
        listed = [*artifacts.get("paths", []), *artifacts.get("reports", {}).values()]
        assert set(listed) <= {"plan.json", "plan-report.json", "verify.xml"}, name
    assert job(template, "elb:validate")["variables"]["ELB_CACHE_POLICY"] == "pull"
    assert job(template, "elb:verify")["variables"]["ELB_CACHE_POLICY"] == "pull"


def test_example_includes_the_template() -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    assert {"local": "ci/gitlab/elb-mtls-deploy.gitlab-ci.yml"} in example["include"]
    assert example["variables"]["ELB_SPEC"] == "elb/stack.yaml"
    spec = (EXAMPLE.parent / "elb" / "stack.yaml").read_text()
    assert "${CLIENT_CA_KEY_FILE}" in spec
