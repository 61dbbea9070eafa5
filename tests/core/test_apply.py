"""The apply engine and the resilient cloud wrapper, with an in-memory fake cloud."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from elb_mtls_deploy.apply import Engine
from elb_mtls_deploy.cloud.base import LoadBalancerInfo, Observed, Query
from elb_mtls_deploy.diff import diff
from elb_mtls_deploy.errors import (
    ConflictError,
    NotFoundError,
    PermanentError,
    TransientError,
)
from elb_mtls_deploy.resilient import ResilientCloud
from elb_mtls_deploy.retry import RetryPolicy, backoff, call_with_retry
from elb_mtls_deploy.state import Flavour, Kind, Record, Ref, State, marker

FAST = RetryPolicy(attempts=4, base_seconds=0.0, cap_seconds=0.0, total_seconds=5.0, seed=1)


class FakeCloud:
    """Records calls; `fail` maps an operation label to a list of errors to raise first."""

    flavour: Flavour = "v3"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: dict[str, list[Exception]] = {}
        self.made: dict[str, Observed] = {}
        self.lock = threading.Lock()
        self.counter = 0

    def _maybe_fail(self, label: str) -> None:
        with self.lock:
            self.calls.append(label)
            errors = self.fail.get(label)
            if errors:
                raise errors.pop(0)

    def create(
        self,
        kind: Kind,
        name: str,
        description: str | None,
        fields: Mapping[str, Any],
        payload: Mapping[str, str],
    ) -> str:
        with self.lock:
            self.counter += 1
            new_id = f"{kind}-{self.counter}"
            self.made[new_id] = Observed(kind, new_id, name, description, dict(fields))
        self._maybe_fail(f"create {kind} {name}")
        return new_id

    def update(
        self,
        kind: Kind,
        id: str,
        fields: Mapping[str, Any],
        payload: Mapping[str, str],
        parent_id: str | None,
    ) -> None:
        self._maybe_fail(f"update {kind} {id}")

    def delete(self, kind: Kind, id: str, parent_id: str | None) -> None:
        self._maybe_fail(f"delete {kind} {id}")

    def create_members(self, pool_id: str, members: Sequence[Mapping[str, Any]]) -> list[str]:
        self._maybe_fail(f"create_members {pool_id} {len(members)}")
        return [f"m-{m['address']}" for m in members]

    def delete_members(self, pool_id: str, ids: Sequence[str]) -> None:
        self._maybe_fail(f"delete_members {pool_id} {sorted(ids)}")

    def read(self, query: Query) -> list[Observed]:
        if query.kind in ("certificate", "listener"):
            self._maybe_fail(f"list {query.kind}s")
        return [o for o in self.made.values() if o.kind == query.kind]

    def find_loadbalancers(
        self, ids: Sequence[str], names: Sequence[str]
    ) -> list[LoadBalancerInfo]:
        return []

    def close(self) -> None:
        pass


def records() -> list[Record]:
    return [
        Record(
            "certificate",
            Ref("certificate", "web"),
            "s-web",
            {"type": "server", "fingerprint": "f"},
            payload={"certificate": "PEM", "private_key": "KEY"},
        ),
        Record(
            "listener",
            Ref("listener", "web"),
            "s-web",
            {
                "loadbalancer_id": "lb1",
                "protocol": "HTTPS",
                "protocol_port": 443,
                "default_tls_container_ref": Ref("certificate", "web"),
                "client_ca_tls_container_ref": None,
            },
        ),
        Record(
            "pool",
            Ref("pool", "web"),
            "s-web",
            {"listener": Ref("listener", "web"), "protocol": "HTTP"},
        ),
        *(
            Record(
                "member",
                Ref("member", f"web:10.0.0.{i}:80"),
                f"s-web-10.0.0.{i}-80",
                {
                    "pool": Ref("pool", "web"),
                    "address": f"10.0.0.{i}",
                    "protocol_port": 80,
                    "weight": 1,
                },
            )
            for i in range(1, 4)
        ),
    ]


def engine(cloud: Any, **kw: Any) -> Engine:
    return Engine(ResilientCloud(cloud, marker("s"), FAST), "s", {}, **kw)


def test_creates_resolve_references_to_new_ids_and_batch_members() -> None:
    cloud = FakeCloud()
    plan = diff(State.of(records()), State(), "s", "v3")
    report = engine(cloud).run(plan)
    assert report.count("done") == 6 and not report.failed
    assert cloud.calls == [
        "create certificate s-web",
        "create listener s-web",
        "create pool s-web",
        "create_members pool-3 3",  # one batch call for the pool's three members
    ]
    listener = cloud.made["listener-2"]
    assert listener.fields["default_tls_container_ref"] == "certificate-1"
    # the seam takes record fields; `cloud/wire.py` drops what is not sent (see
    # tests/cloud/test_cloud_units.py::test_write_bodies)
    assert cloud.made["pool-3"].fields["listener"] == "listener-2"


def test_permanent_failure_stops_new_work_and_reports_the_rest() -> None:
    cloud = FakeCloud()
    cloud.fail["create listener s-web"] = [PermanentError("bad", status=400, code="ELB.1001")]
    report = engine(cloud).run(diff(State.of(records()), State(), "s", "v3"))
    assert report.count("done") == 1
    [failed] = report.failed
    assert failed.action.label == "create listener web" and failed.error is not None
    assert failed.error.code == "ELB.1001"
    assert report.count("not started") == 4
    assert not any(c.startswith("create pool") for c in cloud.calls)


def test_lost_create_is_adopted_not_resent() -> None:
    cloud = FakeCloud()
    # The listener is created, but the reply is lost on the way back.
    cloud.fail["create listener s-web"] = [TransientError("connection reset")]
    resilient = ResilientCloud(cloud, marker("s"), FAST)
    Engine(resilient, "s", {}).run(diff(State.of(records()), State(), "s", "v3"))
    assert cloud.calls.count("create listener s-web") == 1
    assert resilient.adopted == ["listener s-web"]
    assert sum(1 for o in cloud.made.values() if o.kind == "listener") == 1


def test_throttled_create_is_retried_because_it_was_not_processed() -> None:
    cloud = FakeCloud()
    cloud.fail["create pool s-web"] = [TransientError("slow down", status=429)]
    report = engine(cloud).run(diff(State.of(records()), State(), "s", "v3"))
    assert not report.failed
    assert cloud.calls.count("create pool s-web") == 2


def test_busy_load_balancer_is_waited_for() -> None:
    cloud = FakeCloud()
    busy = ConflictError("PENDING_UPDATE", status=409)
    busy.busy = True
    cloud.fail["create listener s-web"] = [busy, busy]
    report = engine(cloud).run(diff(State.of(records()), State(), "s", "v3"))
    assert not report.failed and cloud.calls.count("create listener s-web") == 3


def test_delete_of_something_already_gone_counts_as_done() -> None:
    cloud = FakeCloud()
    observed = State.of(
        [Record("certificate", Ref("certificate", "old"), "s-old", {"type": "server"}, "c9")]
    )
    cloud.fail["delete certificate c9"] = [NotFoundError("gone", status=404)]
    report = engine(cloud).run(diff(State(), observed, "s", "v3"))
    assert report.count("done") == 1


def test_stop_event_leaves_remaining_waves_not_started() -> None:
    cloud = FakeCloud()
    eng = engine(cloud)
    eng.stop.set()
    report = eng.run(diff(State.of(records()), State(), "s", "v3"))
    assert report.count("not started") == 6 and cloud.calls == []


def test_retry_honours_retry_after_and_gives_up_after_attempts() -> None:
    err = TransientError("throttled", status=429)
    err.retry_after = 3.0
    import random

    assert backoff(1, RetryPolicy(base_seconds=0.1), random.Random(1), 3.0) >= 3.0
    slept: list[float] = []
    attempts = 0

    def always_throttled() -> None:
        nonlocal attempts
        attempts += 1
        raise err

    with pytest.raises(TransientError):
        call_with_retry(
            always_throttled,
            RetryPolicy(attempts=3, total_seconds=100),
            safe_to_repeat=True,
            sleep=slept.append,
        )
    assert attempts == 3 and slept == [3.0, 3.0]


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    import random

    rng = random.Random(7)
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=4.0)
    delays = [backoff(n, policy, rng, None) for n in range(1, 8)]
    assert all(0 <= d <= min(4.0, 2 ** (n - 1)) for n, d in enumerate(delays, start=1))
    assert len(set(delays)) == len(delays)  # jittered


def test_ctrl_c_finishes_calls_in_flight_and_starts_nothing_new() -> None:
    import _thread
    import time

    class InterruptingCloud(FakeCloud):
        def create(
            self,
            kind: Kind,
            name: str,
            description: str | None,
            fields: Mapping[str, Any],
            payload: Mapping[str, str],
        ) -> str:
            if kind == "listener":
                _thread.interrupt_main()  # the user presses Ctrl-C while this call is on the wire
                time.sleep(0.2)
            return super().create(kind, name, description, fields, payload)

    cloud = InterruptingCloud()
    report = engine(cloud).run(diff(State.of(records()), State(), "s", "v3"))
    assert report.interrupted
    assert [o.action.label for o in report.outcomes if o.status == "done"] == [
        "create certificate web",
        "create listener web",  # finished although Ctrl-C arrived during it
    ]
    assert report.count("not started") == 4
    assert not any(c.startswith("create pool") for c in cloud.calls)


def test_adoption_of_a_pool_matches_its_listener_not_only_its_name() -> None:
    cloud = FakeCloud()
    old = Observed("pool", "p-old", "s-web", marker("s"), {"listener": "l-old"})
    new = Observed("pool", "p-new", "s-web", marker("s"), {"listener": "l-new"})
    cloud.made = {"p-old": old, "p-new": new}
    resilient = ResilientCloud(cloud, marker("s"), FAST)
    assert resilient.find("pool", "s-web", marker("s"), {"listener": "l-new"}) == "p-new"
    assert resilient.find("pool", "s-web", marker("s"), {"listener": "l-other"}) is None
