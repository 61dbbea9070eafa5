"""The probe's pure pieces: the PEM layout classifier, the report (table and JSON, with no
secret), port choice, the address option and waiting for ACTIVE."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from elb_mtls_deploy.errors import ConflictError, DeployError
from elb_mtls_deploy.probe import checks, material, report, stack
from elb_mtls_deploy.probe.run import _address

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def made() -> material.Material:
    return material.make("0123abcd", NOW)


def test_layout_names_each_documented_form(made: material.Material) -> None:
    pem = made.ca_a.certificate_pem
    assert checks.layout(pem, pem) == "kept as uploaded"
    assert checks.layout(pem, pem.strip()) == "kept (surrounding whitespace differs)"
    assert checks.layout(pem, pem.replace("\n", "\r\n")) == "CRLF line ends"
    assert checks.layout(pem, pem.replace("\n", "\\n")) == "escaped \\n"
    assert checks.layout(pem, pem.replace("\n", "\n\n")) == "newlines doubled"
    assert checks.layout(pem, pem.replace("\n", "")) == "newlines removed"
    assert checks.layout(pem, "") == "not returned"


def test_layouts_that_normalise_count_as_the_same_certificate(made: material.Material) -> None:
    pem = made.bundle_pem
    for returned in (pem.replace("\n", ""), pem.replace("\n", "\n\n"), pem.replace("\n", "\\n")):
        assert checks._same_certificates(pem, returned)
    assert not checks._same_certificates(pem, made.ca_b.certificate_pem)


def test_material_chains_and_bundle(made: material.Material) -> None:
    assert made.bundle_pem.count("BEGIN CERTIFICATE") == 2
    assert made.server.certificate.issuer == made.ca_a.certificate.subject
    assert made.client_b.certificate.issuer == made.ca_b.certificate.subject
    assert "0123abcd" in made.client_a.certificate.subject.rfc4514_string()


def _report(made: material.Material) -> report.Report:
    r = report.Report("0123abcd", "1.0", "3.1.219", "embedded", "v3", {"id": "x", "type": "shared"})
    r.findings = [
        report.Finding(
            "busy", "q", "did", "assumed", "refused", False,
            report.Answer(False, 409, "ELB.1", "busy, try again later"), {"a": 1},
            consequence="what the tool does",
        ),
        checks._skip("filter_url_length", "q", "v2"),
    ]  # fmt: skip
    return r


def test_table_marks_mismatches_and_skips(made: material.Material) -> None:
    lines = report.table(_report(made))
    rows = [line.split() for line in lines if line.startswith("  busy") or "filter_url" in line]
    assert rows[0][:2] == ["busy", "NO"]
    assert rows[1][:2] == ["filter_url_length", "skipped"]
    assert "  so:       what the tool does" in lines
    assert "2 probes: 0 match, 1 differ, 1 skipped" in lines
    assert "  answer:   refused 409 ELB.1" in lines


def test_document_has_the_context_and_no_secret(made: material.Material) -> None:
    doc = report.document(_report(made))
    text = json.dumps(doc)
    assert doc["format"] == report.FORMAT and doc["sdk_version"] == "3.1.219"
    assert doc["probes"][0]["answer"]["code"] == "ELB.1"
    assert "PRIVATE KEY" not in text
    assert repr(made).count("key") == 0  # the material's repr shows no key either


def test_free_port_avoids_used_ports_and_stays_high() -> None:
    rng = random.Random(1)
    first = stack.free_port([], rng)
    assert first in stack.PORTS
    assert stack.free_port([first], random.Random(1)) != first
    with pytest.raises(DeployError, match="no free high port"):
        stack.free_port(list(stack.PORTS), rng)


def test_markers() -> None:
    assert stack.is_probe(stack.marker("abc"))
    assert not stack.is_probe("managed-by=elb-mtls-deploy;stack=x")
    assert not stack.is_probe(None)
    assert stack.name("abc", "pool").startswith(stack.NAME_PREFIX)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (None, None)),
        ("203.0.113.7", ("203.0.113.7", None)),
        ("203.0.113.7:44300", ("203.0.113.7", 44300)),
        ("[2001:db8::1]", ("2001:db8::1", None)),
    ],
)
def test_address_takes_a_host_with_an_optional_port(value: Any, expected: Any) -> None:
    assert _address(value) == expected


class FakeCloud:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.calls = 0

    def provisioning_status(self, loadbalancer_id: str) -> str:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


def test_settle_polls_until_active_and_change_retries_a_busy_refusal() -> None:
    slept: list[float] = []
    cloud = FakeCloud(["PENDING_UPDATE", "PENDING_UPDATE", "ACTIVE"])
    lb = stack.Balancer(cloud, "lb", sleep=slept.append)  # type: ignore[arg-type]
    answers: list[Any] = [_busy(), "done"]

    def call() -> str:
        value = answers.pop(0)
        if isinstance(value, Exception):
            raise value
        return str(value)

    assert lb.change(call) == "done"
    assert slept == [0.025, 0.03125]


def test_change_does_not_retry_a_real_conflict() -> None:
    lb = stack.Balancer(FakeCloud(["ACTIVE"]), "lb")  # type: ignore[arg-type]

    def call() -> None:
        raise ConflictError("port taken", status=409)

    with pytest.raises(ConflictError, match="port taken"):
        lb.change(call)


def test_settle_gives_up_after_the_bound() -> None:
    now = [0.0]
    lb = stack.Balancer(
        FakeCloud(["PENDING_UPDATE"]),  # type: ignore[arg-type]
        "lb",
        sleep=lambda s: now.__setitem__(0, now[0] + 100),
        clock=lambda: now[0],
    )
    with pytest.raises(DeployError, match="stayed PENDING_UPDATE"):
        lb.settle()


def _busy() -> ConflictError:
    exc = ConflictError("busy", status=409)
    exc.busy = True
    return exc


def test_cleanup_reports_what_it_could_not_delete_and_goes_on() -> None:
    now = [0.0]
    deleted: list[str] = []

    class Cloud(FakeCloud):
        flavour = "v3"

        def delete(self, kind: str, id: str, parent_id: str | None) -> None:
            deleted.append(id)

    lb = stack.Balancer(
        Cloud(["PENDING_UPDATE"]),  # type: ignore[arg-type]
        "lb",
        sleep=lambda s: now.__setitem__(0, now[0] + 100),
        clock=lambda: now[0],
    )
    items = [stack.Made("listener", "l1", "l"), stack.Made("certificate", "c1", "c")]
    removed, left = stack.delete_all(lb, items)
    assert removed == ["certificate c (c1)"] and deleted == ["c1"]
    assert left == ["listener l (l1): load balancer lb stayed PENDING_UPDATE for 300 s"]


def test_a_transient_delete_failure_is_tried_again() -> None:
    from elb_mtls_deploy.errors import TransientError

    failures = [TransientError("503", status=503)]

    class Cloud(FakeCloud):
        flavour = "v3"

        def delete(self, kind: str, id: str, parent_id: str | None) -> None:
            if failures:
                raise failures.pop()

    slept: list[float] = []
    lb = stack.Balancer(Cloud(["ACTIVE"]), "lb", sleep=slept.append)  # type: ignore[arg-type]
    removed, left = stack.delete_all(lb, [stack.Made("certificate", "c1", "c")])
    assert removed == ["certificate c (c1)"] and left == [] and slept == [1]
