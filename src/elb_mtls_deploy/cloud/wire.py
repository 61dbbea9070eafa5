"""Wire JSON <-> record fields, for both API versions: the one place that knows both
vocabularies. Pure: no SDK, no I/O.

Reading: API objects (plain dicts parsed from the response bytes, so keys are the API's
own names, e.g. ``X-Forwarded-ELB-IP`` inside ``insert_headers``) become `Observed`
resources in record field names (`_READERS`, normalised as `cloud.base` says).
Writing: record fields, references resolved to ids, become request bodies
(`_WRITE_NAMES`). Bodies are plain dicts rather than SDK models because models drop None
(docs/api-notes.md §1 item 2) and the v2 `InsertHeader` model cannot carry every header
switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elb_mtls_deploy.cloud.base import LoadBalancerInfo, Observed
from elb_mtls_deploy.state import Flavour, Kind

# Body wrapper key per kind (v2 certificates are flat: docs/api-notes.md §1 item 5).
WRAPPER: Mapping[Kind, str] = {
    "certificate": "certificate",
    "listener": "listener",
    "pool": "pool",
    "healthmonitor": "healthmonitor",
    "member": "member",
}
COLLECTION: Mapping[Kind, str] = {
    "certificate": "certificates",
    "listener": "listeners",
    "pool": "pools",
    "healthmonitor": "healthmonitors",
    "member": "members",
}

_CERT_FIELDS = ("type", "certificate", "domain", "expire_time")
_LISTENER_FIELDS = (
    "protocol",
    "protocol_port",
    "default_tls_container_ref",
    "tls_ciphers_policy",
    "http2_enable",
    "default_pool_id",
)
_LISTENER_TIMEOUTS = ("keepalive_timeout", "client_timeout", "member_timeout")  # v3 only
_POOL_FIELDS = ("protocol", "lb_algorithm")
_MONITOR_FIELDS = (
    "type",
    "delay",
    "timeout",
    "max_retries",
    "url_path",
    "expected_codes",
    "http_method",
    "monitor_port",
)
# Writing: record field -> wire field, per kind and API version; None = not sent in the
# body (a path parameter, a read-only field, or a record-only identity field).
_CERT_IDENTITY = {"fingerprint": None, "public_key_fingerprint": None, "chain": None}
_WRITE_NAMES: Mapping[Kind, Mapping[Flavour, Mapping[str, str | None]]] = {
    "certificate": {"v3": _CERT_IDENTITY, "v2": _CERT_IDENTITY},
    "listener": {"v3": {}, "v2": {}},
    "pool": {
        "v3": {"listener": "listener_id", "healthmonitor_id": None},
        "v2": {"listener": "listener_id", "healthmonitor_id": None},
    },
    "healthmonitor": {"v3": {"pool": "pool_id"}, "v2": {"pool": "pool_id"}},
    "member": {
        "v3": {"pool": None, "subnet_id": "subnet_cidr_id"},
        "v2": {"pool": None},
    },
}
# The reference is written as "null" by the API when unset; "" is sent to unset it (§2.4).
_EMPTY_STRING_UNSETS = frozenset({"client_ca_tls_container_ref"})


# ----------------------------------------------------------------------------- reading


def first_id(refs: Any) -> str | None:
    """The id of the first `{"id": ...}` in an API reference list, or None."""
    if isinstance(refs, list) and refs and isinstance(refs[0], Mapping):
        value = refs[0].get("id")
        return str(value) if value else None
    return None


def _none_if_empty(value: Any) -> Any:
    return None if value in ("", None) else value


def normalise_insert_headers(value: Any) -> dict[str, bool]:
    """The header switches as reported (booleans only; aliases and modes dropped). Defaults
    for unreported headers are applied where records are compared (`state.RULES`)."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, bool)}


def normalise_session_persistence(value: Any) -> dict[str, Any] | None:
    """None when off; the API reports `cookie_name: ""` when there is none."""
    if not isinstance(value, Mapping):
        return None
    cleaned = {str(k): v for k, v in value.items() if v not in (None, "")}
    return cleaned or None


def observed(kind: Kind, flavour: Flavour, item: Mapping[str, Any], **extra: Any) -> Observed:
    """One API object as an `Observed` resource; `extra` fills fields the API omits (pool)."""
    reader = _READERS[kind]
    fields = reader(flavour, item)
    fields.update(extra)
    description = item.get("description") if kind != "healthmonitor" else None
    return Observed(
        kind=kind,
        id=str(item["id"]),
        name=str(item.get("name") or ""),
        description=description,
        fields=fields,
    )


def _certificate(flavour: Flavour, item: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: item.get(name) for name in _CERT_FIELDS}
    fields["domain"] = _none_if_empty(fields["domain"])  # CA certificates come back with ""
    return fields


def _listener(flavour: Flavour, item: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: item.get(name) for name in _LISTENER_FIELDS}
    fields["loadbalancer_id"] = item.get("loadbalancer_id") or first_id(item.get("loadbalancers"))
    fields["client_ca_tls_container_ref"] = _none_if_empty(item.get("client_ca_tls_container_ref"))
    fields["default_pool_id"] = _none_if_empty(fields["default_pool_id"])
    fields["insert_headers"] = normalise_insert_headers(item.get("insert_headers"))
    if flavour == "v3":
        fields.update({name: item.get(name) for name in _LISTENER_TIMEOUTS})
        # A custom policy overrides tls_ciphers_policy (docs/api-notes.md §10.3).
        fields["security_policy_id"] = _none_if_empty(item.get("security_policy_id"))
    return fields


