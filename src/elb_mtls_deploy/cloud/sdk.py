"""`CloudApi` over Huawei Cloud's official Python SDK (ELB v3 for dedicated, v2 for shared).

With `translate` (its exception classes), the only code that touches `huaweicloudsdkelb`/
`huaweicloudsdkcore`; both import them lazily (inside functions) so that importing the
CLI stays fast.
Every SDK call runs inside `translate.translating`, so no SDK exception leaves this
module. Request bodies are plain dicts (see `wire`); responses are read from the raw
bytes the SDK keeps (`raw_content`), so field names are the API's own.

Requests per observe (N load balancers, P pools; v3 pages hold `page_size` items):
v3 - one paged call per kind (multi-valued filters chunked by 100 ids); v2 - certificates
1, listeners N (scalar `loadbalancer_id` filter), pools 1, health monitors 1 (unfiltered,
matched here), members P (v2 has no project-wide member list). `find_loadbalancers`: v3 one
call per non-empty filter kind (ids, names), v2 one unfiltered call.
Retries are the reconciler's job: the SDK is built with `retry_times=0`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from elb_mtls_deploy.cloud import wire
from elb_mtls_deploy.cloud.base import Credentials, LoadBalancerInfo, Observed, Query
from elb_mtls_deploy.cloud.credentials import credentials_from_env, endpoint_for_region
from elb_mtls_deploy.cloud.translate import RETRY_AFTER_ATTR, translating
from elb_mtls_deploy.errors import ConflictError, DeployError, NotFoundError, PermanentError
from elb_mtls_deploy.state import Flavour, Kind

__all__ = [
    "SdkCloud",
    "connect",
    "credentials_from_env",
    "endpoint_for_region",
]

MAX_PAGE_SIZE = 2000  # v3 `limit` maximum (docs/api-notes.md §2.9)
FILTER_CHUNK = 100  # ids per multi-valued filter, to keep URLs short
BATCH_MEMBERS = 200  # v3 batch-add / batch-delete maximum (docs/api-notes.md §2.6)

# SDK method nouns: `<verb>_<noun>` on the client, `<Verb><Noun>Request` in the models.
_NOUN: Mapping[Flavour, Mapping[Kind, str]] = {
    "v3": {
        "certificate": "certificate",
        "listener": "listener",
        "pool": "pool",
        "healthmonitor": "health_monitor",
        "member": "member",
    },
    "v2": {
        "certificate": "certificate",
        "listener": "listener",
        "pool": "pool",
        "healthmonitor": "healthmonitor",
        "member": "member",
    },
}
# Creates whose body takes `enterprise_project_id` (SDK 3.1.219 request models); the
# others inherit it from the load balancer.
_TAKES_ENTERPRISE_PROJECT: Mapping[Flavour, frozenset[str]] = {
    "v3": frozenset({"certificate", "pool"}),
    "v2": frozenset({"certificate"}),
}
_ID_PARAM: Mapping[Kind, str] = {
    "certificate": "certificate_id",
    "listener": "listener_id",
    "pool": "pool_id",
    "healthmonitor": "healthmonitor_id",
    "member": "member_id",
}


def connect(
    flavour: Flavour,
    credentials: Credentials,
    endpoint: str,
    *,
    timeout: tuple[float, float] = (10, 60),
    page_size: int = MAX_PAGE_SIZE,
    enterprise_project_id: str | None = None,
) -> SdkCloud:
    """An `SdkCloud` for one API version at one endpoint (`endpoint_for_region` for the cloud).

    Only `with_endpoint` is used, never `with_region`: a region would add a fallback
    endpoint next to a loopback one (docs/api-notes.md §1 item 8). AK, SK and project id are all
    required so that the SDK never asks IAM or the metadata service (§1 items 9-10).
    """
    if not (credentials.access_key and credentials.secret_key and credentials.project_id):
        raise DeployError("connect needs an access key, a secret key and a project id")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig

    if flavour == "v3":
        from huaweicloudsdkelb import v3 as models
    else:
        from huaweicloudsdkelb import v2 as models
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    config.timeout = timeout
    basic = BasicCredentials(credentials.access_key, credentials.secret_key, credentials.project_id)
    if credentials.security_token:  # temporary credentials (docs/api-notes.md §10.1)
        basic = basic.with_security_token(credentials.security_token)
    client = (
        models.ElbClient.new_builder()
        .with_credentials(basic)
        .with_endpoint(endpoint)
        .with_http_config(config)
        .with_exception_handler(_exception_handler())
        .build()
    )
    _silence_sdk_logger(models.ElbClient)
    _disable_transport_retries(client, config)
    return SdkCloud(
        flavour,
        client,
        models,
        endpoint=endpoint,
        secret_key=credentials.secret_key,
        page_size=page_size,
        enterprise_project_id=enterprise_project_id,
    )


def _exception_handler() -> Any:
    """The SDK's handler, plus the `Retry-After` header kept on the exception (for 429)."""
    from huaweicloudsdkcore.exceptions.exception_handler import DefaultExceptionHandler
    from huaweicloudsdkcore.exceptions.exceptions import ServiceResponseException

    class KeepRetryAfter(DefaultExceptionHandler):  # type: ignore[misc]
        def handle_exception(self, request: Any, response: Any) -> None:
            try:
                super().handle_exception(request, response)
            except ServiceResponseException as exc:
                setattr(exc, RETRY_AFTER_ATTR, response.headers.get("Retry-After"))
                raise

    return KeepRetryAfter()


