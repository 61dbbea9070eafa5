"""State records: what the stack is made of, keyed by stable names, with the fields we manage.

Owns the vocabulary shared by every stage: record kinds, keys, cloud names, the
ownership marker, and which fields are immutable. Both the desired state (built from
the spec) and the observed state (read from the cloud) are `State` values, so the diff
is plain set algebra over keys. Pure: no I/O, no SDK.

References between records are typed `Ref` values (kind + local name), never ids or
strings to parse; the observe stage maps cloud ids back to refs and the apply stage maps
refs to ids. `str(ref)` is the text form (``certificate:web``) plans, reports and saved
plans show; nothing reads it back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["certificate", "listener", "pool", "healthmonitor", "member"]
KINDS: tuple[Kind, ...] = ("certificate", "listener", "pool", "healthmonitor", "member")
Flavour = Literal["v3", "v2"]


@dataclass(frozen=True)
class KindRules:
    """Everything every stage needs to know about one resource kind, in one row.

    `references`: fields holding another record's key (desired) or id (observed).
    `immutable`: fields whose change forces a replacement (docs/api-notes.md §2.10).
    `parent`: the reference that places a record inside another (members and monitors
    live in a pool; a pool is bound to a listener). `owned_by`: "marker" = the record's
    own name prefix and description mark it as ours; "parent" = it is ours because its
    pool is (monitors and members have no description: docs/api-notes.md §2.6-2.7).
    `rank`: apply order for creates (reverse for deletes).
    """

    kind: Kind
    rank: int
    references: tuple[str, ...] = ()
    immutable: frozenset[str] = frozenset()
    parent: str | None = None
    owned_by: Literal["marker", "parent"] = "marker"
    # field -> the form both sides are compared in (server-filled defaults applied)
    comparable: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)


# Headers the API inserts unless told otherwise (docs/api-notes.md §10.3).
HEADER_DEFAULTS: Mapping[str, bool] = {"X-Forwarded-Host": True}
DEFAULT_PERSISTENCE_MINUTES = 1440  # HTTP/HTTPS pools (docs/api-notes.md §10.3)


def switched_on_headers(value: Any) -> frozenset[str]:
    """The headers a listener inserts: the API's defaults overlaid with what it reports."""
    reported = value if isinstance(value, Mapping) else {}
    merged = {**HEADER_DEFAULTS, **reported}
    return frozenset(name for name, on in merged.items() if on is True)


def persistence_form(value: Any) -> Any:
    """Session persistence as it takes effect: an empty cookie name is no cookie name, the
    timeout is ignored for APP_COOKIE and defaults to 1440 minutes for cookie persistence."""
    if not isinstance(value, Mapping) or not value.get("type"):
        return None
    kind = value["type"]
    form: dict[str, Any] = {"type": kind}
    if kind == "APP_COOKIE":
        form["cookie_name"] = value.get("cookie_name") or None
    else:
        form["persistence_timeout"] = value.get("persistence_timeout") or (
            DEFAULT_PERSISTENCE_MINUTES
        )
    return form


RULES: Mapping[Kind, KindRules] = {
    "certificate": KindRules("certificate", 0, immutable=frozenset({"type"})),
    "listener": KindRules(
        "listener",
        1,
        references=("default_tls_container_ref", "client_ca_tls_container_ref"),
        immutable=frozenset({"loadbalancer_id", "protocol", "protocol_port"}),
        comparable={"insert_headers": switched_on_headers},
    ),
    # A replacement pool of a listener that stays is created unbound and switched in with
    # the listener's `default_pool_id` (one pool per listener: docs/api-notes.md §10.3).
    "pool": KindRules(
        "pool",
        2,
        references=("listener",),
        immutable=frozenset({"listener", "protocol", "loadbalancer_id"}),
        parent="listener",
        comparable={"session_persistence": persistence_form},
    ),
    "healthmonitor": KindRules(
        "healthmonitor",
        3,
        references=("pool",),
        immutable=frozenset({"pool"}),
        parent="pool",
        owned_by="parent",
    ),
    "member": KindRules(
        "member",
        4,
        references=("pool",),
        immutable=frozenset({"pool", "address", "subnet_id"}),
        parent="pool",
        owned_by="parent",
    ),
}

# Views of the table for the stages that need one column.
IMMUTABLE: Mapping[Kind, frozenset[str]] = {k: r.immutable for k, r in RULES.items()}
REFERENCE_FIELDS: Mapping[Kind, tuple[str, ...]] = {k: r.references for k, r in RULES.items()}

