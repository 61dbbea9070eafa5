"""State records: what the stack is made of, keyed by stable names, with the fields we manage.

Owns the vocabulary shared by every stage: record kinds, keys, cloud names, the
ownership marker, and which fields are immutable. Both the desired state (built from
the spec) and the observed state (read from the cloud) are `State` values, so the diff
is plain set algebra over keys. Pure: no I/O, no SDK.

References between records are written as *keys* (``"certificate:web"``), never ids;
the observe stage maps cloud ids back to keys and the apply stage maps keys to ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["certificate", "listener", "pool", "healthmonitor", "member"]
KINDS: tuple[Kind, ...] = ("certificate", "listener", "pool", "healthmonitor", "member")
Flavour = Literal["v3", "v2"]

# Fields whose change forces a replacement (docs/api-notes.md §2.10 mutability summary).
IMMUTABLE: Mapping[Kind, frozenset[str]] = {
    "certificate": frozenset({"type"}),
    "listener": frozenset({"loadbalancer_id", "protocol", "protocol_port"}),
    "pool": frozenset({"listener", "protocol"}),
    "healthmonitor": frozenset({"pool"}),
    "member": frozenset({"pool", "address", "subnet_id"}),
}

# Fields holding a reference to another record (a key in desired state).
REFERENCE_FIELDS: Mapping[Kind, tuple[str, ...]] = {
    "certificate": (),
    "listener": ("default_tls_container_ref", "client_ca_tls_container_ref"),
    "pool": ("listener",),
    "healthmonitor": ("pool",),
    "member": ("pool",),
}

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


def key(kind: Kind, local: str) -> str:
    return f"{kind}:{local}"


def split_key(record_key: str) -> tuple[Kind, str]:
    kind, _, local = record_key.partition(":")
    if kind not in KINDS:
        raise ValueError(f"not a record key: {record_key!r}")
    return kind, local


@dataclass(frozen=True)
class Record:
    """One resource: desired (id None) or observed (id set).

    `fields` are the managed, comparable values. `payload` holds what a create/update
    needs but a plan must never show (PEM text, private keys); it is excluded from
    repr and from every rendering.
    """

    kind: Kind
    key: str
    name: str
    fields: Mapping[str, Any]
    id: str | None = None
    payload: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    parent_id: str | None = None  # observed: the listener of a pool, the pool of a member/monitor

    def references(self) -> Iterator[str]:
        for name in REFERENCE_FIELDS[self.kind]:
            value = self.fields.get(name)
            if isinstance(value, str) and ":" in value:
                yield value


def normal(value: Any) -> Any:
    """A comparable form: lists and tuples alike, dicts without None values, order-free."""
    if isinstance(value, (list, tuple)):
        return tuple(normal(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, normal(v)) for k, v in value.items() if v is not None))
    return value


def changed_fields(want: Record, have: Record) -> list[str]:
    """Fields the desired record carries whose observed value differs (extras are ignored)."""
    return sorted(
        name
        for name, value in want.fields.items()
        if normal(have.fields.get(name)) != normal(value)
    )


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

    records: Mapping[str, Record] = field(default_factory=dict)
    foreign_listeners: tuple[ForeignListener, ...] = ()
    duplicates: tuple[Record, ...] = ()  # owned records that collide on a key (crash leftovers)

    @classmethod
    def of(cls, records: list[Record], **extra: Any) -> State:
        return cls(records={r.key: r for r in records}, **extra)

    def by_kind(self, kind: Kind) -> list[Record]:
        return [r for r in self.records.values() if r.kind == kind]
