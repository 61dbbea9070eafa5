"""Adoption's pure half: `adopt:` ids become this stack's records, renamed in place."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from elb_mtls_deploy.adopt import (
    Inventory,
    adoption,
    adoption_conflicts,
    describe,
    local_name,
    mark_adopted,
    refusals,
)
from elb_mtls_deploy.cloud.base import LoadBalancerInfo, Observed, Snapshot
from elb_mtls_deploy.diff import diff
from elb_mtls_deploy.errors import SpecError
from elb_mtls_deploy.observe import to_state
from elb_mtls_deploy.spec.model import Spec
from elb_mtls_deploy.state import Record, Ref, State, marker

M = marker("st")


def spec(**adopt: Any) -> Spec:
    return Spec.model_validate(
        {
            "stack": "st",
            "target": {"kind": "embedded"},
            "certificates": {
                "servers": [
                    {"name": "web", "import": {"certificate": "w.crt", "key": {"file": "k"}}}
                ]
            },
            "listeners": [
                {
                    "name": "www",
                    "loadbalancer": {"id": "lb"},
                    "server_certificate": "web",
                    "pool": {},
                }
            ],
            "adopt": adopt,
        }
    )


def console_snapshot(description: str | None = "") -> Snapshot:
    """A console-made listener, pool, monitor and member: no prefix, no marker."""
    listener = Observed(
        "listener",
        "L1",
        "listener-https",
        description,
        {"loadbalancer_id": "lb", "protocol": "HTTPS", "protocol_port": 443},
    )
    pool = Observed("pool", "P1", "server_group", "", {"listener": "L1", "protocol": "HTTP"})
    monitor = Observed("healthmonitor", "H1", "check", None, {"pool": "P1", "type": "HTTP"})
    member = Observed(
        "member",
        "M1",
        "backend-1",
        None,
        {"pool": "P1", "address": "10.0.0.1", "protocol_port": 80, "weight": 1},
    )
    return Snapshot((), (listener,), (pool,), (monitor,), (member,))


ADOPTED = {"L1": Ref("listener", "www"), "P1": Ref("pool", "www")}


def test_adopted_ids_are_this_stacks_records_with_their_names_and_descriptions() -> None:
    state = to_state(console_snapshot(), "st", adopted=ADOPTED)
    assert state.foreign_listeners == ()
    listener = state.records[Ref("listener", "www")]
    assert (listener.id, listener.fields["name"], listener.fields["description"]) == (
        "L1",
        "listener-https",
        "",
    )
    assert state.records[Ref("pool", "www")].fields["listener"] == Ref("listener", "www")
    assert state.records[Ref("healthmonitor", "www")].fields["name"] == "check"
    assert state.records[Ref("member", "www:10.0.0.1:80")].fields["name"] == "backend-1"


def test_without_adoption_a_console_listener_stays_foreign() -> None:
    state = to_state(console_snapshot(), "st")
    assert [f.id for f in state.foreign_listeners] == ["L1"]
    assert Ref("listener", "www") not in state.records


def test_the_plan_renames_and_marks_in_place() -> None:
    want = State.of(
        [
            Record("listener", Ref("listener", "www"), "st-www", {"protocol_port": 443}),
            Record(
                "pool",
                Ref("pool", "www"),
                "st-www",
                {"listener": Ref("listener", "www"), "protocol": "HTTP"},
            ),
            Record(
                "healthmonitor",
                Ref("healthmonitor", "www"),
                "st-www-hm",
                {"pool": Ref("pool", "www")},
            ),
            Record(
                "member",
                Ref("member", "www:10.0.0.1:80"),
                "st-www-10.0.0.1-80",
                {
                    "pool": Ref("pool", "www"),
                    "address": "10.0.0.1",
                    "protocol_port": 80,
                    "weight": 1,
                },
            ),
        ]
    )
    marked = mark_adopted(want, spec(listeners={"www": "L1"}, pools={"www": "P1"}))
    plan = diff(marked, to_state(console_snapshot(), "st", adopted=ADOPTED), "st", "v3")
    assert {(a.op, a.key, a.id) for a in plan.actions} == {
        ("update", Ref("listener", "www"), "L1"),
        ("update", Ref("pool", "www"), "P1"),
        ("update", Ref("healthmonitor", "www"), "H1"),
        ("update", Ref("member", "www:10.0.0.1:80"), "M1"),
    }
    listener = next(a for a in plan.actions if a.kind == "listener")
    assert dict(listener.fields) == {"name": "st-www", "description": M}
    member = next(a for a in plan.actions if a.kind == "member")
    assert dict(member.fields) == {"name": "st-www-10.0.0.1-80"}
    # Once applied, the same resources (now owned) compare equal: the entries may stay.
    owned = Snapshot(
        (),
        (Observed("listener", "L1", "st-www", M, console_snapshot().listeners[0].fields),),
        (Observed("pool", "P1", "st-www", M, {"listener": "L1", "protocol": "HTTP"}),),
        (Observed("healthmonitor", "H1", "st-www-hm", None, {"pool": "P1"}),),
        (
            Observed(
                "member", "M1", "st-www-10.0.0.1-80", None, console_snapshot().members[0].fields
            ),
        ),
    )
    assert diff(marked, to_state(owned, "st", adopted=ADOPTED), "st", "v3").actions == ()


def test_no_adopt_section_changes_nothing() -> None:
    want = State.of([Record("listener", Ref("listener", "www"), "st-www", {"protocol_port": 443})])
    assert mark_adopted(want, spec()) is want


def test_an_adopted_name_the_spec_does_not_describe_is_refused() -> None:
    """It would be observed as this stack's and planned for deletion."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"adopt\.listeners: 'wwww' is not one of"):
        spec(listeners={"wwww": "L1"})