MARKER_PREFIX = "managed-by=elb-mtls-deploy;stack="


def marker(stack: str) -> str:
    """The description every owned certificate, listener and pool carries."""
    return f"{MARKER_PREFIX}{stack}"


def cloud_name(stack: str, kind: Kind, local: str) -> str:
    """The cloud name of a record; the stack prefix makes ownership visible in the console."""
    if kind == "healthmonitor":
        return f"{stack}-{local}-hm"
    if kind == "member":
        pool, address, port = local.rsplit(":", 2)
        return f"{stack}-{pool}-{address}-{port}"
    return f"{stack}-{local}"


@dataclass(frozen=True, order=True)
class Ref:
    """A record of this stack: its kind and its local name (the spec's name; for a member
    ``pool:address:port``). Records are keyed by it and reference each other with it."""

    kind: Kind
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    def bundle(self) -> tuple[str, ...]:
        """The certificates a client-CA bundle joins (its local name is "old+new" during a
        rollover: `spec.model.Listener.client_ca_bundle`); one name otherwise."""
        return tuple(self.name.split("+"))

    @classmethod
    def member(cls, pool: str, address: object, port: object) -> Ref:
        return cls("member", f"{pool}:{address}:{port}")

    def member_parts(self) -> tuple[str, str]:
        """(pool, "address:port") of a member ref; an IPv6 address keeps its colons."""
        pool, _, endpoint = self.name.partition(":")
        return pool, endpoint


@dataclass(frozen=True, order=True)
class CloudRef:
    """A reference to a cloud resource no record of this stack stands for (a duplicate's
    parent, a certificate we do not own): kept by id so deletes can still be ordered."""

    id: str

    def __str__(self) -> str:
        return f"id:{self.id}"


Reference = Ref | CloudRef


@dataclass(frozen=True)
class Record:
    """One resource: desired (id None) or observed (id set).

    `fields` are the managed, comparable values. `payload` holds what a create/update
    needs but a plan must never show (PEM text, private keys); it is excluded from
    repr and from every rendering.
    """

    kind: Kind
    key: Ref
    name: str
    fields: Mapping[str, Any]
    id: str | None = None
    payload: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    parent_id: str | None = None  # observed: the listener of a pool, the pool of a member/monitor


def normal(value: Any) -> Any:
    """A comparable form: lists and tuples alike, dicts without None values, order-free."""
    if isinstance(value, (list, tuple)):
        return tuple(normal(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, normal(v)) for k, v in value.items() if v is not None))
    return value


def changed_fields(want: Record, have: Record) -> list[str]:
    """Fields the desired record carries whose observed value differs (extras are ignored).

    Values are compared in the kind's comparable form, so a value the API fills in by
    itself (a default timeout, an empty cookie name, a header on by default) is not drift.
    """
    forms = RULES[want.kind].comparable
    return sorted(
        name
        for name, value in want.fields.items()
        if _form(forms, name, have.fields.get(name)) != _form(forms, name, value)
    )


def forces_replacement(kind: Kind, name: str, old: Any, new: Any) -> bool:
    """Whether changing `name` from `old` to `new` needs a new resource. An unbound pool
    (left by an interrupted switch-over) is bound in place, not replaced."""
    if name not in RULES[kind].immutable:
        return False
    return not (kind == "pool" and name == "listener" and old is None)


def _form(forms: Mapping[str, Callable[[Any], Any]], name: str, value: Any) -> Any:
    form = forms.get(name)
    return normal(form(value) if form is not None else value)


@dataclass(frozen=True)
class ForeignListener:
    """A listener on one of our load balancers that this stack does not own."""

    id: str
    name: str
    loadbalancer_id: str
    protocol_port: int


@dataclass(frozen=True)
class State:
    """A set of records keyed by `Record.key`; plus what else lives on our load balancers."""

    records: Mapping[Ref, Record] = field(default_factory=dict)
    foreign_listeners: tuple[ForeignListener, ...] = ()
    duplicates: tuple[Record, ...] = ()  # owned records that collide on a key (crash leftovers)

    @classmethod
    def of(cls, records: list[Record], **extra: Any) -> State:
        return cls(records={r.key: r for r in records}, **extra)

    def by_kind(self, kind: Kind) -> list[Record]:
        return [r for r in self.records.values() if r.kind == kind]
