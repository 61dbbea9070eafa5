"""Diff, ordering and rendering from literal states: the pure heart of plan."""

from __future__ import annotations

from typing import Any

import pytest

from elb_mtls_deploy.diff import diff
from elb_mtls_deploy.plan import Plan
from elb_mtls_deploy.render import render_text
from elb_mtls_deploy.state import ForeignListener, Record, Ref, State

CA, WEB = Ref("certificate", "ca"), Ref("certificate", "web")


def cert(name: str, fp: str, id: str | None = None, type: str = "server") -> Record:
    return Record(
        "certificate",
        Ref("certificate", name),
        f"s-{name}",
        {"type": type, "fingerprint": fp},
        id,
    )


def listener(
    port: int = 443,
    id: str | None = None,
    ca: Ref | None = CA,
    name: str = "web",
    server: Ref = WEB,
) -> Record:
    return Record(
        "listener",
        Ref("listener", name),
        f"s-{name}",
        {
            "loadbalancer_id": "lb1",
            "protocol": "HTTPS",
            "protocol_port": port,
            "default_tls_container_ref": server,
            "client_ca_tls_container_ref": ca,
        },
        id,
    )


def pool(id: str | None = None, name: str = "web") -> Record:
    return Record(
        "pool",
        Ref("pool", name),
        f"s-{name}",
        {"listener": Ref("listener", name), "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"},
        id,
    )


def member(
    address: str,
    weight: int = 1,
    id: str | None = None,
    subnet: str | None = None,
    pool_name: str = "web",
) -> Record:
    return Record(
        "member",
        Ref("member", f"{pool_name}:{address}:80"),
        f"s-{pool_name}-{address}-80",
        {
            "pool": Ref("pool", pool_name),
            "address": address,
            "protocol_port": 80,
            "weight": weight,
            "subnet_id": subnet,
        },
        id,
    )


def full(ids: bool = False, **over: Any) -> list[Record]:
    def i(x: str) -> str | None:
        return x if ids else None

    return [
        over.get("web", cert("web", "a" * 64, i("c1"))),
        cert("ca", "c" * 64, i("c2"), type="client"),
        over.get("listener", listener(id=i("l1"))),
        pool(i("p1")),
        member("10.0.0.1", 1, i("m1")),
        member("10.0.0.2", 1, i("m2")),
    ]


def labels(plan: Plan) -> list[list[str]]:
    return [[plan.actions[i].label for i in wave] for wave in plan.waves]


def test_from_empty_creates_in_dependency_order() -> None:
    plan = diff(State.of(full()), State(), "s", "v3")
    assert labels(plan) == [
        ["create certificate ca", "create certificate web"],
        ["create listener web"],
        ["create pool web"],
        ["create member web:10.0.0.1:80", "create member web:10.0.0.2:80"],
    ]
    assert plan.counts() == {"create": 6, "update": 0, "delete": 0}


def test_converged_state_gives_an_empty_plan() -> None:
    plan = diff(State.of(full()), State.of(full(ids=True)), "s", "v3")
    assert plan.empty
    assert render_text(plan) == "No changes. Stack 's' matches the spec.\n"


