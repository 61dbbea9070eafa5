"""The saved plan's Terraform-shaped `resource_changes` and the text symbols, from literal
states; and loading damaged plan files (one clear error each)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from elb_mtls_deploy.diff import diff
from elb_mtls_deploy.errors import PlanError
from elb_mtls_deploy.render import render_text
from elb_mtls_deploy.saved_plan import parse, resource_changes, to_json
from elb_mtls_deploy.state import Record, Ref, State

FP = "a" * 64


def records(ids: bool = False, port: int = 443, subnet: str | None = None) -> list[Record]:
    def i(x: str) -> str | None:
        return x if ids else None

    listener = {
        "loadbalancer_id": "lb1",
        "protocol": "HTTPS",
        "protocol_port": port,
        "default_tls_container_ref": Ref("certificate", "web"),
        "client_ca_tls_container_ref": None,
    }
    member = {"pool": Ref("pool", "web"), "address": "10.0.0.1", "protocol_port": 80, "weight": 1}
    return [
        Record(
            "certificate",
            Ref("certificate", "web"),
            "s-web",
            {"type": "server", "fingerprint": FP},
            i("c1"),
            payload={"certificate": "PEM", "private_key": "SECRET-KEY-TEXT"},
        ),
        Record("listener", Ref("listener", "web"), "s-web", listener, i("l1")),
        Record(
            "pool",
            Ref("pool", "web"),
            "s-web",
            {"listener": Ref("listener", "web"), "protocol": "HTTP"},
            i("p1"),
        ),
        Record(
            "member",
            Ref("member", "web:10.0.0.1:80"),
            "s-web-10.0.0.1-80",
            {**member, "subnet_id": subnet},
            i("m1"),
        ),
    ]


def changes(desired: list[Record], observed: list[Record] | None = None) -> list[dict[str, Any]]:
    plan = diff(State.of(desired), State.of(observed or []), "s", "v3")
    return resource_changes(plan)


def by_address(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["address"]: e for e in entries}


def test_creates_are_create_actions_with_after_and_no_secrets() -> None:
    entries = by_address(changes(records()))
    assert sorted(entries) == [
        "elb_certificate.web",
        "elb_listener.web",
        'elb_member.web["10.0.0.1:80"]',
        "elb_pool.web",
    ]
    cert = entries["elb_certificate.web"]
    assert cert["type"] == "elb_certificate" and cert["mode"] == "managed"
    assert cert["change"]["actions"] == ["create"]
    assert cert["change"]["before"] is None
    assert cert["change"]["after"] == {"name": "s-web", "type": "server", "fingerprint": FP}
    assert cert["change"]["after_unknown"] == {"id": True}
    assert entries['elb_member.web["10.0.0.1:80"]']["index"] == "10.0.0.1:80"
    assert "SECRET-KEY-TEXT" not in json.dumps(entries) and "PEM" not in json.dumps(entries)


def test_update_has_before_and_after_of_the_changed_fields() -> None:
    desired = records()
    desired[0] = Record(
        "certificate",
        Ref("certificate", "web"),
        "s-web",
        {"type": "server", "fingerprint": "b" * 64},
    )
    [entry] = changes(desired, records(ids=True))
    assert entry["change"]["actions"] == ["update"]
    assert entry["change"]["before"] == {"id": "c1", "name": "s-web", "fingerprint": FP}
    assert entry["change"]["after"] == {"id": "c1", "name": "s-web", "fingerprint": "b" * 64}


def test_port_change_is_create_before_destroy_in_json_and_text() -> None:
    plan = diff(State.of(records(port=8443)), State.of(records(ids=True)), "s", "v3")
    entries = by_address(resource_changes(plan))
    listener = entries["elb_listener.web"]
    assert listener["change"]["actions"] == ["create", "delete"]
    assert listener["change"]["before"]["id"] == "l1"
    assert listener["change"]["before"]["protocol_port"] == 443
    assert listener["change"]["after"]["protocol_port"] == 8443
    assert listener["action_reason"] == "replace_because_cannot_update"
    text = render_text(plan, legend=True)
    assert "+/- listener      web  (s-web, replaces id l1)" in text
    assert "-/+" not in text
    assert text.rstrip().endswith("Symbols: +/- create replacement, then destroy.")


def test_member_moved_to_another_subnet_is_destroy_before_create() -> None:
    # Same pool, same address:port: the API refuses a second member there (order.py).
    plan = diff(State.of(records(subnet="sub-2")), State.of(records(ids=True)), "s", "v3")
    [entry] = resource_changes(plan)
    assert entry["change"]["actions"] == ["delete", "create"]
    text = render_text(plan)
    assert "-/+ member        web:10.0.0.1:80  (s-web-10.0.0.1-80, replaces id m1)" in text


def test_delete_and_a_deposed_duplicate() -> None:
    observed = State(
        records=State.of(records(ids=True)).records,
        duplicates=(
            Record(
                "pool", Ref("pool", "web"), "s-web", {"listener": Ref("listener", "web")}, "p-dup"
            ),
        ),
    )
    plan = diff(State.of(records()), observed, "s", "v3")
    [entry] = resource_changes(plan)
    assert entry["change"]["actions"] == ["delete"]
    assert entry["change"]["before"]["id"] == "p-dup"
    assert entry["change"]["after"] is None

    gone = diff(State(), State.of(records(ids=True)), "s", "v3")
    assert {e["change"]["actions"][0] for e in resource_changes(gone)} == {"delete"}


def test_document_round_trips_through_parse() -> None:
    plan = diff(State.of(records()), State(), "s", "v3", "digest-1")
    document = to_json(plan, "spec.yaml", "spec-sha", {"web": FP})
    assert document["format_version"] == "1.2"
    saved = parse(json.dumps(document), "plan.json")
    assert saved.spec_path == "spec.yaml" and saved.certificates == {"web": FP}
    assert saved.observed_digest == "digest-1"
    assert len(saved.resource_changes) == 4


DAMAGED = [
    ("[]", "not a plan file of elb-mtls-deploy"),
    ('"text"', "not a plan file of elb-mtls-deploy"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"tool": "elb-mtls-deploy", "format": 1, "actions": []}', "plan format 1"),
    ("{not json", "not valid JSON"),
]


@pytest.mark.parametrize(("text", "message"), DAMAGED)
def test_damaged_plan_files_give_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse(text, "plan.json")


def valid() -> dict[str, Any]:
    plan = diff(State.of(records()), State(), "s", "v3", "d")
    return to_json(plan, "spec.yaml", "sha", {"web": FP})


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(resource_changes=[1, "x"]),
        lambda d: d.update(resource_changes={"a": 1}),
        lambda d: d["resource_changes"][0].update(change=[]),
        lambda d: d["resource_changes"][0]["change"].update(actions=[{"op": "create"}]),
        lambda d: d.update(spec=[]),
        lambda d: d.update(certificates=[]),
        lambda d: d.update(observed_digest=None),
        lambda d: d["certificates"].update(web=[1]),
    ],
)
def test_plan_files_with_the_wrong_types_are_refused(damage: Any) -> None:
    document = valid()
    damage(document)
    with pytest.raises(PlanError, match=r"plan\.json: "):
        parse(json.dumps(document), "plan.json")


def test_notes_of_the_wrong_type_are_ignored_not_a_crash() -> None:
    document = valid()
    document["notes"] = 5
    assert parse(json.dumps(document), "plan.json").notes == ()


def test_what_apply_must_issue_is_marked_unknown() -> None:
    desired = records()
    pending = "(known after apply: subjectAltName changed)"
    desired[0] = Record(
        "certificate",
        Ref("certificate", "web"),
        "s-web",
        {"type": "server", "fingerprint": pending},
    )
    [entry] = changes(desired, records(ids=True))
    assert entry["change"]["after_unknown"] == {"fingerprint": True}
    assert entry["change"]["after"]["fingerprint"] == pending