def test_an_id_adopted_twice_is_refused() -> None:
    with pytest.raises(SpecError, match="adopted twice"):
        adoption(spec(listeners={"www": "X"}, pools={"www": "X"}))


def test_conflicts_gone_or_owned_by_another_stack() -> None:
    s = spec(listeners={"www": "L1"}, pools={"www": "P1"}, certificates={
        "web": {"id": "C0", "sha256": "0" * 64}})  # fmt: skip
    want = State.of(
        [
            Record("listener", Ref("listener", "www"), "st-www", {}),
            Record("pool", Ref("pool", "www"), "st-www", {}),
        ]
    )
    other = to_state(
        console_snapshot(marker("other")), "st", adopted={"L1": Ref("listener", "www")}
    )
    problems = adoption_conflicts(s, want, other)
    assert any("listener www (id L1) is owned by another stack" in p for p in problems)
    assert any("pool www (id P1) is not in the cloud" in p for p in problems)
    # A CA the spec no longer uses (rolled over) may be gone: no conflict for it.
    assert not any("certificate web" in p for p in problems)
    fine = to_state(console_snapshot(), "st", adopted=ADOPTED)
    assert adoption_conflicts(s, want, fine) == []


def test_local_names_are_spec_names_and_unique() -> None:
    taken: set[str] = set()
    assert local_name("Server_Group Web", "x", taken) == "server-group-web"
    assert local_name("server-group-web", "x", taken) == "server-group-web-2"
    assert local_name("", "https-443", taken) == "https-443"
    assert local_name("---", "ca", taken) == "ca"


LB = LoadBalancerInfo("lb", "lb-name", True, "10.0.0.9")


