"""Wire in/out for every API route: parse bodies and queries, call models, build envelopes.

No business rules live here (they are in ``models.py``); this module only knows the two API
versions' shapes: v3 wraps every body and adds ``request_id`` / ``page_info``; v2 certificate
bodies are flat and v2 lists carry only the array (+ ``instance_num`` for certificates),
docs/api-notes.md §2.1, §3.2, §3.3. Accepted request fields mirror the SDK 3.1.219 request models;
anything else is rejected with 400 so translation bugs surface.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import views
from .db import Record
from .exceptions import EmptyBody, InvalidParameter
from .models import CERT, IMMUTABLE, LB, LISTENER, MEMBER, MONITOR, POOL, Models


@dataclass
class ApiRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    body: bytes
    params: dict[str, str]
    version: str  # "v2" | "v3"
    project_id: str
    request_id: str


Reply = tuple[int, dict[str, Any] | None]
Handler = Callable[[ApiRequest, Models], Reply]

WRAPPER = {
    CERT: "certificate",
    LISTENER: "listener",
    POOL: "pool",
    MEMBER: "member",
    MONITOR: "healthmonitor",
    LB: "loadbalancer",
}
PLURAL = {kind: name + "s" for kind, name in WRAPPER.items()}
ID_PARAM = {
    CERT: "certificate_id",
    LISTENER: "listener_id",
    POOL: "pool_id",
    MEMBER: "member_id",
    MONITOR: "healthmonitor_id",
    LB: "loadbalancer_id",
}


def _f(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CERT_UPDATE_V3 = _f(
    "certificate description name private_key domain enc_certificate enc_private_key "
    "scm_certificate_id source protection_status protection_reason"
)
_LISTENER_UPDATE_V3 = _f(
    "admin_state_up client_ca_tls_container_ref default_pool_id default_tls_container_ref "
    "description http2_enable insert_headers name sni_container_refs sni_match_algo "
    "tls_ciphers_policy security_policy_id enable_member_retry member_timeout client_timeout "
    "keepalive_timeout ipgroup transparent_client_ip_enable proxy_protocol_enable "
    "enhance_l7policy_enable quic_config protection_status protection_reason gzip_enable "
    "ssl_early_data_enable cps connection nat64_enable"
)
_POOL_UPDATE_V3 = _f(
    "admin_state_up description lb_algorithm name session_persistence slow_start "
    "member_deletion_protection_enable vpc_id type protection_status protection_reason "
    "any_port_enable connection_drain pool_health quic_cid_hash_strategy az_affinity"
)
_MONITOR_UPDATE = _f(
    "admin_state_up delay domain_name expected_codes http_method max_retries max_retries_down "
    "monitor_port name timeout url_path type"
)
# (version, kind, "create" | "update") -> accepted body fields (SDK request models).
ACCEPTED: dict[tuple[str, str, str], frozenset[str]] = {
    ("v3", CERT, "create"): _CERT_UPDATE_V3
    | _f("admin_state_up project_id type enterprise_project_id"),
    ("v3", CERT, "update"): _CERT_UPDATE_V3,
    ("v3", LISTENER, "create"): _LISTENER_UPDATE_V3
    | _f("loadbalancer_id project_id protocol protocol_port tags port_ranges"),
    ("v3", LISTENER, "update"): _LISTENER_UPDATE_V3,
    ("v3", POOL, "create"): _POOL_UPDATE_V3
    | _f("listener_id loadbalancer_id project_id protocol ip_version public_border_group")
    | _f("enterprise_project_id"),
    ("v3", POOL, "update"): _POOL_UPDATE_V3,
    ("v3", MEMBER, "create"): _f(
        "address admin_state_up name project_id protocol_port subnet_cidr_id weight "
        "availability_zone"
    ),
    ("v3", MEMBER, "update"): _f("admin_state_up availability_zone name weight protocol_port"),
    ("v3", MEMBER, "batch"): _f(
        "name availability_zone address protocol_port subnet_cidr_id weight"
    ),
    ("v3", MONITOR, "create"): _MONITOR_UPDATE | _f("pool_id project_id"),
    ("v3", MONITOR, "update"): _MONITOR_UPDATE,
    ("v2", CERT, "create"): _f(
        "certificate private_key description domain name admin_state_up type "
        "enterprise_project_id source protection_status protection_reason"
    ),
    ("v2", CERT, "update"): _f(
        "certificate private_key description domain name admin_state_up source "
        "protection_status protection_reason"
    ),
    ("v2", LISTENER, "create"): _f(
        "loadbalancer_id protocol protocol_port tenant_id name description admin_state_up "
        "connection_limit http2_enable default_pool_id default_tls_container_ref "
        "client_ca_tls_container_ref sni_container_refs insert_headers tls_ciphers_policy "
        "protection_status protection_reason"
    ),
    ("v2", LISTENER, "update"): _f(
        "name description connection_limit http2_enable default_pool_id "
        "default_tls_container_ref client_ca_tls_container_ref sni_container_refs "
        "insert_headers tls_ciphers_policy admin_state_up protection_status protection_reason"
    ),
    ("v2", POOL, "create"): _f(
        "protocol lb_algorithm loadbalancer_id listener_id tenant_id name description "
        "admin_state_up session_persistence protection_status protection_reason"
    ),
    ("v2", POOL, "update"): _f(
        "lb_algorithm name description admin_state_up session_persistence protection_status "
        "protection_reason"
    ),
    ("v2", MEMBER, "create"): _f(
        "tenant_id name admin_state_up protocol_port subnet_id address weight"
    ),
    ("v2", MEMBER, "update"): _f("name admin_state_up weight"),
    ("v2", MONITOR, "create"): _MONITOR_UPDATE - {"max_retries_down"} | _f("tenant_id pool_id"),
    ("v2", MONITOR, "update"): _MONITOR_UPDATE - {"max_retries_down"},
}
_IGNORED_INPUT = frozenset({"project_id", "tenant_id"})  # the URL's project wins (§2.3)
_V2_RENAMES = {"subnet_id": "subnet_cidr_id"}


# ----------------------------------------------------------------------------- body parsing


def _json(req: ApiRequest) -> dict[str, Any]:
    if not req.body.strip():
        raise EmptyBody("The request body is empty.")
    try:
        data = json.loads(req.body)
    except ValueError:
        raise InvalidParameter("Invalid parameter: the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise EmptyBody("The request body must be a JSON object.")
    return data


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParameter(f"Invalid parameter: '{name}' must be an object")
    return value


def _clean(req: ApiRequest, kind: str, op: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Reject unknown fields, drop ignored ones, map v2 names to the model vocabulary."""
    accepted = ACCEPTED[(req.version, kind, op)]
    if op == "update":
        accepted |= frozenset(IMMUTABLE.get(kind, ()))  # models.py answers "cannot be updated"
        if req.version == "v2" and kind == MEMBER:
            accepted |= {"subnet_id"}
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in accepted:
            raise InvalidParameter(f"Invalid parameter: unknown field '{name}' in {kind}")
        if name in _IGNORED_INPUT:
            continue
        out[_V2_RENAMES.get(name, name) if req.version == "v2" else name] = value
    return out


