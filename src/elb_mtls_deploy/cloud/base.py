"""The cloud seam the reconciler talks to; no SDK types cross it.

It speaks the records' vocabulary (`elb_mtls_deploy.state`): the same field names in both
directions and for both API versions, with references as raw cloud ids. `cloud/wire.py`
is the only place that maps them to and from the API's names:

- a pool's listener is `listener` (first entry of the API's `listeners` list, or None;
  `listener_id` in a create body);
- a member's or health monitor's pool is `pool` (a path parameter for members, `pool_id`
  in a monitor body); a member's subnet is `subnet_id` (v3 calls it `subnet_cidr_id`);
- `client_ca_tls_container_ref` of "" or null is None; `insert_headers` keeps only the
  reported booleans; `session_persistence` drops empty values, or is None when off.

Listed resources carry a few read-only facts records do not compare: a listener's
`default_pool_id`, a pool's `healthmonitor_id`, a certificate's PEM (`certificate`, public)
and `expire_time`. Private keys never come back through this interface.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from elb_mtls_deploy.state import Flavour, Kind


@dataclass(frozen=True)
class LoadBalancerInfo:
    id: str
    name: str
    guaranteed: bool  # True = dedicated (v3), False = shared (v2)
    vip_address: str | None
    public_address: str | None = None
    # None where the API did not report the field (v2, older responses): not checked.
    ip_target_enable: bool | None = None
    l7_flavor_id: str | None = None  # "" = reported as unset: no layer-7 flavour


@dataclass(frozen=True)
class Observed:
    """One resource as listed by the API, in record field names (before ownership)."""

    kind: Kind
    id: str
    name: str
    description: str | None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    """Which resources of one kind `CloudApi.read` lists, by at most one filter:

    - `description`: exactly this description (the stack marker on certificates, pools);
    - `ids`: these resources, owned or not (adopted ones; monitors named by their pool);
    - `within`: the listeners of these load balancers, owned or not (port conflicts), or
      the members of these pools;
    - none: every one in the project (not members: they are listed per pool).

    An empty `ids` or `within` names nothing, and nothing is sent: the SDK would drop an
    empty multi-valued filter and list the whole project."""

    kind: Kind
    description: str | None = None
    ids: Sequence[str] | None = None
    within: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if sum(f is not None for f in (self.description, self.ids, self.within)) > 1:
            raise ValueError("a query takes at most one of description, ids, within")
        if self.kind == "member" and self.within is None:
            raise ValueError("members are read within their pools")
        if self.within is not None and self.kind not in ("listener", "member"):
            raise ValueError(f"a {self.kind} is not read within a parent")

    @property
    def empty(self) -> bool:
        """Whether it names nothing (an empty `ids` or `within`)."""
        return (self.ids is not None and not self.ids) or (
            self.within is not None and not self.within
        )


@dataclass(frozen=True)
class Snapshot:
    """Raw list results, before ownership and key mapping."""

    certificates: tuple[Observed, ...]
    listeners: tuple[Observed, ...]
    pools: tuple[Observed, ...]
    healthmonitors: tuple[Observed, ...]
    members: tuple[Observed, ...]


@dataclass(frozen=True)
class Credentials:
    """AK/SK, project and, for temporary (STS) credentials, the security token. The SK and
    the token are excluded from repr so they can never reach a log line."""

    access_key: str
    secret_key: str = field(repr=False)
    project_id: str
    security_token: str | None = field(default=None, repr=False)


class CloudApi(Protocol):
    """What the reconciler needs from ELB. Implementations translate every SDK exception
    into `elb_mtls_deploy.errors.CloudError` subclasses."""

    @property
    def flavour(self) -> Flavour:
        """Which API version this client speaks."""
        ...

    def find_loadbalancers(
        self, ids: Sequence[str], names: Sequence[str]
    ) -> list[LoadBalancerInfo]:
        """Load balancers matching any of the ids or names (one list call)."""
        ...

    def read(self, query: Query) -> list[Observed]:
        """The resources a query names, in record field names (members carry `pool`)."""
        ...

    def create(
        self,
        kind: Kind,
        name: str,
        description: str | None,
        fields: Mapping[str, Any],
        payload: Mapping[str, str],
    ) -> str:
        """Create one resource; returns its id. `fields` are record fields with references
        resolved to cloud ids."""
        ...

    def update(
        self,
        kind: Kind,
        id: str,
        fields: Mapping[str, Any],
        payload: Mapping[str, str],
        parent_id: str | None,
    ) -> None:
        """Change only the given fields (a None value means "unset", e.g. mutual auth off)."""
        ...

    def delete(self, kind: Kind, id: str, parent_id: str | None) -> None: ...

    def create_members(self, pool_id: str, members: Sequence[Mapping[str, Any]]) -> list[str]:
        """Batch create (v3 batch-add, 200 per call; v2 one by one). Each item has `name`."""
        ...

    def delete_members(self, pool_id: str, ids: Sequence[str]) -> None: ...

    def provisioning_status(self, loadbalancer_id: str) -> str:
        """The load balancer's `provisioning_status` (ACTIVE, PENDING_UPDATE, ...): tells a
        busy load balancer from a real conflict when a 409's wording does not."""
        ...

    def close(self) -> None: ...