def inventory(other_listener_uses_cert: bool = False, owner: str | None = "") -> Inventory:
    snap = console_snapshot(owner)
    listener = Observed(
        "listener",
        "L1",
        "listener-https",
        owner,
        {**snap.listeners[0].fields, "default_tls_container_ref": "C1", "default_pool_id": "P1"},
    )
    others = (
        (Observed("listener", "L9", "elsewhere", "", {"default_tls_container_ref": "C1"}),)
        if other_listener_uses_cert
        else ()
    )
    cert = Observed("certificate", "C1", "cert", "", {"type": "server", "certificate": ""})
    return Inventory(
        LB,
        "v3",
        (listener,),
        (listener, *others),
        {"C1": cert},
        {"P1": snap.pools[0]},
        {},
        {},
    )


def test_refusals_name_the_reason() -> None:
    assert list(refusals(inventory(), "shop")) == []
    [(shared, fix)] = refusals(inventory(other_listener_uses_cert=True), "shop")
    assert "also used by listener(s) elsewhere (L9) outside this import" in shared
    assert "import those listeners too" in fix
    [(owned, fix)] = refusals(inventory(owner=marker("other")), "shop")
    assert "owned by stack 'other'" in owned and "leave it to stack 'other'" in fix
    [(mine, fix)] = refusals(inventory(owner=marker("shop")), "shop")
    assert "already owned by stack 'shop'" in mine and "needs no import" in fix


RECIPE = Path(__file__).parents[1] / "pki" / "seed_recipe.sh"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_adopted_certificates_lint_as_warnings_only_while_unchanged(tmp_path: Path) -> None:
    """The regression the `adopt.certificates.*.sha256` guard exists for: an adopted SHA-1
    certificate can be applied (ELB serves it), a different file under the same name cannot."""
    from elb_mtls_deploy.certinfo import identify
    from elb_mtls_deploy.pki import ensure_certificates

    env = {**os.environ, "SEED_P12_PASSWORD": "x"}
    subprocess.run(["sh", str(RECIPE), str(tmp_path), "server"], check=True, env=env,
                   capture_output=True)  # fmt: skip
    sha = identify((tmp_path / "server" / "server.crt").read_text()).fingerprint

    def findings(adopted_sha: str) -> list[Any]:
        data = {
            "stack": "seed",
            "target": {"kind": "embedded"},
            "certificates": {
                "cas": [{"name": "ca", "import": {"certificate": "server/ca.crt"}}],
                "servers": [
                    {
                        "name": "web",
                        "import": {
                            "certificate": "server/server.crt",
                            "key": {"file": "server/server.key"},
                        },
                    }
                ],
            },
            "listeners": [
                {
                    "name": "web",
                    "loadbalancer": {"name": "lb"},
                    "server_certificate": "web",
                    "pool": {},
                },
            ],
            "adopt": {"certificates": {"web": {"id": "C1", "sha256": adopted_sha}}},
        }
        report = ensure_certificates(Spec.model_validate(data), tmp_path, {}, datetime.now(UTC))
        return [f for f in report.findings if f.certificate == "web"]

    adopted = findings(sha)
    assert adopted and all(f.severity == "warning" for f in adopted)
    assert any("SHA1" in f.problem and "(adopted as ELB serves it)" in f.problem for f in adopted)
    replaced = findings("0" * 64)
    assert any(f.severity == "error" and "SHA1" in f.problem for f in replaced)


def test_describe_writes_import_entries_and_adopt_ids() -> None:
    pem = _self_signed_pem()
    inv = inventory()
    cert = Observed("certificate", "C1", "Server Cert", "", {"type": "server", "certificate": pem})
    inv = Inventory(**{**inv.__dict__, "certificates": {"C1": cert}, "private_keys": {}})
    described = describe(inv, "shop", {"kind": "embedded"})
    assert "    - name: server-cert" in described.text
    assert "        key: {file: imported/server-cert.key}" in described.text
    assert "    listener-https: L1" in described.text and "    server-group: P1" in described.text
    assert [f.path for f in described.files] == ["imported/server-cert.crt"]
    assert any("does not return its private key" in n for n in described.notes)


def _self_signed_pem() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.test.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now.replace(year=now.year + 1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
