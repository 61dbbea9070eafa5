"""`apply plan.json` end to end: no --auto-approve needed, pinned to its spec, and a
refusal that says which part differed (spec, certificates, cloud)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import Stack, spec_text

pytestmark = pytest.mark.slow


def saved_plan(stack: Stack, name: str = "plan.json") -> Path:
    path = stack.root / name
    code, out, err = stack.run("plan", str(stack.spec), "--out", str(path))
    assert code == 0, out + err
    return path


def test_a_saved_plan_applies_without_auto_approve(stack: Stack) -> None:
    stack.write(spec_text())
    plan = saved_plan(stack)
    code, out, err = stack.run("apply", str(plan))  # stdin is not a terminal here
    assert code == 0, out + err
    assert "Apply complete" in out and "confirmation" not in err
    # a spec (no plan) still asks, and refuses without a terminal
    stack.write(spec_text(weights=(3, 1)))
    code, _, err = stack.run("apply", str(stack.spec))
    assert code == 1 and "pass --auto-approve" in err


def test_a_plan_from_another_spec_is_refused(stack: Stack) -> None:
    stack.write(spec_text())
    plan = saved_plan(stack)
    other = stack.root / "other.yaml"
    shutil.copy(stack.spec, other)
    code, _, err = stack.run("apply", str(plan), "--spec", str(other))
    assert code == 1
    assert f"refusing a plan made from the spec {stack.spec}, not {other}" in err
    assert "Traceback" not in err and stack.owned("listeners") == []
    # the same file, spelled differently
    same = f"{stack.spec.parent}/../{stack.spec.parent.name}/{stack.spec.name}"
    code, out, err = stack.run("apply", str(plan), "--spec", same)
    assert code == 0, out + err


def test_a_changed_spec_is_named_as_the_part_that_differs(stack: Stack) -> None:
    stack.write(spec_text())
    plan = saved_plan(stack)
    stack.write(spec_text(weights=(2, 2)))
    code, _, err = stack.run("apply", str(plan), "--spec", str(stack.spec))
    assert code == 1 and f"the spec {stack.spec} changed since this plan was made" in err


def test_a_missing_pki_directory_is_named_as_the_certificates(stack: Stack) -> None:
    stack.write(spec_text())
    assert stack.run("apply", str(stack.spec), "--auto-approve")[0] == 0
    stack.write(spec_text(weights=(3, 1)))
    plan = saved_plan(stack)
    shutil.rmtree(stack.root / "pki")  # e.g. the CI cache was not restored in the apply job
    code, _, err = stack.run("apply", str(plan))
    assert code == 1
    assert "the certificates (www: sha256:" in err and "changed since this plan was made" in err
    assert "PKI cache missing" in err and "the cloud" not in err
    assert sorted(m["weight"] for m in stack.cloud()["members"]) == [1, 1]  # nothing changed


def test_a_changed_cloud_is_named_with_what_changed(stack: Stack) -> None:
    stack.write(spec_text())
    code, out, err = stack.run("apply", str(stack.spec), "--auto-approve")
    assert code == 0, out + err
    stack.write(spec_text(weights=(4, 1)))
    plan = saved_plan(stack)
    stack.write(spec_text(weights=(2, 2)))  # someone else applies another change
    assert stack.run("apply", str(stack.spec), "--auto-approve")[0] == 0
    stack.write(spec_text(weights=(4, 1)))
    code, _, err = stack.run("apply", str(plan))
    assert code == 1
    assert "the cloud (elb_member.www[" in err and "changed since this plan was made" in err
    assert "certificates" not in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "not a plan file of elb-mtls-deploy"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"tool": "elb-mtls-deploy", "format": 2, "resource_changes": [1]}', "must be an object"),
        (
            '{"tool": "elb-mtls-deploy", "format": 2, "spec": {}, "certificates": {}, '
            '"resource_changes": ["x"]}',
            "list of objects",
        ),
    ],
)
def test_damaged_plan_files_exit_1_with_one_message(stack: Stack, text: str, message: str) -> None:
    path = stack.root / "bad.json"
    path.write_text(text)
    code, _, err = stack.run("apply", str(path))
    assert code == 1
    assert message in err
    assert "Traceback" not in err and "this is a bug" not in err


def test_apply_and_destroy_report_every_resource_in_json(stack: Stack) -> None:
    stack.write(spec_text())
    code, out, err = stack.run("apply", str(stack.spec), "--auto-approve", "--output", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["status"] == "applied" and report["command"] == "apply"
    rows = report["resources"]
    assert len(rows) == 7 and {r["outcome"] for r in rows} == {"created"}
    ids = {r["key"]: r["id"] for r in rows}
    assert all(ids.values())
    [listener] = stack.owned("listeners")
    assert ids["listener:www"] == listener["id"]

    code, out, err = stack.run("apply", str(stack.spec), "--output", "json")
    assert code == 0, err
    nothing = json.loads(out)
    assert nothing["status"] == "no changes" and nothing["summary"] == {"unchanged": 7}
    assert {r["key"]: r["id"] for r in nothing["resources"]} == ids

    stack.write(spec_text(port=8443))
    code, out, err = stack.run("apply", str(stack.spec), "--auto-approve", "--output", "json")
    assert code == 0, err
    replaced = {r["key"]: r for r in json.loads(out)["resources"]}
    assert replaced["listener:www"]["outcome"] == "replaced"
    assert replaced["listener:www"]["replaced_id"] == ids["listener:www"]
    assert replaced["listener:www"]["id"] == stack.owned("listeners")[0]["id"]
    assert replaced["certificate:www"]["outcome"] == "unchanged"

    code, out, err = stack.run("destroy", str(stack.spec), "--auto-approve", "--output", "json")
    assert code == 0, err
    gone = json.loads(out)
    assert gone["command"] == "destroy" and gone["summary"] == {"deleted": 7}
    assert all(r["id"] for r in gone["resources"])


def test_text_apply_names_each_resource_id(stack: Stack) -> None:
    stack.write(spec_text())
    code, out, err = stack.run("apply", str(stack.spec), "--auto-approve")
    assert code == 0, err
    [listener] = stack.owned("listeners")
    [line] = [x for x in out.splitlines() if "create listener www" in x]
    assert line.startswith("  ok ") and line.endswith(f"[id={listener['id']}]")