def test_each_records_changes_are_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replacement and update are decided from one comparison per record (issue 15)."""
    import elb_mtls_deploy.diff as diff_module

    compared: list[Ref] = []
    real = diff_module._changes

    def counting(want: Record, have: Record) -> Any:
        compared.append(want.key)
        return real(want, have)

    monkeypatch.setattr(diff_module, "_changes", counting)
    desired = State.of([*full()[:4], member("10.0.0.1", 7), member("10.0.0.2")])
    plan = diff(desired, State.of(full(ids=True)), "s", "v3")
    assert labels(plan) == [["update member web:10.0.0.1:80"]]
    assert sorted(compared) == sorted(desired.records)


def test_member_weight_change_is_one_update() -> None:
    desired = State.of([*full()[:4], member("10.0.0.1", 7), member("10.0.0.2")])
    plan = diff(desired, State.of(full(ids=True)), "s", "v3")
    assert labels(plan) == [["update member web:10.0.0.1:80"]]
    action = plan.actions[0]
    assert action.id == "m1" and action.parent_id == "p1"
    assert action.fields == {"weight": 7}


def test_rotated_certificate_is_an_in_place_update_and_the_listener_is_untouched() -> None:
    desired = State.of(full(web=cert("web", "b" * 64)))
    plan = diff(desired, State.of(full(ids=True)), "s", "v3")
    assert labels(plan) == [["update certificate web"]]
    assert render_text(plan) == (
        "Stack 's' (ELB v3) needs these changes, in this order:\n\n"
        "  ~ certificate   web  (s-web, id c1)\n"
        "      ~ fingerprint: sha256:aaaaaaaaaaaaaaaa… -> sha256:bbbbbbbbbbbbbbbb…\n\n"
        "Plan: 0 to add, 1 to change, 0 to destroy.\n"
    )


def test_port_change_replaces_listener_pool_and_members_create_before_destroy() -> None:
    desired = State.of(full(listener=listener(8443)))
    plan = diff(desired, State.of(full(ids=True)), "s", "v3")
    assert labels(plan) == [
        ["create listener web"],
        ["create pool web"],
        ["create member web:10.0.0.1:80", "create member web:10.0.0.2:80"],
        ["delete member web:10.0.0.1:80", "delete member web:10.0.0.2:80"],
        ["delete pool web"],
        ["delete listener web"],
    ]
    assert plan.counts() == {"create": 4, "update": 0, "delete": 4}
    text = render_text(plan)
    assert "+/- listener      web  (s-web, replaces id l1)\n" in text
    assert "      # protocol_port: 443 -> 8443 forces replacement\n" in text
    assert "Plan: 4 to add, 0 to change, 4 to destroy.\n" in text


def test_removed_listener_is_deleted_children_first_certificates_last() -> None:
    plan = diff(State(), State.of(full(ids=True)), "s", "v3")
    assert labels(plan) == [
        ["delete member web:10.0.0.1:80", "delete member web:10.0.0.2:80"],
        ["delete pool web"],
        ["delete listener web"],
        ["delete certificate ca", "delete certificate web"],
    ]


def test_certificate_swapped_on_listener_is_deleted_only_after_the_listener_moves() -> None:
    desired = State.of(
        [
            *full()[1:2],
            cert("web2", "e" * 64),
            listener(server=Ref("certificate", "web2")),
            *full()[3:],
        ]
    )
    plan = diff(desired, State.of(full(ids=True)), "s", "v3")
    assert labels(plan) == [
        ["create certificate web2"],
        ["update listener web"],
        ["delete certificate web"],
    ]


def test_disabling_mutual_auth_is_an_update_to_none() -> None:
    desired = State.of([full()[0], listener(ca=None), *full()[3:]])
    plan = diff(desired, State.of(full(ids=True)), "s", "v3")
    assert labels(plan)[0] == ["update listener web"]
    assert plan.actions[0].fields == {"client_ca_tls_container_ref": None}
    assert labels(plan)[-1] == ["delete certificate ca"]


def test_member_subnet_change_in_same_pool_deletes_first() -> None:
    desired = State.of([*full()[:4], member("10.0.0.1", subnet="sub-2"), member("10.0.0.2")])
    plan = diff(desired, State.of(full(ids=True)), "s", "v3")
    assert labels(plan) == [["delete member web:10.0.0.1:80"], ["create member web:10.0.0.1:80"]]


def test_renamed_listener_on_same_port_deletes_the_old_one_first() -> None:
    renamed = [
        full()[0],
        full()[1],
        listener(name="api"),
        pool(name="api"),
        member("10.0.0.1", pool_name="api"),
    ]
    plan = diff(State.of(renamed), State.of(full(ids=True)), "s", "v3")
    flat = [label for wave in labels(plan) for label in wave]
    assert flat.index("delete listener web") < flat.index("create listener api")
    assert flat.index("delete pool web") < flat.index("delete listener web")


def test_foreign_listener_on_our_port_is_a_conflict_in_the_plan() -> None:
    observed = State(foreign_listeners=(ForeignListener("f1", "theirs", "lb1", 443),))
    plan = diff(State.of(full()), observed, "s", "v3")
    assert plan.conflicts == (
        "listener web: port 443 on load balancer lb1 is taken by listener 'theirs' (f1), which "
        "this stack does not own; choose another port or remove that listener",
    )
    assert not plan.empty
    assert render_text(plan).startswith(
        "Conflicts (apply will refuse this plan):\n  ! listener web"
    )


def test_duplicates_left_by_a_crash_are_deleted() -> None:
    extra = listener(id="l-dup")
    observed = State(records=State.of(full(ids=True)).records, duplicates=(extra,))
    plan = diff(State.of(full()), observed, "s", "v3")
    assert labels(plan) == [["delete listener web"]]
    assert plan.actions[0].id == "l-dup"


def test_server_side_extra_fields_are_not_drift() -> None:
    observed = full(ids=True)
    observed[3] = Record(
        "pool", Ref("pool", "web"), "s-web", {**observed[3].fields, "admin_state_up": True}, "p1"
    )
    assert diff(State.of(full()), State.of(observed), "s", "v3").empty


def test_gitlab_counts_replace_as_create_plus_delete() -> None:
    desired = State.of(full(listener=listener(8443)))
    plan = diff(desired, State.of(full(ids=True)), "s", "v3")
    assert plan.counts() == {"create": 4, "update": 0, "delete": 4}
