"""Which jobs a real GitLab creates in each kind of pipeline, for the plain template and
the CI/CD component, and that no job `needs` a job outside its pipeline (GitLab rejects
such a pipeline; gitlab-ci-local does not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.gitlab.rules import broken_needs, evaluate, load_template, pipeline

ROOT = Path(__file__).resolve().parents[2]
PLAIN = ROOT / "ci" / "gitlab" / "elb-mtls-deploy.gitlab-ci.yml"
COMPONENT = ROOT / "templates" / "elb-mtls-deploy.yml"
BEFORE = Path(__file__).parent / "fixtures" / "template-before-issue-13.yml"

BASE = {"CI_DEFAULT_BRANCH": "main", "CI_PROJECT_PATH": "group/demo"}
PIPELINES: dict[str, dict[str, str]] = {
    "push to a branch": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature"},
    "push to a branch with an open merge request": {
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_BRANCH": "feature",
        "CI_OPEN_MERGE_REQUESTS": "group/demo!7",
    },
    # GitLab sets no CI_COMMIT_BRANCH in merge request pipelines.
    "merge request": {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_IID": "7",
        "CI_COMMIT_REF_NAME": "feature",
    },
    "push to the default branch": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main"},
    "run pipeline on the default branch": {
        "CI_PIPELINE_SOURCE": "web",
        "CI_COMMIT_BRANCH": "main",
    },
    "schedule": {"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main"},
    "schedule of the drift check only": {
        "CI_PIPELINE_SOURCE": "schedule",
        "CI_COMMIT_BRANCH": "main",
        "ELB_SCHEDULE": "drift",
    },
    "schedule of verify only": {
        "CI_PIPELINE_SOURCE": "schedule",
        "CI_COMMIT_BRANCH": "main",
        "ELB_SCHEDULE": "verify",
    },
    "tag": {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.0.0"},
}
DEFAULT_BRANCH = {
    "elb:validate": "on_success",
    "elb:plan": "on_success",
    "elb:apply": "manual",
    "elb:verify": "on_success",
    "elb:destroy": "manual",
}
EXPECTED: dict[str, dict[str, str] | None] = {
    "push to a branch": {"elb:validate": "on_success"},
    "push to a branch with an open merge request": {},
    "merge request": {"elb:validate": "on_success", "elb:plan": "on_success"},
    "push to the default branch": DEFAULT_BRANCH,
    "run pipeline on the default branch": DEFAULT_BRANCH,
    "schedule": {"elb:drift": "on_success", "elb:verify:scheduled": "on_success"},
    "schedule of the drift check only": {"elb:drift": "on_success"},
    "schedule of verify only": {"elb:verify:scheduled": "on_success"},
    "tag": {},
}
# The plain template's workflow creates no branch pipeline beside a merge request one.
PLAIN_EXPECTED = {**EXPECTED, "push to a branch with an open merge request": None}


def whens(config: dict[str, Any], kind: str, extra: dict[str, str] | None = None) -> Any:
    jobs = pipeline(config, {**BASE, **PIPELINES[kind], **(extra or {})})
    return None if jobs is None else {name: job.when for name, job in jobs.items()}


@pytest.mark.parametrize("kind", PIPELINES)
def test_plain_template_jobs_per_pipeline(kind: str) -> None:
    config = load_template(PLAIN)
    assert whens(config, kind) == PLAIN_EXPECTED[kind]
    jobs = pipeline(config, {**BASE, **PIPELINES[kind]})
    assert broken_needs(jobs or {}) == []


@pytest.mark.parametrize("kind", PIPELINES)
def test_component_jobs_per_pipeline(kind: str) -> None:
    config = load_template(COMPONENT)
    assert whens(config, kind) == EXPECTED[kind]
    assert broken_needs(pipeline(config, {**BASE, **PIPELINES[kind]}) or {}) == []


def test_auto_apply_runs_apply_on_success_on_the_default_branch_only() -> None:
    plain = load_template(PLAIN)
    component = load_template(COMPONENT, {"auto_apply": True})
    for config, extra in ((plain, {"ELB_AUTO_APPLY": "true"}), (component, {})):
        assert whens(config, "push to the default branch", extra)["elb:apply"] == "on_success"
        assert "elb:apply" not in whens(config, "merge request", extra)
        assert "elb:apply" not in whens(config, "schedule", extra)


def test_the_check_fails_on_the_template_before_issue_13() -> None:
    """Its elb:validate had no rules, so GitLab left it out of merge request pipelines
    while elb:plan needed it: the pipeline could not be created."""
    config = load_template(BEFORE)
    jobs = pipeline(config, {**BASE, **PIPELINES["merge request"]})
    assert jobs is not None
    assert broken_needs(jobs) == ["elb:plan needs elb:validate"]


def test_component_defines_nothing_global() -> None:
    config = load_template(COMPONENT)
    assert not {"stages", "variables", "workflow", "default", "image", "cache"} & set(config)
    stages = {body.get("stage") for name, body in config.items() if not name.startswith(".")}
    assert stages <= {"test", "deploy"}  # GitLab's default stages, unless inputs say otherwise
    named = load_template(COMPONENT, {"stage_plan": "elb-plan", "stage_apply": "elb-apply"})
    assert named["elb:plan"]["stage"] == "elb-plan" and named["elb:destroy"]["stage"] == "elb-apply"


@pytest.mark.parametrize(
    ("expression", "variables", "expected"),
    [
        ('$CI_PIPELINE_SOURCE == "merge_request_event"', {"CI_PIPELINE_SOURCE": "push"}, False),
        (
            "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH",
            {"CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"},
            True,
        ),
        ("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", {"CI_DEFAULT_BRANCH": "main"}, False),
        ("$A && $B || $C", {"C": "1"}, True),
        ("$A && ($B || $C)", {"C": "1"}, False),
        ("$A", {"A": ""}, False),
        ("$A == null", {}, True),
        ("$A == null", {"A": ""}, False),
        ("$S =~ /dri.t/", {"S": "drift verify"}, True),
        ("$S !~ /verify/", {"S": "drift"}, True),
        ("$S =~ /x/", {}, False),
        ('"true" == "true"', {}, True),
        ("$X != \"a\" || $Y == 'b'", {"X": "a", "Y": "b"}, True),
    ],
)
def test_expressions(expression: str, variables: dict[str, str], expected: bool) -> None:
    assert evaluate(expression, variables) is expected


def test_unknown_syntax_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="cannot read"):
        evaluate("$A === $B", {})
