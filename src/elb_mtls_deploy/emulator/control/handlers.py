"""Wire in/out for every API route: parse bodies and queries, call models, build envelopes.

No business rules live here (they are in ``models``); this module only knows the two API
versions' envelopes: v3 wraps every body and adds ``request_id`` / ``page_info``; v2
certificate bodies are flat and v2 lists carry only the array (+ ``instance_num`` for
certificates), docs/api-notes.md §2.1, §3.2, §3.3. What differs between resource kinds is one
``Resource`` row each in ``RESOURCES``, read by every handler and by ``routes``. Accepted
request fields mirror the SDK 3.1.219 request models; anything else is rejected with 400 so
translation bugs surface.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .exceptions import EmptyBody, InvalidParameter
from .models import CERT, IMMUTABLE, LB, LISTENER, MEMBER, MONITOR, POOL, Models
from .shapes import ALL_MEMBERS_FIELDS, SHAPES, Shape
from .store import Record


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
Item = dict[str, Any]  # a record and its wire object merged: what list filters look at
Values = Callable[[Item], set[str | None]]


# ----------------------------------------------------------------------------- the kinds


def _listed_pools(item: Item) -> set[str | None]:
    return {ref["id"] for ref in item.get("pools") or []}


def _bound_listeners(item: Item) -> set[str | None]:
    return {ref["id"] for ref in item.get("listeners") or []}  # the binding is the listener's


@dataclass(frozen=True)
class Resource:
    """One resource kind on the wire: where it lives, how it is wrapped, what each verb calls.

    The wire names follow the kind: the object's key is ``certificate``, the list's
    ``certificates``, the path parameter ``certificate_id``. Verbs a kind lacks are None
    (load balancers are read-only here).
    """

    kind: str
    path: str  # the collection under /{version}/{project_id}/elb/
    show: Callable[[Models, ApiRequest, str], Record]
    create: Callable[[Models, ApiRequest, Item], Record] | None = None
    update: Callable[[Models, ApiRequest, str, Item], Record] | None = None
    delete: Callable[[Models, ApiRequest, str], None] | None = None
    v2_flat: bool = False  # v2 bodies are the bare object; v2 lists add instance_num (§3.2)
    in_pool: bool = False  # addressed under its pool: listed per pool_id
    pools_of: Values = _listed_pools  # the pools whose members ?member_address= looks at
    lookups: Mapping[str, Values] = field(default_factory=dict)  # filters not on a field

    @property
    def key(self) -> str:
        return self.kind

    @property
    def list_key(self) -> str:
        return self.kind + "s"

    @property
    def id_param(self) -> str:
        return self.kind + "_id"

    @property
    def shape(self) -> Shape:
        return SHAPES[self.kind]

    def records(self, m: Models, req: ApiRequest) -> list[Record]:
        """What a list answers from, in creation order (a member list: one pool's)."""
        if not self.in_pool:
            return m.all(self.kind)
        pool_id = req.params["pool_id"]
        m.get(POOL, pool_id)
        return [r for r in m.all(self.kind) if r["pool_id"] == pool_id]


RESOURCES: dict[str, Resource] = {
    CERT: Resource(
        CERT,
        "certificates",
        show=lambda m, req, rid: m.get(CERT, rid),
        create=lambda m, req, fields: m.create_certificate(fields),
        update=lambda m, req, rid, changes: m.update_certificate(rid, changes),
        delete=lambda m, req, rid: m.delete_certificate(rid),
        v2_flat=True,
    ),
    LISTENER: Resource(
        LISTENER,
        "listeners",
        show=lambda m, req, rid: m.get(LISTENER, rid),
        create=lambda m, req, fields: m.create_listener(fields, req.version),
        update=lambda m, req, rid, changes: m.update_listener(rid, changes, req.version),
        delete=lambda m, req, rid: m.delete_listener(rid),
        pools_of=lambda item: {item.get("default_pool_id")},
    ),
    POOL: Resource(
        POOL,
        "pools",
        show=lambda m, req, rid: m.get(POOL, rid),
        create=lambda m, req, fields: m.create_pool(fields, req.version),
        update=lambda m, req, rid, changes: m.update_pool(rid, changes),
        delete=lambda m, req, rid: m.delete_pool(rid),
        pools_of=lambda item: {item["id"]},
        lookups={"listener_id": _bound_listeners},
    ),
    MEMBER: Resource(
        MEMBER,
        "pools/{pool_id}/members",
        show=lambda m, req, rid: m.get_member(req.params["pool_id"], rid),
        create=lambda m, req, fields: m.create_member(req.params["pool_id"], fields, req.version),
        update=lambda m, req, rid, changes: m.update_member(req.params["pool_id"], rid, changes),
        delete=lambda m, req, rid: m.delete_member(req.params["pool_id"], rid),
        in_pool=True,
    ),
    MONITOR: Resource(
        MONITOR,
        "healthmonitors",
        show=lambda m, req, rid: m.get(MONITOR, rid),
        create=lambda m, req, fields: m.create_healthmonitor(fields),
        update=lambda m, req, rid, changes: m.update_healthmonitor(rid, changes),
        delete=lambda m, req, rid: m.delete_healthmonitor(rid),
    ),
    LB: Resource(LB, "loadbalancers", show=lambda m, req, rid: m.get(LB, rid)),
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


def _clean(req: ApiRequest, row: Resource, op: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Reject unknown fields, drop ignored ones, map v2 names to the model vocabulary."""
    accepted = ACCEPTED[(req.version, row.kind, op)]
    if op == "update":
        # Immutable fields (under either version's name) pass, so that ``models`` answers
        # "cannot be updated" rather than "unknown field".
        immutable = frozenset(IMMUTABLE.get(row.kind, ()))
        accepted |= immutable
        if req.version == "v2":
            accepted |= {v2 for v2, name in _V2_RENAMES.items() if name in immutable}
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in accepted:
            raise InvalidParameter(f"Invalid parameter: unknown field '{name}' in {row.kind}")
        if name in _IGNORED_INPUT:
            continue
        out[_V2_RENAMES.get(name, name) if req.version == "v2" else name] = value
    return out


def _body_fields(req: ApiRequest, row: Resource, op: str) -> dict[str, Any]:
    data = _json(req)
    if req.version == "v2" and row.v2_flat:
        return _clean(req, row, op, data)  # flat v2 certificate bodies (docs/api-notes.md §3.2)
    if row.key not in data:
        raise InvalidParameter(f"Invalid parameter: body must be {{'{row.key}': {{...}}}}")
    return _clean(req, row, op, _object(data[row.key], row.key))


# ----------------------------------------------------------------------------- envelopes


def _one(req: ApiRequest, m: Models, row: Resource, record: Record, status: int = 200) -> Reply:
    obj = row.shape.render(req.version, m.expand(row.kind, record))
    if req.version == "v2":
        return status, obj if row.v2_flat else {row.key: obj}
    return status, {"request_id": req.request_id, row.key: obj}


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


def _filter_values(m: Models, row: Resource, item: Item, key: str) -> set[str | None]:
    """The item's values for query key ``key``; it matches if one of them is wanted."""
    if key == "member_address":
        pools = row.pools_of(item)
        return {x["address"] for x in m.all(MEMBER) if x["pool_id"] in pools}
    if key == "tls_container_id":  # v2 listener filter over every certificate ref
        refs = {item.get("default_tls_container_ref"), item.get("client_ca_tls_container_ref")}
        return refs | set(item.get("sni_container_refs") or [])
    lookup = row.lookups.get(key)
    return lookup(item) if lookup else {_as_text(item.get(key))}


def _matches(m: Models, row: Resource, item: Item, filters: dict[str, list[str]]) -> bool:
    return all(
        _filter_values(m, row, item, key) & set(wanted)
        for key, wanted in filters.items()
        if key not in _PAGING and key not in _IGNORED_FILTERS
    )


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
    row: Resource,
    records: list[Record],
    fields: Sequence[str] | None = None,
) -> Reply:
    expanded = [m.expand(row.kind, r) for r in records]
    filters = _query_values(req)
    rendered = []
    for record in expanded:
        wire = (
            row.shape.v3(record, fields)
            if req.version == "v3" and fields
            else row.shape.render(req.version, record)
        )
        if _matches(m, row, {**record, **wire}, filters):
            rendered.append(wire)
    page = _paginate(req, [r["id"] for r in records], rendered)
    if req.version == "v2":
        body: dict[str, Any] = {row.list_key: page}
        if row.v2_flat:
            body["instance_num"] = len(page)
        return 200, body
    page_info: dict[str, Any] = {"current_count": len(page)}
    if page:
        page_info.update(previous_marker=page[0]["id"], next_marker=page[-1]["id"])
    return 200, {"request_id": req.request_id, "page_info": page_info, row.list_key: page}


# ----------------------------------------------------------------------------- handlers

Verb = TypeVar("Verb")


def _verb(row: Resource, verb: Verb | None, name: str) -> Verb:
    if verb is None:
        raise ValueError(f"{row.kind} has no {name} (RESOURCES)")  # a routing table bug
    return verb


def create(row: Resource) -> Handler:
    call = _verb(row, row.create, "create")

    def handler(req: ApiRequest, m: Models) -> Reply:
        record = call(m, req, _body_fields(req, row, "create"))
        return _one(req, m, row, record, status=201)

    return handler


def show(row: Resource) -> Handler:
    def handler(req: ApiRequest, m: Models) -> Reply:
        return _one(req, m, row, row.show(m, req, req.params[row.id_param]))

    return handler


def update(row: Resource) -> Handler:
    call = _verb(row, row.update, "update")

    def handler(req: ApiRequest, m: Models) -> Reply:
        changes = _body_fields(req, row, "update")
        return _one(req, m, row, call(m, req, req.params[row.id_param], changes))

    return handler


def delete(row: Resource) -> Handler:
    call = _verb(row, row.delete, "delete")

    def handler(req: ApiRequest, m: Models) -> Reply:
        call(m, req, req.params[row.id_param])
        return 204, None

    return handler


def list_all(row: Resource) -> Handler:
    def handler(req: ApiRequest, m: Models) -> Reply:
        return _many(req, m, row, row.records(m, req))

    return handler


def list_all_members(req: ApiRequest, m: Models) -> Reply:
    return _many(req, m, RESOURCES[MEMBER], m.all(MEMBER), ALL_MEMBERS_FIELDS)


def _items(req: ApiRequest) -> list[dict[str, Any]]:
    items = _json(req).get("members")
    if not isinstance(items, list) or not items:
        raise InvalidParameter("Invalid parameter: 'members' must be a non-empty list")
    if len(items) > 200:
        raise InvalidParameter("Invalid parameter: at most 200 members per batch (§2.6)")
    return [_object(item, "members[]") for item in items]


def batch_add_members(req: ApiRequest, m: Models) -> Reply:
    items = [_clean(req, RESOURCES[MEMBER], "batch", item) for item in _items(req)]
    results = m.batch_add_members(req.params["pool_id"], items)
    members = []
    for record, status in results:
        wire = SHAPES[MEMBER].v3(m.expand(MEMBER, record))
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
