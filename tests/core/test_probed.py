"""A `deploy probe` result read by the plan: refusals for what the account lacks, notes for
what the tool copes with, nothing for another load balancer or API version."""

from __future__ import annotations

from typing import Any

from elb_mtls_deploy.probed import FORMAT, format_problem, refusals
from elb_mtls_deploy.state import Record, Ref, State

LB = "lb-1"


def doc(*missed: str, api: str = "v3", lb: str = LB) -> dict[str, Any]:
    names = ("certificate_text", "clientcert_headers", "ca_unbind", "multi_ca_trust", "busy")
    return {
        "format": FORMAT,
        "run": "r1",
        "api": api,
        "loadbalancer": {"id": lb},
        "probes": [
            {
                "name": n,
                "match": n not in missed,
                "observed": f"{n} observed",
                "answer": {"ok": False, "status": 400, "code": "ELB.1", "message": "no"},
                "consequence": f"{n} consequence",
            }
            for n in names
        ],
    }


def listener(ca: str | None = None, **headers: bool) -> Record:
    fields = {"loadbalancer_id": LB, "client_ca_tls_container_ref": ca, "insert_headers": headers}
    return Record("listener", Ref("listener", "www"), "s-www", fields)


def state(*records: Record) -> State:
    return State({r.key: r for r in records})


CERT = Record("certificate", Ref("certificate", "www"), "s-www", {"type": "server"})


def test_nothing_missed_nothing_refused() -> None:
    want = state(
        listener(Ref("certificate", "a+b"), **{"X-Forwarded-Clientcert-subjectdn-enable": True})
    )
    assert refusals(doc(), want, State(), "v3", [LB]) == ([], [])


def test_refused_client_certificate_headers_refuse_a_listener_that_switches_them_on() -> None:
    on = state(listener(**{"X-Forwarded-Clientcert-subjectdn-enable": True}))
    conflicts, _ = refusals(doc("clientcert_headers"), on, State(), "v3", [LB])
    assert len(conflicts) == 1
    assert conflicts[0].startswith("listener www: probe run r1 found the client-certificate")
    assert "400 ELB.1 no" in conflicts[0]
    off = state(listener(**{"X-Forwarded-Clientcert-subjectdn-enable": False}))
    assert refusals(doc("clientcert_headers"), off, State(), "v3", [LB]) == ([], [])


def test_untrusted_bundle_refuses_only_a_bundle() -> None:
    bundle = Ref("certificate", "a+b")
    conflicts, _ = refusals(doc("multi_ca_trust"), state(listener(bundle)), State(), "v3", [LB])
    assert "not trusted as a whole" in conflicts[0]
    single = state(listener(Ref("certificate", "a")))
    assert refusals(doc("multi_ca_trust"), single, State(), "v3", [LB]) == ([], [])


def test_unbinding_that_does_not_work_refuses_switching_mutual_tls_off() -> None:
    had = state(
        Record(
            "listener",
            Ref("listener", "www"),
            "s-www",
            {"client_ca_tls_container_ref": "x"},
            id="1",
        )
    )
    conflicts, _ = refusals(doc("ca_unbind"), state(listener(None)), had, "v3", [LB])
    assert "switch mutual TLS off in the console" in conflicts[0]
    assert refusals(doc("ca_unbind"), state(listener(None)), State(), "v3", [LB]) == ([], [])


def test_certificate_text_refuses_when_certificates_are_managed() -> None:
    conflicts, _ = refusals(doc("certificate_text"), state(CERT), State(), "v3", [LB])
    assert "cannot compare" in conflicts[0]


def test_harmless_mismatches_are_notes() -> None:
    conflicts, notes = refusals(doc("busy"), state(listener()), State(), "v3", [LB])
    assert conflicts == []
    assert notes == ["probe run r1: busy differs from what the tool assumes (busy observed); "
                     "busy consequence"]  # fmt: skip


def test_a_result_for_another_load_balancer_or_api_is_not_used() -> None:
    on = state(listener(**{"X-Forwarded-Clientcert-subjectdn-enable": True}))
    for d, flavour in (
        (doc("clientcert_headers", lb="other"), "v3"),
        (doc("clientcert_headers"), "v2"),
    ):
        conflicts, notes = refusals(d, on, State(), flavour, [LB])
        assert conflicts == [] and "it is not used" in notes[0]


def test_format_problem() -> None:
    assert format_problem(doc()) is None
    assert format_problem({"format": "x"}) is not None
    assert format_problem([]) is not None
    assert format_problem({"format": FORMAT, "loadbalancer": {}}) is not None
