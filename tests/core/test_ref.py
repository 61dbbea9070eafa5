"""`state.Ref`: the one reference type; its text form is what plans and reports show."""

from __future__ import annotations

import json

from elb_mtls_deploy.plan import digest
from elb_mtls_deploy.state import CloudRef, Ref, cloud_name


def test_text_form_is_kind_and_name() -> None:
    assert str(Ref("certificate", "web")) == "certificate:web"
    assert str(CloudRef("abc")) == "id:abc"
    # JSON documents (saved plans, digests) carry the text form
    assert json.dumps({"k": Ref("pool", "www")}, default=str) == '{"k": "pool:www"}'
    assert digest([Ref("pool", "www")]) == digest(["pool:www"])


def test_refs_sort_like_their_text_form() -> None:
    refs = [
        Ref("pool", "a-b"),
        Ref("member", "www:10.0.0.1:80"),
        Ref("pool", "a"),
        Ref("certificate", "z"),
        Ref("healthmonitor", "a"),
        Ref("listener", "a.b"),
        Ref("listener", "a"),
    ]
    assert [str(r) for r in sorted(refs)] == sorted(str(r) for r in refs)


def test_member_refs_keep_an_ipv6_address_whole() -> None:
    ref = Ref.member("www", "2001:db8::1", 8443)
    assert ref == Ref("member", "www:2001:db8::1:8443")
    assert ref.member_parts() == ("www", "2001:db8::1:8443")
    assert cloud_name("s", "member", Ref.member("www", "10.0.0.1", 80).name) == "s-www-10.0.0.1-80"


def test_a_client_ca_bundle_names_its_certificates() -> None:
    assert Ref("certificate", "old+new").bundle() == ("old", "new")
    assert Ref("certificate", "ca").bundle() == ("ca",)


def test_a_ref_is_not_its_text() -> None:
    # a string that looks like a reference is a raw value, never a reference
    assert Ref("pool", "www") != "pool:www"
    assert CloudRef("x") != Ref("pool", "x")
