"""Adoption: cloud resources made outside the tool, described as a spec and taken over.

Two pure halves. `describe` turns what `deploy import` read (an `Inventory`) into a spec
document, the certificate files to write next to it and the refusals; the rest serves the
reconciler: the spec's `adopt:` ids become record keys (`adoption`), and the desired
records of adopted resources ask for the stack's name and marker (`mark_adopted`), so the
plan shows in-place renames, never a create or delete (docs/import.md). No I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from elb_mtls_deploy.cloud.base import LoadBalancerInfo, Observed
from elb_mtls_deploy.errors import SpecError
from elb_mtls_deploy.spec.model import INSERT_HEADER_KEYS, Spec
from elb_mtls_deploy.state import (
    MARKER_PREFIX,
    Kind,
    Ref,
    State,
    marker,
    switched_on_headers,
)

# --- the reconciler's side -------------------------------------------------------------


def adoption(spec: Spec) -> dict[str, Ref]:
    """Cloud id -> record ref of everything the spec adopts (monitors and members come
    along with their pool, so they are not listed)."""
    adopt = spec.adopt
    found: dict[str, Ref] = {}
    groups: list[tuple[Kind, Mapping[str, str]]] = [
        ("certificate", {n: c.id for n, c in adopt.certificates.items()}),
        ("listener", adopt.listeners),
        ("pool", adopt.pools),
    ]
    for kind, entries in groups:
        for name, cloud_id in entries.items():
            if cloud_id in found:
                raise SpecError(
                    f"adopt: id {cloud_id} is adopted twice ({found[cloud_id]} and {kind}:{name})",
                    hint="each cloud resource is adopted by one entry",
                )
            found[cloud_id] = Ref(kind, name)
    return found


def adopted_ids(spec: Spec) -> dict[Kind, list[str]]:
    """The ids `snapshot.take` reads by id, per kind (adopted ones have no marker yet)."""
    return {
        "certificate": sorted(c.id for c in spec.adopt.certificates.values()),
        "pool": sorted(spec.adopt.pools.values()),
    }


def mark_adopted(desired: State, spec: Spec) -> State:
    """Desired records of adopted resources also ask for the stack's name and marker
    (monitors and members of an adopted pool for their name): the only drift adoption
    shows. Once applied they compare equal, so the `adopt:` entries may stay."""
    keys = set(adoption(spec).values())
    if not keys:
        return desired
    records = dict(desired.records)
    for record_key, record in desired.records.items():
        extra: dict[str, Any] = {}
        if record_key in keys:
            extra = {"name": record.name, "description": marker(spec.stack)}
        elif record.kind in ("member", "healthmonitor") and record.fields.get("pool") in keys:
            extra = {"name": record.name}
        if extra:
            records[record_key] = replace(record, fields={**record.fields, **extra})
    return replace(desired, records=records)


def adoption_conflicts(spec: Spec, desired: State, observed: State) -> list[str]:
    """What makes an adoption unsafe to apply: an adopted resource the spec still uses that
    is gone (apply would create a new one instead), or one another stack has marked since
    the import. One the spec no longer uses (a CA rolled over) may be gone."""
    problems = []
    for cloud_id, record_key in sorted(adoption(spec).items(), key=lambda item: item[1]):
        have = observed.records.get(record_key)
        kind, name = record_key.kind, record_key.name
        if have is None and record_key in desired.records:
            problems.append(
                f"adopt: {kind} {name} (id {cloud_id}) is not in the cloud; remove the entry "
                "from 'adopt' (and the resource from the spec if it should not be created)"
            )
            continue
        if have is None:
            continue
        description = have.fields.get("description")
        if (
            have.id == cloud_id
            and isinstance(description, str)
            and description.startswith(MARKER_PREFIX)
            and description != marker(spec.stack)
        ):
            problems.append(
                f"adopt: {kind} {name} (id {cloud_id}) is owned by another stack "
                f"({description}); it cannot be adopted"
            )
    return problems


# --- `deploy import`: what was read, and the refusals ---------------------------------


@dataclass(frozen=True)
class Inventory:
    """What `deploy import` read: the load balancer, the listeners to adopt, every listener
    of the project (to see who else uses a certificate), and the referenced resources."""

    loadbalancer: LoadBalancerInfo
    flavour: str
    listeners: tuple[Observed, ...]
    all_listeners: tuple[Observed, ...]
    certificates: Mapping[str, Observed]
    pools: Mapping[str, Observed]
    healthmonitors: Mapping[str, Observed]
    members: Mapping[str, tuple[Observed, ...]]  # pool id -> members
    private_keys: Mapping[str, str] = field(default_factory=dict, repr=False)


class ImportRefused(SpecError):
    """The resources cannot be adopted safely; nothing was written."""


HTTPS = ("HTTPS", "TERMINATED_HTTPS")


def choose_listeners(
    on_lb: Sequence[Observed], wanted: Sequence[str], lb: LoadBalancerInfo
) -> list[Observed]:
    """The HTTPS listeners to import: all of the load balancer's, or the `--listener` ids
    (each must be an HTTPS listener of this load balancer)."""
    if not wanted:
        chosen = [item for item in on_lb if item.fields.get("protocol") in HTTPS]
        if not chosen:
            raise ImportRefused(
                f"load balancer {lb.name or lb.id} has no HTTPS listener to import",
                hint="create the HTTPS listener first, or import another load balancer",
            )
        return sorted(chosen, key=lambda item: int(item.fields.get("protocol_port") or 0))
    by_id = {item.id: item for item in on_lb}
    chosen = []
    for listener_id in dict.fromkeys(wanted):
        item = by_id.get(listener_id)
        if item is None:
            raise ImportRefused(
                f"listener {listener_id} is not on load balancer {lb.name or lb.id}; one "
                "import covers one load balancer",
                hint="import the listeners of each load balancer into a spec of its own",
            )
        if item.fields.get("protocol") not in HTTPS:
            raise ImportRefused(
                f"listener {listener_id} is {item.fields.get('protocol')}, not HTTPS",
                hint="import only HTTPS listeners",
            )
        chosen.append(item)
    return chosen


Refusal = tuple[str, str]  # (what is wrong, how to fix it)


def refusals(inventory: Inventory, stack: str) -> Iterator[Refusal]:
    """Why these resources cannot be adopted safely, first reason first, each with its fix."""
    lb = inventory.loadbalancer
    ids = {item.id for item in inventory.listeners}
    for item in inventory.listeners:
        yield from _owner_problem("listener", item, stack)
        pool = inventory.pools.get(str(item.fields.get("default_pool_id") or ""))
        if pool is not None:
            yield from _owner_problem("pool", pool, stack)
            pool_lb = pool.fields.get("loadbalancer_id")
            if pool_lb and pool_lb != lb.id:
                yield (
                    f"pool {pool.name or pool.id} of listener {item.name or item.id} is on load "
                    f"balancer {pool_lb}, not {lb.id}: the resources span several load balancers",
                    "import the listeners of each load balancer into a spec of its own",
                )
    for cert in inventory.certificates.values():
        yield from _owner_problem("certificate", cert, stack)
        users = sorted(
            f"{other.name or other.id} ({other.id})"
            for other in inventory.all_listeners
            if other.id not in ids and cert.id in _cert_refs(other)
        )
        if users:
            yield (
                f"certificate {cert.name or cert.id} ({cert.id}) is also used by listener(s) "
                f"{', '.join(users)} outside this import; adopting it would let this stack "
                "change them",
                "import those listeners too (`--listener`, same load balancer), or give them "
                "their own copy of the certificate first",
            )


def _owner_problem(kind: str, item: Observed, stack: str) -> Iterator[Refusal]:
    description = item.description or ""
    if description.startswith(MARKER_PREFIX):
        owner = description[len(MARKER_PREFIX) :]
        if owner == stack:
            yield (
                f"{kind} {item.name or item.id} ({item.id}) is already owned by stack {stack!r}",
                "it needs no import: describe it in that stack's spec",
            )
        else:
            yield (
                f"{kind} {item.name or item.id} ({item.id}) is owned by stack {owner!r} "
                f"({description})",
                f"leave it to stack {owner!r} (`deploy destroy` of that stack releases it), or "
                "import only the other listeners (`--listener`)",
            )


def _cert_refs(listener: Observed) -> set[str]:
    refs = ("default_tls_container_ref", "client_ca_tls_container_ref")
    found = {str(listener.fields[r]) for r in refs if listener.fields.get(r)}
    found.update(str(x) for x in listener.fields.get("sni_container_refs") or ())
    return found


# --- `deploy import`: the spec document ------------------------------------------------


@dataclass(frozen=True)
class CertFile:
    """A file to write next to the spec: a certificate PEM, or a private key (0600)."""

    path: str  # relative to the spec's directory
    text: str = field(repr=False)
    secret: bool = False


@dataclass(frozen=True)
class Described:
    text: str  # the spec, commented
    files: tuple[CertFile, ...]
    notes: tuple[str, ...]  # what the user must know (values the spec cannot express, ...)


_NAME_BAD = re.compile(r"[^a-z0-9-]+")


def local_name(name: str, fallback: str, taken: set[str]) -> str:
    """A spec name (lower case, digits, '-') from a console name; unique within `taken`."""
    base = _NAME_BAD.sub("-", name.lower()).strip("-")[:40].strip("-") or fallback
    if not base[0].isalnum():
        base = f"x{base}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def describe(inventory: Inventory, stack: str, target: Mapping[str, Any]) -> Described:
    """The spec of the inventory as it is, with `adopt:` ids, and the files it names."""
    names: dict[str, str] = {}  # certificate id -> spec name
    taken: set[str] = set()
    roles: dict[str, str] = {}
    for item in inventory.listeners:
        for ref, role in (
            ("default_tls_container_ref", "server"),
            ("client_ca_tls_container_ref", "ca"),
        ):
            cert_id = item.fields.get(ref)
            if not cert_id:
                continue
            cert = inventory.certificates[str(cert_id)]
            if roles.setdefault(cert.id, role) != role:
                raise ImportRefused(
                    f"certificate {cert.name or cert.id} is used both as a server certificate "
                    "and as a client CA",
                    hint="give the listeners separate certificates first",
                )
            if cert.id not in names:
                names[cert.id] = local_name(cert.name, role, taken)
    notes: list[str] = []
    files: list[CertFile] = []
    cas, servers = [], []
    for cert_id, name in names.items():
        cert = inventory.certificates[cert_id]
        pem = str(cert.fields.get("certificate") or "")
        files.append(CertFile(f"imported/{name}.crt", pem if pem.endswith("\n") else pem + "\n"))
        if roles[cert_id] == "ca":
            cas.append((name, cert))
            continue
        key_pem = inventory.private_keys.get(cert_id)
        if key_pem is not None:
            files.append(CertFile(f"imported/{name}.key", key_pem, secret=True))
        else:
            notes.append(
                f"certificate {name}: the API does not return its private key (private-key echo "
                f"is off); copy the key to imported/{name}.key (mode 0600) before `deploy validate`"
            )
        servers.append((name, cert))
    listener_names: set[str] = set()
    pool_names: set[str] = set()
    blocks: list[str] = []
    adopt_listeners: dict[str, str] = {}
    adopt_pools: dict[str, str] = {}
    for item in inventory.listeners:
        lname = local_name(item.name, f"https-{item.fields.get('protocol_port')}", listener_names)
        adopt_listeners[lname] = item.id
        pool = inventory.pools.get(str(item.fields.get("default_pool_id") or ""))
        pname = None
        if pool is not None:
            pname = local_name(pool.name, lname, pool_names | listener_names - {lname})
            pool_names.add(pname)
            adopt_pools[pname] = pool.id
        else:
            notes.append(
                f"listener {lname} has no default pool; the spec gives it an empty one, which "
                "apply creates (review the plan)"
            )
        blocks.append(_listener_block(inventory, item, lname, pool, pname, names, notes))
    text = _document(stack, target, inventory, cas, servers, blocks, names,
                     adopt_listeners, adopt_pools)  # fmt: skip
    return Described(text, tuple(files), tuple(notes))


def _document(
    stack: str,
    target: Mapping[str, Any],
    inventory: Inventory,
    cas: list[tuple[str, Observed]],
    servers: list[tuple[str, Observed]],
    blocks: list[str],
    names: Mapping[str, str],
    adopt_listeners: Mapping[str, str],
    adopt_pools: Mapping[str, str],
) -> str:
    from elb_mtls_deploy.certinfo import identify

    lb = inventory.loadbalancer
    lines = [
        f"# Written by `deploy import` from load balancer {lb.name or lb.id} ({lb.id}):",
        "# the listeners, certificates, pools, health monitors and members as they are.",
        "# `deploy plan` of this file renames them to '<stack>-...' and marks them as owned",
        "# (in place: same ids, no create or delete); review it, then `deploy apply`.",
        "# Then rotate the console-made certificates in place: docs/import.md.",
        "version: 1",
        f"stack: {stack}",
        "",
        "target:",
        *(f"  {k}: {_scalar(v)}" for k, v in target.items()),
        "",
        "certificates:",
    ]
    if cas:
        lines.append("  cas:")
        for name, cert in cas:
            lines += [
                f"    - name: {name}            # {cert.name or '(no name)'} ({cert.id})",
                "      import:",
                f"        certificate: imported/{name}.crt",
            ]
    if servers:
        lines.append("  servers:")
        for name, cert in servers:
            lines += [
                f"    - name: {name}            # {cert.name or '(no name)'} ({cert.id})",
                "      import:",
                f"        certificate: imported/{name}.crt   # leaf first, then its chain",
                f"        key: {{file: imported/{name}.key}}",
            ]
    lines += ["", "listeners:", *blocks, ""]
    lines += [
        "# What this stack takes over, by cloud id (docs/import.md). The entries may stay",
        "# after apply; a certificate's lint errors are warnings only while its file still",
        "# holds the adopted certificate (sha256), so a replacement is linted in full.",
        "adopt:",
        "  certificates:",
    ]
    for cert_id, name in names.items():
        cert = inventory.certificates[cert_id]
        digest = identify(str(cert.fields.get("certificate") or "")).fingerprint
        lines.append(f"    {name}: {{id: {cert_id}, sha256: {digest}}}")
    lines.append("  listeners:")
    lines += [f"    {name}: {cloud_id}" for name, cloud_id in adopt_listeners.items()]
    lines.append("  pools:" + ("" if adopt_pools else " {}"))
    lines += [f"    {name}: {cloud_id}" for name, cloud_id in adopt_pools.items()]
    return "\n".join(lines) + "\n"


def _listener_block(
    inventory: Inventory,
    item: Observed,
    name: str,
    pool: Observed | None,
    pool_name: str | None,
    cert_names: Mapping[str, str],
    notes: list[str],
) -> str:
    f = item.fields
    lb = inventory.loadbalancer
    server = cert_names[str(f.get("default_tls_container_ref"))]
    ca_id = f.get("client_ca_tls_container_ref")
    lines = [
        f"  - name: {name}                # {item.name or '(no name)'} ({item.id})",
        f"    loadbalancer: {{id: {lb.id}}}   # {lb.name}",
        f"    port: {f.get('protocol_port')}",
        f"    server_certificate: {server}",
    ]
    if ca_id:
        lines.append(f"    client_ca: {cert_names[str(ca_id)]}          # two-way authentication")
    policy = f.get("tls_ciphers_policy")
    if policy:
        lines.append(f"    tls_policy: {policy}")
    if f.get("http2_enable"):
        lines.append("    http2: true")
    if inventory.flavour == "v3":
        for spec_name, api_name in (
            ("idle_timeout", "keepalive_timeout"),
            ("client_timeout", "client_timeout"),
            ("member_timeout", "member_timeout"),
        ):
            if f.get(api_name) is not None:
                lines.append(f"    {spec_name}: {f.get(api_name)}")
    lines += _headers(f.get("insert_headers"))
    if f.get("security_policy_id"):
        notes.append(
            f"listener {name}: custom security policy {f['security_policy_id']} is attached; "
            "the spec cannot express it (it overrides tls_policy)"
        )
    lines.append("    pool:")
    if pool is None:
        lines.append("      members: []")
        return "\n".join(lines)
    pf = pool.fields
    if pool_name != name:
        lines.append(f"      name: {pool_name}            # {pool.name or '(no name)'} ({pool.id})")
    else:
        lines.append(f"      # {pool.name or '(no name)'} ({pool.id})")
    lines += [f"      algorithm: {pf.get('lb_algorithm')}", f"      protocol: {pf.get('protocol')}"]
    lines += _persistence(pf.get("session_persistence"), name, notes)
    monitor = inventory.healthmonitors.get(str(pf.get("healthmonitor_id") or ""))
    if monitor is not None:
        lines += _monitor(monitor)
    members = inventory.members.get(pool.id, ())
    lines.append("      members:" + ("" if members else " []"))
    for member in sorted(members, key=lambda m: (str(m.fields.get("address")), m.id)):
        mf = member.fields
        subnet = f", subnet_id: {mf['subnet_id']}" if mf.get("subnet_id") else ""
        lines.append(
            f"        - {{address: {mf.get('address')}, port: {mf.get('protocol_port')}, "
            f"weight: {mf.get('weight')}{subnet}}}   # {member.name or '(no name)'} ({member.id})"
        )
    return "\n".join(lines)


def _headers(value: Any) -> list[str]:
    on = switched_on_headers(value)
    lines = ["    insert_headers:"]
    for spec_name, api_name in INSERT_HEADER_KEYS.items():
        default = spec_name == "forwarded_host"
        if (api_name in on) != default:
            lines.append(f"      {spec_name}: {'true' if api_name in on else 'false'}")
    return lines if len(lines) > 1 else []


def _persistence(value: Any, listener: str, notes: list[str]) -> list[str]:
    if not isinstance(value, Mapping) or not value.get("type"):
        return []
    kind = value["type"]
    if kind == "SOURCE_IP":
        notes.append(
            f"listener {listener}: SOURCE_IP persistence has no effect on HTTP/HTTPS pools "
            "and the spec cannot express it; it is left out (the plan shows it switched off)"
        )
        return []
    if kind == "APP_COOKIE":
        cookie = json.dumps(str(value.get("cookie_name")))
        return [f"      session_persistence: {{type: APP_COOKIE, cookie_name: {cookie}}}"]
    timeout = value.get("persistence_timeout")
    extra = f", timeout_minutes: {timeout}" if timeout else ""
    return [f"      session_persistence: {{type: {kind}{extra}}}"]


def _monitor(monitor: Observed) -> list[str]:
    f = monitor.fields
    parts = [f"type: {f.get('type')}"]
    for name in ("delay", "timeout", "max_retries", "monitor_port"):
        if f.get(name) is not None:
            parts.append(f"{name}: {f.get(name)}")
    if f.get("type") != "TCP":
        for name in ("url_path", "expected_codes", "http_method"):
            if f.get(name) is not None:
                parts.append(f"{name}: {json.dumps(str(f.get(name)))}")
    return [f"      health_monitor: {{{', '.join(parts)}}}   # {monitor.name or '(no name)'}"]


def _scalar(value: Any) -> str:
    """A YAML scalar: quoted when plain YAML would read it differently."""
    text = str(value)
    plain = re.fullmatch(r"[A-Za-z_./][A-Za-z0-9_./-]*", text)
    if plain and text.lower() not in ("true", "false", "null", "yes", "no", "on", "off"):
        return text
    return json.dumps(text)