def _silence_sdk_logger(client_cls: Any) -> None:
    # The SDK logs every connection error at ERROR level to a non-propagating logger with
    # no handler, which Python's last-resort handler would print to stderr.
    logger = logging.getLogger(f"HuaweiCloud-SDK-{client_cls.__name__}")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def _disable_transport_retries(client: Any, config: Any) -> None:
    """Remount the session's adapter without urllib3's 429 `status_forcelist`.

    With it, a 429 on GET/PUT/DELETE raises a urllib3 "Max retries exceeded" error that
    loses the body's error code and the `Retry-After` header, even with retry_times=0
    (docs/api-notes.md §1 item 4). Without it, every 429 reaches the exception handler.
    """
    from requests.adapters import HTTPAdapter

    session = getattr(client.get_http_client(), "_session", None)
    if session is None:  # a future SDK layout: keep its behaviour (still translated)
        return
    adapter = HTTPAdapter(
        pool_connections=config.pool_connections, pool_maxsize=config.pool_maxsize, max_retries=0
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(items))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


def _camel(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))


class SdkCloud:
    """`CloudApi` for one flavour; `client` is the SDK's ElbClient, `models` its package."""

    def __init__(
        self,
        flavour: Flavour,
        client: Any,
        models: Any,
        *,
        endpoint: str,
        secret_key: str,
        page_size: int = MAX_PAGE_SIZE,
        enterprise_project_id: str | None = None,
    ) -> None:
        self.flavour: Flavour = flavour
        self.endpoint = endpoint
        self._client = client
        self._models = models
        self._secrets = (secret_key,)
        self._page_size = page_size
        # Users scoped to an enterprise project must name it on list calls (400 ELB.9801)
        # and on the creates that take it (docs/api-notes.md §10.3).
        self._enterprise_project = enterprise_project_id

    def __repr__(self) -> str:
        return f"SdkCloud(flavour={self.flavour!r}, endpoint={self.endpoint!r})"

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        """One SDK call; the parsed JSON response body ({} when empty)."""
        request_class = getattr(self._models, _camel(method) + "Request")
        if self._enterprise_project and method.startswith("list_"):
            accepted = getattr(request_class, "openapi_types", {})
            if "enterprise_project_id" in accepted:
                value = self._enterprise_project
                params["enterprise_project_id"] = [value] if self.flavour == "v3" else value
        request = request_class(**params)
        response = getattr(self._client, method)(request)
        raw = getattr(response, "raw_content", None)
        if not raw:
            return {}  # 204 No Content (deletes)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # e.g. an HTML page from a proxy; raised as an SDK error so it is translated.
            raise _sdk_error(f"the response to {method} is not a JSON object")
        return body

    def _guard(self, operation: str, kind: str, target: str, secrets: Sequence[str] = ()) -> Any:
        return translating(
            operation,
            kind,
            target,
            endpoint=self.endpoint,
            secrets=(*self._secrets, *secrets),
        )

    def _method(self, verb: str, kind: Kind) -> str:
        return f"{verb}_{_NOUN[self.flavour][kind]}"

    def _list(self, method: str, collection: str, **filters: Any) -> list[dict[str, Any]]:
        """All items of a list call: v3 pages by `limit`+`marker` (docs/api-notes.md §2.9)."""
        if self.flavour == "v2":  # v2 lists return everything without `limit` (§3.3)
            return _collection(self._call(method, **filters), collection, method)
        items: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            params = dict(filters, limit=self._page_size)
            if marker:
                params["marker"] = marker
            page = _collection(self._call(method, **params), collection, method)
            items.extend(page)
            if len(page) < self._page_size:
                return items
            last = str(page[-1]["id"])  # the last record's id (= page_info.next_marker)
            if last == marker:
                raise _sdk_error(f"{method} did not advance past marker {marker}")
            marker = last

    def _list_kind(self, kind: Kind, target: str, **filters: Any) -> list[dict[str, Any]]:
        method = f"list_{_NOUN[self.flavour][kind]}s"
        with self._guard("list", wire.COLLECTION[kind], target):
            return self._list(method, wire.COLLECTION[kind], **filters)

    # ------------------------------------------------------------------ reading

    def find_loadbalancers(
        self, ids: Sequence[str], names: Sequence[str]
    ) -> list[LoadBalancerInfo]:
        """v3: one call per non-empty filter kind (the API ANDs different filters); v2: one
        unfiltered call, matched here (v2 filters are single-valued)."""
        if not ids and not names:
            return []
        target = ", ".join([*ids, *names])
        found: dict[str, LoadBalancerInfo] = {}
        with self._guard("list", "load balancers", target):
            if self.flavour == "v3":
                items = []
                for key, values in (("id", ids), ("name", names)):
                    for chunk in _chunks(values, FILTER_CHUNK):
                        items += self._list("list_load_balancers", "loadbalancers", **{key: chunk})
            else:
                items = [
                    item
                    for item in self._list("list_loadbalancers", "loadbalancers")
                    if item.get("id") in ids or item.get("name") in names
                ]
        for item in items:
            found.setdefault(str(item["id"]), wire.loadbalancer(item))
        return list(found.values())

    def provisioning_status(self, loadbalancer_id: str) -> str:
        """One GET of the load balancer (v3 `show_load_balancer`, v2 `show_loadbalancer`)."""
        method = "show_load_balancer" if self.flavour == "v3" else "show_loadbalancer"
        with self._guard("show", "load balancer", loadbalancer_id):
            body = self._call(method, loadbalancer_id=loadbalancer_id)
            item = body.get("loadbalancer")
            status = item.get("provisioning_status") if isinstance(item, Mapping) else None
            if not isinstance(status, str):
                # a junk answer (a proxy's page): translated like any SDK error, so the
                # wait for ACTIVE retries it instead of giving up
                raise _sdk_error(f"the response to {method} has no provisioning_status")
        return status

    def read(self, query: Query) -> list[Observed]:
        """One query's resources (`cloud.base.Query`): a filter the API applies where it
        can take it, otherwise one unfiltered list matched here (v2's scalar filters)."""
        kind = query.kind
        if query.empty:
            return []
        if query.description is not None:
            value: Any = [query.description] if self.flavour == "v3" else query.description
            items = self._list_kind(kind, query.description, description=value)
        elif query.ids is not None:
            items = self._by_ids(kind, query.ids)
        elif kind == "member":
            return self._members(query.within or ())
        elif query.within is not None:
            items = self._listeners_of(query.within)
        else:
            items = self._list_kind(kind, "(all)")
        return [wire.observed(kind, self.flavour, i) for i in items]

    def _listeners_of(self, loadbalancer_ids: Sequence[str]) -> list[dict[str, Any]]:
        """v3: `loadbalancer_id=[...]`; v2's filter is single-valued: one call per LB."""
        items: list[dict[str, Any]] = []
        size = FILTER_CHUNK if self.flavour == "v3" else 1
        for chunk in _chunks(loadbalancer_ids, size):
            value: Any = chunk if self.flavour == "v3" else chunk[0]
            items += self._list_kind("listener", ", ".join(chunk), loadbalancer_id=value)
        return items

    def _by_ids(self, kind: Kind, ids: Sequence[str]) -> list[dict[str, Any]]:
        """v3: `id=[...]` in chunks; v2: one unfiltered call matched here (its `id` filter
        is single-valued)."""
        wanted = set(ids)
        if self.flavour == "v2":
            return [i for i in self._list_kind(kind, "(all)") if i.get("id") in wanted]
        items: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(wanted), FILTER_CHUNK):
            items += self._list_kind(kind, ", ".join(chunk), id=chunk)
        return items

    def private_key(self, certificate_id: str) -> str | None:
        """A server certificate's key, if the API returns it: not when private-key echo is
        off, which shows `*****` (docs/api-notes.md §2.3). Only `deploy import` reads it."""
        method = "show_certificate"
        with self._guard("show", "certificate", certificate_id):
            body = self._call(method, certificate_id=certificate_id)
        item = body.get("certificate") if self.flavour == "v3" else body
        key = item.get("private_key") if isinstance(item, Mapping) else None
        if not isinstance(key, str) or "PRIVATE KEY-----" not in key:
            return None
        return key

    def _members(self, pool_ids: Sequence[str]) -> list[Observed]:
        """v3: project-wide `list_all_members(pool_id=[...])`; v2: `list_members` per pool."""
        if self.flavour == "v3":
            return self._list_members_v3(pool_ids)
        out: list[Observed] = []
        for pool_id in dict.fromkeys(pool_ids):
            try:
                with self._guard("list", "members", f"of pool {pool_id}"):
                    items = self._list("list_members", "members", pool_id=pool_id)
            except NotFoundError:
                items = []  # the pool vanished: it has no members (v3's list agrees)
            out += [wire.observed("member", "v2", i, pool=pool_id) for i in items]
        return out

    def _list_members_v3(self, pool_ids: Sequence[str]) -> list[Observed]:
        out: list[Observed] = []
        for chunk in _chunks(pool_ids, FILTER_CHUNK):
            with self._guard("list", "members", f"of pools {', '.join(chunk)}"):
                items = self._list("list_all_members", "members", pool_id=chunk)
            for item in items:
                pool_id = item.get("pool_id") or (chunk[0] if len(chunk) == 1 else None)
                out.append(wire.observed("member", "v3", item, pool=pool_id))
        return out

    # ------------------------------------------------------------------ writing

    def create(
        self,
        kind: Kind,
        name: str,
        description: str | None,
        fields: Mapping[str, Any],
        payload: Mapping[str, str],
    ) -> str:
        obj = wire.create_object(kind, self.flavour, name, description, fields, payload)
        if self._enterprise_project and kind in _TAKES_ENTERPRISE_PROJECT[self.flavour]:
            obj["enterprise_project_id"] = self._enterprise_project
        params: dict[str, Any] = {"body": wire.wrap(kind, self.flavour, obj)}
        if kind == "member":
            params["pool_id"] = _required(fields.get("pool"), "member create needs its pool")
        with self._guard("create", kind, name, tuple(payload.values())):
            body = self._call(self._method("create", kind), **params)
        created = wire.unwrap(kind, self.flavour, body)
        if not created.get("id"):
            raise PermanentError(f"create {kind} {name} failed: the response carried no id")
        return str(created["id"])

    def update(
        self,
        kind: Kind,
        id: str,
        fields: Mapping[str, Any],
        payload: Mapping[str, str],
        parent_id: str | None,
    ) -> None:
        obj = wire.update_object(kind, self.flavour, fields, payload)
        params = {_ID_PARAM[kind]: id, "body": wire.wrap(kind, self.flavour, obj)}
        if kind == "member":
            params["pool_id"] = _required(parent_id, "member update needs the pool id")
        with self._guard("update", kind, id, tuple(payload.values())):
            self._call(self._method("update", kind), **params)

    def delete(self, kind: Kind, id: str, parent_id: str | None) -> None:
        params = {_ID_PARAM[kind]: id}
        if kind == "member":
            params["pool_id"] = _required(parent_id, "member delete needs the pool id")
        with self._guard("delete", kind, id):
            self._call(self._method("delete", kind), **params)

    def create_members(self, pool_id: str, members: Sequence[Mapping[str, Any]]) -> list[str]:
        """v3: batch-add, 200 per call; "existed" counts as created (a retried create stays
        idempotent). v2: one create per member; a 409 duplicate is resolved to the
        existing member's id. Ids come back in the order of `members`."""
        if self.flavour == "v2":
            return [self._create_member_v2(pool_id, m) for m in members]
        ids: list[str] = []
        for start in range(0, len(members), BATCH_MEMBERS):
            ids += self._batch_add(pool_id, members[start : start + BATCH_MEMBERS])
        return ids

    def _batch_add(self, pool_id: str, members: Sequence[Mapping[str, Any]]) -> list[str]:
        objs = [wire.create_object("member", "v3", str(m["name"]), None, m, {}) for m in members]
        with self._guard("create", "members", f"in pool {pool_id}"):
            body = self._call("batch_create_members", pool_id=pool_id, body={"members": objs})
        by_address = {
            (str(item.get("address")), int(item.get("protocol_port") or 0)): item
            for item in body.get("members") or []
            if item.get("ret_status", "successful") in ("successful", "existed")
        }
        ids = []
        for m in members:
            item = by_address.get((str(m["address"]), int(m["protocol_port"])))
            if not item or not item.get("id"):
                raise PermanentError(
                    f"create member {m['name']} in pool {pool_id} failed: "
                    "the batch response did not report it"
                )
            ids.append(str(item["id"]))
        return ids

    def _create_member_v2(self, pool_id: str, member: Mapping[str, Any]) -> str:
        fields = {**member, "pool": pool_id}
        fields.pop("name", None)
        try:
            return self.create("member", str(member["name"]), None, fields, {})
        except ConflictError as exc:
            if getattr(exc, "busy", False):
                raise
            existing = self._find_member(pool_id, member)
            if existing is None:
                raise
            return existing

    def _find_member(self, pool_id: str, member: Mapping[str, Any]) -> str | None:
        for observed in self.read(Query("member", within=[pool_id])):
            if (observed.fields["address"], observed.fields["protocol_port"]) == (
                member["address"],
                member["protocol_port"],
            ):
                return observed.id
        return None

    def delete_members(self, pool_id: str, ids: Sequence[str]) -> None:
        """v3: batch-delete, 200 per call ("not found" = already gone); v2: one by one, 404
        ignored."""
        if self.flavour == "v2":
            for member_id in ids:
                with contextlib.suppress(NotFoundError):
                    self.delete("member", member_id, pool_id)
            return
        for chunk in _chunks(ids, BATCH_MEMBERS):
            with self._guard("delete", "members", f"in pool {pool_id}"):
                body = self._call(
                    "batch_delete_members",
                    pool_id=pool_id,
                    body={"members": [{"id": member_id} for member_id in chunk]},
                )
            failed = [
                item
                for item in body.get("members") or []
                if item.get("ret_status") not in ("successful", "not found")
            ]
            if failed:
                detail = ", ".join(f"{i.get('id')}: {i.get('ret_status')}" for i in failed)
                raise PermanentError(f"delete members in pool {pool_id} failed: {detail}")

    def close(self) -> None:
        self._client.close()


def _collection(body: Mapping[str, Any], collection: str, method: str) -> list[dict[str, Any]]:
    """The list in a list response; a missing key is an error, never "nothing there"
    (an empty observe would make the reconciler create duplicates)."""
    items = body.get(collection)
    if not isinstance(items, list):
        raise _sdk_error(f"the response to {method} has no '{collection}' list")
    return items


def _sdk_error(message: str) -> Exception:
    from huaweicloudsdkcore.exceptions.exceptions import SdkException

    return SdkException(message)  # type: ignore[no-any-return]


def _required(value: Any, message: str) -> str:
    if not value:
        raise ValueError(message)
    return str(value)
