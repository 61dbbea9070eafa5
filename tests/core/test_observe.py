"""Observe's pure half: ownership, key mapping and the choice among duplicates."""

from __future__ import annotations

from elb_mtls_deploy.cloud.base import Observed, Snapshot
from elb_mtls_deploy.diff import diff
from elb_mtls_deploy.observe import to_state
from elb_mtls_deploy.state import Record, Ref, State, marker

M = marker("s")


def listener(id: str, port: int, owner: str | None = M, name: str = "s-www") -> Observed:
    return Observed(
        "listener",
        id,
        name,
        owner,
        {
            "loadbalancer_id": "lb",
            "protocol": "HTTPS",
            "protocol_port": port,
            "default_tls_container_ref": None,
            "client_ca_tls_container_ref": None,
        },
    )


def pool(id: str, listener_id: str) -> Observed:
    return Observed("pool", id, "s-www", M, {"listener": listener_id, "protocol": "HTTP"})


def member(id: str, pool_id: str) -> Observed:
    return Observed(
        "member",
        id,
        "s-www-10.0.0.1-80",
        None,
        {"pool": pool_id, "address": "10.0.0.1", "protocol_port": 80, "weight": 1},
    )


def snapshot(**kinds: list[Observed]) -> Snapshot:
    return Snapshot(
        *(
            tuple(kinds.get(k, []))
            for k in ("certificates", "listeners", "pools", "healthmonitors", "members")
        )
    )


def desired(port: int) -> State:
    return State.of(
        [
            Record("listener", Ref("listener", "www"), "s-www", {"protocol_port": port}),
            Record(
                "pool",
                Ref("pool", "www"),
                "s-www",
                {"listener": Ref("listener", "www"), "protocol": "HTTP"},
            ),
            Record(
                "member",
                Ref("member", "www:10.0.0.1:80"),
                "x",
                {"pool": Ref("pool", "www"), "address": "10.0.0.1", "protocol_port": 80},
            ),
        ]
    )


def test_only_owned_resources_are_records_and_others_are_foreign() -> None:
    state = to_state(snapshot(listeners=[listener("l1", 443), listener("f1", 80, None, "x")]), "s")
    assert list(state.records) == [Ref("listener", "www")]
    assert [f.id for f in state.foreign_listeners] == ["f1"]


def test_references_become_keys() -> None:
    state = to_state(
        snapshot(
            listeners=[listener("l1", 443)], pools=[pool("p1", "l1")], members=[member("m1", "p1")]
        ),
        "s",
    )
    assert state.records[Ref("pool", "www")].fields["listener"] == Ref("listener", "www")
    assert state.records[Ref("member", "www:10.0.0.1:80")].fields["pool"] == Ref("pool", "www")
    assert state.records[Ref("member", "www:10.0.0.1:80")].parent_id == "p1"


def test_half_done_replacement_keeps_the_family_closest_to_the_spec() -> None:
    # Killed mid-replacement (443 -> 8443): both families exist under the same names.
    snap = snapshot(
        listeners=[listener("old", 443), listener("new", 8443)],
        pools=[pool("p-old", "old"), pool("p-new", "new")],
        members=[member("m-old", "p-old"), member("m-new", "p-new")],
    )
    state = to_state(snap, "s", desired(8443))
    assert state.records[Ref("listener", "www")].id == "new"
    assert state.records[Ref("pool", "www")].id == "p-new"
    assert state.records[Ref("member", "www:10.0.0.1:80")].id == "m-new"
    assert {d.id for d in state.duplicates} == {"old", "p-old", "m-old"}
    plan = diff(desired(8443), state, "s", "v3")
    waves = [[(plan.actions[i].label, plan.actions[i].id) for i in w] for w in plan.waves]
    assert waves == [
        [("delete member www:10.0.0.1:80", "m-old")],
        [("delete pool www", "p-old")],
        [("delete listener www", "old")],
    ]
    assert plan.actions[0].parent_id == "p-old"


def test_without_a_spec_the_first_candidate_is_kept() -> None:
    state = to_state(snapshot(listeners=[listener("a", 443), listener("b", 8443)]), "s")
    assert state.records[Ref("listener", "www")].id == "a"
    assert [d.id for d in state.duplicates] == ["b"]