def _body_fields(req: ApiRequest, kind: str, op: str) -> dict[str, Any]:
    data = _json(req)
    if req.version == "v2" and kind == CERT:
        return _clean(req, kind, op, data)  # flat v2 certificate bodies (docs/api-notes.md §3.2)
    if WRAPPER[kind] not in data:
        raise InvalidParameter(f"Invalid parameter: body must be {{'{WRAPPER[kind]}': {{...}}}}")
    return _clean(req, kind, op, _object(data[WRAPPER[kind]], WRAPPER[kind]))


# ----------------------------------------------------------------------------- envelopes


def _one(req: ApiRequest, m: Models, kind: str, record: Record, status: int = 200) -> Reply:
    obj = views.render(req.version, kind, m.expand(kind, record))
    if req.version == "v2":
        return status, obj if kind == CERT else {WRAPPER[kind]: obj}
    return status, {"request_id": req.request_id, WRAPPER[kind]: obj}


def _query_values(req: ApiRequest) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in req.query:
        values.setdefault(key, []).append(value)
    return values


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


_PAGING = frozenset({"limit", "marker", "page_reverse"})
_IGNORED_FILTERS = frozenset({"include_recycle_bin", "member_device_id", "member_instance_id"})


def _matches(m: Models, kind: str, item: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    for key, wanted in filters.items():
        if key in _PAGING or key in _IGNORED_FILTERS:
            continue
        if key == "member_address":
            pools = {item["id"]} if kind == POOL else {r["id"] for r in item.get("pools") or []}
            if kind == LISTENER:
                pools = {item.get("default_pool_id")}
            addresses = {x["address"] for x in m.all(MEMBER) if x["pool_id"] in pools}
            if not addresses & set(wanted):
                return False
            continue
        if key == "listener_id" and kind == POOL:  # the binding is the listener's
            if not {ref["id"] for ref in item.get("listeners") or []} & set(wanted):
                return False
            continue
        if key == "tls_container_id":  # v2 listener filter over every certificate ref
            refs = {item.get("default_tls_container_ref"), item.get("client_ca_tls_container_ref")}
            if not (refs | set(item.get("sni_container_refs") or [])) & set(wanted):
                return False
            continue
        if _as_text(item.get(key)) not in wanted:
            return False
    return True


def _paginate(
    req: ApiRequest, ordered_ids: list[str], items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """limit / marker / page_reverse over creation order (docs/api-notes.md §2.9)."""
    query = _query_values(req)
    limit_text = query.get("limit", [""])[-1]
    try:
        limit = int(limit_text) if limit_text else 2000
    except ValueError:
        raise InvalidParameter(f"Invalid parameter: limit {limit_text!r}") from None
    if not 0 <= limit <= 2000:
        raise InvalidParameter("Invalid parameter: limit must be 0-2000")
    limit = limit or 2000  # guess: limit=0 behaves like the default (docs/api-notes.md §9)
    reverse = query.get("page_reverse", ["false"])[-1].lower() == "true"
    if "marker" in query:
        marker = query["marker"][-1]
        if marker not in ordered_ids:
            raise InvalidParameter(f"Invalid parameter: marker {marker!r} does not exist")
        position = {rid: i for i, rid in enumerate(ordered_ids)}
        cut = position[marker]
        if reverse:
            items = [x for x in items if position[x["id"]] < cut]
        else:
            items = [x for x in items if position[x["id"]] > cut]
    return items[-limit:] if reverse else items[:limit]


def _many(
    req: ApiRequest,
    m: Models,
    kind: str,
    records: list[Record],
    fields: Sequence[str] | None = None,
) -> Reply:
    expanded = [m.expand(kind, r) for r in records]
    filters = _query_values(req)
    rendered = []
    for record in expanded:
        wire = (
            views.v3(kind, record, fields)
            if req.version == "v3" and fields
            else views.render(req.version, kind, record)
        )
        if _matches(m, kind, {**record, **wire}, filters):
            rendered.append(wire)
    page = _paginate(req, [r["id"] for r in records], rendered)
    if req.version == "v2":
        body: dict[str, Any] = {PLURAL[kind]: page}
        if kind == CERT:
            body["instance_num"] = len(page)
        return 200, body
    page_info: dict[str, Any] = {"current_count": len(page)}
    if page:
        page_info.update(previous_marker=page[0]["id"], next_marker=page[-1]["id"])
    return 200, {"request_id": req.request_id, "page_info": page_info, PLURAL[kind]: page}


# ----------------------------------------------------------------------------- handlers


def _create(kind: str) -> Handler:
    def handler(req: ApiRequest, m: Models) -> Reply:
        fields = _body_fields(req, kind, "create")
        if kind == CERT:
            record = m.create_certificate(fields)
        elif kind == LISTENER:
            record = m.create_listener(fields, req.version)
        elif kind == POOL:
            record = m.create_pool(fields, req.version)
        elif kind == MEMBER:
            record = m.create_member(req.params["pool_id"], fields, req.version)
        else:
            record = m.create_healthmonitor(fields)
        return _one(req, m, kind, record, status=201)

    return handler


def _show(kind: str) -> Handler:
    def handler(req: ApiRequest, m: Models) -> Reply:
        if kind == MEMBER:
            return _one(req, m, kind, m.get_member(req.params["pool_id"], req.params["member_id"]))
        return _one(req, m, kind, m.get(kind, req.params[ID_PARAM[kind]]))

    return handler


def _update(kind: str) -> Handler:
    def handler(req: ApiRequest, m: Models) -> Reply:
        changes = _body_fields(req, kind, "update")
        rid = req.params[ID_PARAM[kind]]
        if kind == CERT:
            record = m.update_certificate(rid, changes)
        elif kind == LISTENER:
            record = m.update_listener(rid, changes, req.version)
        elif kind == POOL:
            record = m.update_pool(rid, changes)
        elif kind == MEMBER:
            record = m.update_member(req.params["pool_id"], rid, changes)
        else:
            record = m.update_healthmonitor(rid, changes)
        return _one(req, m, kind, record)

    return handler


def _delete(kind: str) -> Handler:
    def handler(req: ApiRequest, m: Models) -> Reply:
        rid = req.params[ID_PARAM[kind]]
        if kind == CERT:
            m.delete_certificate(rid)
        elif kind == LISTENER:
            m.delete_listener(rid)
        elif kind == POOL:
            m.delete_pool(rid)
        elif kind == MEMBER:
            m.delete_member(req.params["pool_id"], rid)
        else:
            m.delete_healthmonitor(rid)
        return 204, None

    return handler


def _list(kind: str) -> Handler:
    def handler(req: ApiRequest, m: Models) -> Reply:
        records = m.all(kind)
        if kind == MEMBER:
            pool_id = req.params["pool_id"]
            m.get(POOL, pool_id)
            records = [r for r in records if r["pool_id"] == pool_id]
        return _many(req, m, kind, records)

    return handler


def list_all_members(req: ApiRequest, m: Models) -> Reply:
    return _many(req, m, MEMBER, m.all(MEMBER), views.ALL_MEMBERS_FIELDS)


def _items(req: ApiRequest) -> list[dict[str, Any]]:
    items = _json(req).get("members")
    if not isinstance(items, list) or not items:
        raise InvalidParameter("Invalid parameter: 'members' must be a non-empty list")
    if len(items) > 200:
        raise InvalidParameter("Invalid parameter: at most 200 members per batch (§2.6)")
    return [_object(item, "members[]") for item in items]


def batch_add_members(req: ApiRequest, m: Models) -> Reply:
    items = [_clean(req, MEMBER, "batch", item) for item in _items(req)]
    results = m.batch_add_members(req.params["pool_id"], items)
    members = []
    for record, status in results:
        wire = views.v3(MEMBER, m.expand(MEMBER, record))
        members.append({**wire, "port_id": None, "ret_status": status})
    return 200, {"request_id": req.request_id, "members": members}


def batch_delete_members(req: ApiRequest, m: Models) -> Reply:
    items = _items(req)
    for item in items:
        unknown = set(item) - {"id", "address", "protocol_port"}
        if unknown:
            raise InvalidParameter(f"Invalid parameter: unknown field '{sorted(unknown)[0]}'")
    results = m.batch_delete_members(req.params["pool_id"], items)
    members = [{"id": rid, "ret_status": status} for rid, status in results]
    return 200, {"request_id": req.request_id, "members": members}


CREATE, SHOW, UPDATE, DELETE, LIST = _create, _show, _update, _delete, _list