def _pool(flavour: Flavour, item: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: item.get(name) for name in _POOL_FIELDS}
    fields["listener"] = first_id(item.get("listeners"))
    fields["loadbalancer_id"] = first_id(item.get("loadbalancers"))
    fields["session_persistence"] = normalise_session_persistence(item.get("session_persistence"))
    fields["healthmonitor_id"] = _none_if_empty(item.get("healthmonitor_id"))
    return fields


def _healthmonitor(flavour: Flavour, item: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: item.get(name) for name in _MONITOR_FIELDS}
    fields["pool"] = item.get("pool_id") or first_id(item.get("pools"))
    return fields


def _member(flavour: Flavour, item: Mapping[str, Any]) -> dict[str, Any]:
    subnet = item.get("subnet_cidr_id") if flavour == "v3" else item.get("subnet_id")
    return {
        "pool": item.get("pool_id"),
        "address": item.get("address"),
        "protocol_port": item.get("protocol_port"),
        "weight": item.get("weight"),
        "subnet_id": _none_if_empty(subnet),
    }


_READERS = {
    "certificate": _certificate,
    "listener": _listener,
    "pool": _pool,
    "healthmonitor": _healthmonitor,
    "member": _member,
}


def loadbalancer(item: Mapping[str, Any]) -> LoadBalancerInfo:
    """v3 `LoadBalancer` or v2 `LoadbalancerResp` (v2 has no `guaranteed`: always shared)."""
    return LoadBalancerInfo(
        id=str(item["id"]),
        name=str(item.get("name") or ""),
        guaranteed=item.get("guaranteed") is True,
        vip_address=item.get("vip_address") or None,
        public_address=_public_address(item),
        ip_target_enable=_optional_bool(item, "ip_target_enable"),
        l7_flavor_id=(str(item.get("l7_flavor_id") or "") if "l7_flavor_id" in item else None),
    )


def _optional_bool(item: Mapping[str, Any], name: str) -> bool | None:
    value = item.get(name)
    return value if isinstance(value, bool) else None


def _public_address(item: Mapping[str, Any]) -> str | None:
    for key, address_key in (("eips", "eip_address"), ("publicips", "publicip_address")):
        entries = item.get(key)
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, Mapping) and entry.get(address_key):
                    return str(entry[address_key])
    return None


# ----------------------------------------------------------------------------- writing


def _rename_out(kind: Kind, flavour: Flavour, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Record names -> wire names (`_WRITE_NAMES`); what is not sent in a body is dropped:
    a member's pool (a path parameter), a pool's monitor (read-only: set by creating the
    monitor), a certificate's identity (compared, never sent)."""
    names = _WRITE_NAMES[kind][flavour]
    out: dict[str, Any] = {}
    for name, value in fields.items():
        wire_name = names.get(name, name)
        if wire_name is not None:
            out[wire_name] = value
    return out


def create_object(
    kind: Kind,
    flavour: Flavour,
    name: str,
    description: str | None,
    fields: Mapping[str, Any],
    payload: Mapping[str, str],
) -> dict[str, Any]:
    """The resource object of a create body (without the wrapper); None values omitted."""
    obj: dict[str, Any] = {"name": name}
    if description is not None and kind not in ("healthmonitor", "member"):
        obj["description"] = description  # monitors and members have no description
    obj.update(_rename_out(kind, flavour, fields))
    if kind == "pool" and obj.get("listener_id"):
        obj.pop("loadbalancer_id", None)  # the listener names it; one of the two suffices
    if kind == "certificate":
        obj.update(_certificate_payload(fields, payload))
    return {k: v for k, v in obj.items() if v is not None}


def update_object(
    kind: Kind, flavour: Flavour, fields: Mapping[str, Any], payload: Mapping[str, str]
) -> dict[str, Any]:
    """Only the given fields; None becomes JSON null, or "" where the API wants that."""
    obj = _rename_out(kind, flavour, fields)
    for name in _EMPTY_STRING_UNSETS:
        if name in obj and obj[name] is None:
            obj[name] = ""  # what the Go SDK/Terraform send to switch mutual auth off (§2.4)
    if kind == "certificate":
        obj.update(_certificate_payload(fields, payload))
    return obj


def _certificate_payload(fields: Mapping[str, Any], payload: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pem = payload.get("certificate") or fields.get("certificate")
    if pem:
        out["certificate"] = pem
    if payload.get("private_key"):
        out["private_key"] = payload["private_key"]
    return out


def wrap(kind: Kind, flavour: Flavour, obj: dict[str, Any]) -> dict[str, Any]:
    """The request body: wrapped, except v2 certificates (docs/api-notes.md §1 item 5)."""
    if kind == "certificate" and flavour == "v2":
        return obj
    return {WRAPPER[kind]: obj}


def unwrap(kind: Kind, flavour: Flavour, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resource object of a create/show/update response."""
    if kind == "certificate" and flavour == "v2":
        return body
    inner = body.get(WRAPPER[kind])
    return inner if isinstance(inner, Mapping) else {}
