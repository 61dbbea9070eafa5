"""`deploy schema`: a description for every property, and `${VAR}` accepted where the
loader substitutes the environment (an editor must not flag `port: ${PORT}`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from elb_mtls_deploy.cli import main
from elb_mtls_deploy.schema import spec_schema
from elb_mtls_deploy.spec.load import load_spec


def properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for definition, node in [("Spec", schema), *schema["$defs"].items()]:
        for name, body in (node.get("properties") or {}).items():
            yield f"{definition}.{name}", body


def test_every_property_has_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    missing = [path for path, body in properties(schema) if not body.get("description")]
    assert missing == []
    assert len(list(properties(schema))) > 100


def accepts(body: dict[str, Any], value: str) -> bool:
    """Whether a string value fits one of the property's string options (enough here)."""
    return any(
        option.get("type") == "string"
        and "enum" not in option
        and re.search(option.get("pattern", ""), value) is not None
        for option in body.get("anyOf", [body])
    )


def test_env_references_are_accepted_where_values_are_constrained() -> None:
    found = dict(properties(spec_schema()))
    constrained = ("Listener.port", "Member.weight", "HuaweiCloudTarget.region")
    for path in (*constrained, "Listener.tls_policy", "Listener.http2", "HealthMonitor.timeout"):
        assert accepts(found[path], "${FROM_ENV}"), path
    assert not accepts(found["Listener.port"], "443x")  # not a free-text escape hatch
    # the discriminator stays a literal, objects and arrays are untouched
    assert "anyOf" not in found["EmbeddedTarget.kind"]
    assert "$ref" in found["Listener.pool"] and found["Spec.listeners"]["type"] == "array"


def test_what_the_schema_accepts_the_loader_loads(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "stack: st\ntarget: {kind: embedded}\n"
        "certificates:\n  cas: [{name: ca, subject: {common_name: CA}}]\n"
        "  servers: [{name: www, issuer: ca, subject: {common_name: w}, dns_names: [w]}]\n"
        "listeners:\n  - name: www\n    loadbalancer: {name: lb}\n    port: ${PORT}\n"
        "    server_certificate: www\n    http2: ${H2}\n    pool: {members: []}\n"
    )
    loaded = load_spec(spec, {"PORT": "8443", "H2": "true"})
    assert loaded.listeners[0].port == 8443 and loaded.listeners[0].http2 is True
