"""Pool switch-over, explicit header switches, and one change at a time per load balancer.

A listener has one pool and a load balancer takes one change at a time
(docs/api-notes.md §10.3); these tests pin how the plan and the engine respect both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from elb_mtls_deploy.apply import Engine
from elb_mtls_deploy.cloud.base import LoadBalancerInfo, Observed, Query
from elb_mtls_deploy.diff import diff
from elb_mtls_deploy.errors import PermanentError
from elb_mtls_deploy.plan import Plan
from elb_mtls_deploy.state import Kind, Record, Ref, State
from elb_mtls_deploy.workflow import placement


def stack(ids: bool, protocol: str = "HTTP", headers: dict[str, bool] | None = None) -> State:
    def i(value: str) -> str | None:
        return value if ids else None

    records = [
        Record(
            "listener",
            Ref("listener", "web"),
            "s-web",
            {
                "loadbalancer_id": "lb1",
                "protocol": "HTTPS",
                "protocol_port": 443,
                "insert_headers": headers or {"X-Forwarded-Host": True},
            },
            i("L1"),
        ),
        Record(
            "pool",
            Ref("pool", "web"),
            "s-web",
            {"listener": Ref("listener", "web"), "loadbalancer_id": "lb1", "protocol": protocol},
            i("P1"),
        ),
        Record(
            "healthmonitor",
            Ref("healthmonitor", "web"),
            "s-web-hm",
            {"pool": Ref("pool", "web"), "type": "HTTP"},
            i("H1"),
            parent_id=i("P1"),
        ),
        *(
            Record(
                "member",
                Ref("member", f"web:10.0.0.{n}:80"),
                f"s-web-10.0.0.{n}-80",
                {"pool": Ref("pool", "web"), "address": f"10.0.0.{n}", "protocol_port": 80},
                i(f"M{n}"),
                parent_id=i("P1"),
            )
            for n in (1, 2)
        ),
    ]
    return State.of(records)


def labels(plan: Plan) -> list[list[str]]:
    return [[plan.actions[i].label for i in wave] for wave in plan.waves]


def test_pool_protocol_change_switches_over_without_leaving_the_listener_poolless() -> None:
    plan = diff(stack(False, protocol="HTTPS"), stack(True), "s", "v3")
    creates = [a for a in plan.actions if a.op == "create" and a.kind == "pool"]
    assert len(creates) == 1 and creates[0].fields["listener"] is None  # made unbound
    assert labels(plan) == [
        ["create pool web"],
        [
            "create healthmonitor web",
            "create member web:10.0.0.1:80",
            "create member web:10.0.0.2:80",
        ],
        ["update pool web"],  # the listener's default_pool_id, once the pool is complete
        [
            "delete member web:10.0.0.1:80",
            "delete member web:10.0.0.2:80",
            "delete healthmonitor web",
        ],
        ["delete pool web"],
    ]
    bind = next(a for a in plan.actions if a.op == "update")
    assert bind.fields == {"listener": Ref("listener", "web")}


def test_a_new_listener_gets_its_pool_bound_at_create() -> None:
    plan = diff(stack(False), State(), "s", "v3")
    pool = next(a for a in plan.actions if a.kind == "pool")
    assert pool.op == "create" and pool.fields["listener"] == Ref("listener", "web")
    assert not [a for a in plan.actions if a.op == "update"]


def test_an_unbound_pool_left_by_a_crash_is_bound_in_place() -> None:
    observed = stack(True)
    unbound = observed.records[Ref("pool", "web")]
    observed = State.of(
        [
            *(r for r in observed.records.values() if r.key != Ref("pool", "web")),
            Record(
                unbound.kind, unbound.key, unbound.name, {**unbound.fields, "listener": None}, "P1"
            ),
        ]
    )
    plan = diff(stack(False), observed, "s", "v3")
    assert [a.label for a in plan.actions] == ["update pool web"]


def test_a_header_that_is_switched_off_is_sent_as_false() -> None:
    on = {"X-Forwarded-Host": True, "X-Forwarded-Clientcert-serialnumber-enable": True}
    plan = diff(stack(False), stack(True, headers=on), "s", "v3")
    [update] = plan.actions
    assert update.fields["insert_headers"] == {
        "X-Forwarded-Host": True,
        "X-Forwarded-Clientcert-serialnumber-enable": False,
    }


def test_a_default_on_header_the_api_did_not_report_is_not_drift() -> None:
    assert diff(stack(False), stack(True, headers={}), "s", "v3").empty


class ProvisioningCloud:
    """A cloud whose load balancers are PENDING_UPDATE for `busy` seconds after a change
    and that refuses (raises) a change while busy: what a real load balancer does."""

    flavour = "v3"

    def __init__(self, busy: float) -> None:
        self.busy = busy
        self.until: dict[str, float] = {}
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.polls = 0
        self.counter = 0
        self.in_flight: dict[str, int] = {}
        self.max_in_flight = 0
        self.still_bound = False

    def _change(self, lb: str | None, label: str) -> None:
        with self.lock:
            self.calls.append(label)
            if lb is None:
                return
            if time.monotonic() < self.until.get(lb, 0.0):
                raise PermanentError(f"{label}: load balancer {lb} is PENDING_UPDATE")
            self.until[lb] = time.monotonic() + self.busy

    def provisioning_status(self, loadbalancer_id: str) -> str:
        with self.lock:
            self.polls += 1
            busy = time.monotonic() < self.until.get(loadbalancer_id, 0.0)
        return "PENDING_UPDATE" if busy else "ACTIVE"

    def create(self, kind: Kind, name: str, description: Any, fields: Any, payload: Any) -> str:
        self._change(None if kind == "certificate" else "lb1", f"create {kind} {name}")
        with self.lock:
            self.counter += 1
            return f"{kind}-{self.counter}"

    def update(
        self, kind: Kind, id: str, fields: Mapping[str, Any], payload: Any, parent: Any
    ) -> None:
        self._change(
            None if kind == "certificate" else "lb1", f"update {kind} {id} {sorted(fields)}"
        )

    def delete(self, kind: Kind, id: str, parent_id: str | None) -> None:
        self._change("lb1", f"delete {kind} {id}")

    def create_members(self, pool_id: str, members: Sequence[Mapping[str, Any]]) -> list[str]:
        self._change("lb1", f"create_members {pool_id}")
        return [f"m-{m['address']}" for m in members]

    def delete_members(self, pool_id: str, ids: Sequence[str]) -> None:
        self._change("lb1", f"delete_members {pool_id}")

    def read(self, query: Query) -> list[Observed]:
        assert query.kind == "listener"
        ref = "CA" if self.still_bound else None
        return [Observed("listener", "L1", "s-web", "m", {"client_ca_tls_container_ref": ref})]

    def find_loadbalancers(
        self, ids: Sequence[str], names: Sequence[str]
    ) -> list[LoadBalancerInfo]:
        return []

    def close(self) -> None:
        pass


def run(cloud: ProvisioningCloud, plan: Plan, observed: State) -> Any:
    ids = {k: r.id for k, r in observed.records.items() if r.id}
    engine = Engine(cloud, "s", ids, placement=placement(observed))  # type: ignore[arg-type]
    return engine.run(plan)


def test_changes_to_one_load_balancer_wait_for_active_between_them() -> None:
    cloud = ProvisioningCloud(busy=0.05)
    observed = stack(True)
    plan = diff(stack(False, protocol="HTTPS"), observed, "s", "v3")
    report = run(cloud, plan, observed)
    assert not report.failed, [str(o.error) for o in report.failed]
    assert cloud.polls >= len(plan.actions) - 1  # every change after the first waited
    switch = [c for c in cloud.calls if c.startswith("update listener L1")]
    assert switch == ["update listener L1 ['default_pool_id']"]
    # the old pool goes only after the listener uses the new one
    assert cloud.calls.index(switch[0]) < cloud.calls.index("delete pool P1")


def test_without_the_wait_the_same_plan_is_refused_by_a_busy_load_balancer() -> None:
    cloud = ProvisioningCloud(busy=0.05)
    observed = stack(True)
    plan = diff(stack(False, protocol="HTTPS"), observed, "s", "v3")
    ids = {k: r.id for k, r in observed.records.items() if r.id}
    report = Engine(cloud, "s", ids).run(plan)  # type: ignore[arg-type]
    assert report.failed  # the control: a real load balancer refuses back-to-back changes


def test_mutual_tls_that_stays_on_after_switching_it_off_fails_loudly() -> None:
    cloud = ProvisioningCloud(busy=0.0)
    cloud.still_bound = True
    want = stack(False)
    have = stack(True)
    bound = have.records[Ref("listener", "web")]
    have = State.of(
        [
            *(r for r in have.records.values() if r.key != bound.key),
            Record(
                bound.kind,
                bound.key,
                bound.name,
                {**bound.fields, "client_ca_tls_container_ref": Ref("certificate", "ca")},
                "L1",
            ),
        ]
    )
    want_listener = want.records[Ref("listener", "web")]
    want = State.of(
        [
            *(r for r in want.records.values() if r.key != want_listener.key),
            Record(
                want_listener.kind,
                want_listener.key,
                want_listener.name,
                {**want_listener.fields, "client_ca_tls_container_ref": None},
            ),
        ]
    )
    plan = diff(want, have, "s", "v3")
    report = run(cloud, plan, have)
    [failed] = report.failed
    assert "still on" in str(failed.error)
    cloud.still_bound = False
    assert not run(cloud, plan, have).failed


@pytest.mark.parametrize("kind", ["listener", "pool", "healthmonitor", "member"])
def test_placement_puts_every_lb_resource_on_its_load_balancer(kind: str) -> None:
    where = placement(stack(True))
    assert {k.kind for k, lb in where.items() if lb == "lb1"} >= {kind}
