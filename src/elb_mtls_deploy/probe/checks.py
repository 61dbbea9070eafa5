"""The control-plane probes: one function per behaviour docs/api-notes.md §9 leaves open.

Each builds on the stack made so far (`Context`), asks the API one question, and returns a
`Finding`: what it did, the API's answer, the fields that show the behaviour, the tool's
(and the emulator's, docs/emulator.md) assumption and whether the answer matches it. A
probe never raises for the API's answer; an error while building the stack (the listener
cannot be created) ends the run, and the runner removes what was made.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from elb_mtls_deploy.certinfo import identify
from elb_mtls_deploy.cloud.base import LoadBalancerInfo, Observed, Query
from elb_mtls_deploy.cloud.sdk import SdkCloud
from elb_mtls_deploy.cloud.translate import is_busy
from elb_mtls_deploy.errors import CloudError
from elb_mtls_deploy.probe.material import Material
from elb_mtls_deploy.probe.report import Answer, Finding
from elb_mtls_deploy.probe.stack import Balancer, Scratch, marker, name

T = TypeVar("T")

HEADER_A, HEADER_B = "X-Forwarded-ELB-IP", "X-Forwarded-Host"  # both APIs have both
CLIENTCERT_SWITCH = "X-Forwarded-Clientcert-subjectdn-enable"
FILTER_IDS = (100, 400)  # what the adapter sends at most (sdk.FILTER_CHUNK), and 4x that


@dataclass
class Context:
    lb: Balancer
    info: LoadBalancerInfo
    run_id: str
    material: Material
    port: int
    scratch: Scratch = field(default_factory=Scratch)
    ids: dict[str, str] = field(default_factory=dict)  # role -> id of what was made

    @property
    def cloud(self) -> SdkCloud:
        return self.lb.cloud

    @property
    def flavour(self) -> str:
        return str(self.lb.cloud.flavour)

    @property
    def marker(self) -> str:
        return marker(self.run_id)

    def name(self, role: str) -> str:
        return name(self.run_id, role)

    def listener(self) -> Observed:
        listener_id = self.ids["listener"]
        for item in self.cloud.read(Query("listener", within=[self.lb.id])):
            if item.id == listener_id:
                return item
        raise CloudError(f"the probe listener {listener_id} is no longer listed")

    def update_listener(self, fields: Mapping[str, Any]) -> None:
        listener_id = self.ids["listener"]
        self.lb.change(lambda: self.cloud.update("listener", listener_id, fields, {}, None))


def ask(call: Callable[[], T]) -> tuple[Answer, T | None]:
    """The call's outcome as an `Answer` (and its value): a refusal is data here."""
    try:
        return Answer(True), call()
    except CloudError as exc:
        return Answer(False, exc.status, exc.code, exc.message), None


# --------------------------------------------------------------------- building the stack


def certificate_text(ctx: Context) -> Finding:
    """Upload the server certificate and the client CAs; compare the text that comes back."""
    m = ctx.material
    uploads = {
        "server": ("server", m.server_upload_pem, m.server.key_pem),
        "ca": ("client", m.ca_a.certificate_pem, None),
        "bundle": ("client", m.bundle_pem, None),
    }
    for role, (kind, pem, key) in uploads.items():
        payload = {"certificate": pem, **({"private_key": key} if key else {})}
        ctx.ids[role] = ctx.cloud.create(
            "certificate", ctx.name(role), ctx.marker, {"type": kind}, payload
        )
        ctx.scratch.add("certificate", ctx.ids[role], ctx.name(role))
    returned = {c.id: c for c in ctx.cloud.read(Query("certificate", description=ctx.marker))}
    fields: dict[str, Any] = {}
    same = True
    for role, (_, pem, _) in uploads.items():
        text = str((returned.get(ctx.ids[role]) or _empty()).fields.get("certificate") or "")
        fields[f"{role}_layout"] = layout(pem, text)
        fields[f"{role}_length"] = f"uploaded {len(pem)}, returned {len(text)}"
        same = same and _same_certificates(pem, text)
    kinds = sorted({str(v) for k, v in fields.items() if k.endswith("_layout")})
    return Finding(
        "certificate_text",
        "how the API returns certificate text (newlines kept, removed or doubled)",
        "created a server certificate (leaf + issuer), a CA and a two-CA bundle; listed them",
        "any layout: the tool compares certificates after normalising the PEM (§10.3 row 14)",
        f"{', '.join(kinds)}; same certificates after normalising: {'yes' if same else 'no'}",
        same,
        Answer(True),
        fields,
        consequence="the plan would show every certificate as changed: report this run",
    )


def layout(uploaded: str, returned: str) -> str:
    if not returned:
        return "not returned"
    if returned == uploaded:
        return "kept as uploaded"
    if returned.strip() == uploaded.strip():
        return "kept (surrounding whitespace differs)"
    if "\r\n" in returned:
        return "CRLF line ends"
    if "\\n" in returned:
        return "escaped \\n"
    if "\n\n" in returned and returned.replace("\n\n", "\n").strip() == uploaded.strip():
        return "newlines doubled"
    if "\n" not in returned.strip():
        return "newlines removed"
    return "re-wrapped"


def _same_certificates(uploaded: str, returned: str) -> bool:
    try:
        a, b = identify(uploaded), identify(returned)
    except ValueError:
        return False
    return (a.fingerprint, a.chain) == (b.fingerprint, b.chain)


def _empty() -> Observed:
    return Observed("certificate", "", "", None)


def create_listener(ctx: Context) -> None:
    """The HTTPS listener every later probe uses: server certificate, CA A for mutual TLS."""
    fields = {
        "loadbalancer_id": ctx.lb.id,
        "protocol": "HTTPS" if ctx.info.guaranteed else "TERMINATED_HTTPS",
        "protocol_port": ctx.port,
        "default_tls_container_ref": ctx.ids["server"],
        "client_ca_tls_container_ref": ctx.ids["ca"],
    }
    ctx.ids["listener"] = ctx.lb.change(
        lambda: ctx.cloud.create("listener", ctx.name("listener"), ctx.marker, fields, {})
    )
    ctx.scratch.add("listener", ctx.ids["listener"], ctx.name("listener"))


def pool_binding(ctx: Context) -> Finding:
    """Create the listener's pool with `listener_id`: does that set `default_pool_id`?"""
    fields = {"listener": ctx.ids["listener"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    ctx.ids["pool"] = ctx.lb.change(
        lambda: ctx.cloud.create("pool", ctx.name("pool"), ctx.marker, fields, {})
    )
    ctx.scratch.add("pool", ctx.ids["pool"], ctx.name("pool"))
    default = ctx.listener().fields.get("default_pool_id")
    bound = default == ctx.ids["pool"]
    return Finding(
        "pool_binding",
        "whether CreatePool with listener_id sets the listener's default_pool_id",
        "created a pool with listener_id; read the listener",
        "yes (the emulator, like Octavia; docs/api-notes.md §9)",
        f"default_pool_id is {'the new pool' if bound else repr(default)}",
        bound,
        Answer(True),
        {"default_pool_id": default, "pool_id": ctx.ids["pool"]},
        consequence="the emulator's binding rule and §9 are to be corrected (apply reads "
        "the listener's default_pool_id, so it is not misled)",
    )


# ------------------------------------------------------------------------------ probes


def second_pool(ctx: Context) -> Finding:
    fields = {"listener": ctx.ids["listener"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    answer, made = ask(
        lambda: ctx.lb.change(
            lambda: ctx.cloud.create("pool", ctx.name("pool-2"), ctx.marker, fields, {})
        )
    )
    if made:
        ctx.scratch.add("pool", made, ctx.name("pool-2"))
    refused = not answer.ok and answer.status == 409
    return Finding(
        "second_pool",
        "the answer to a second CreatePool with listener_id on a listener that has a pool",
        "created a second pool with the same listener_id",
        "refused with 409 (CreatePool: the listener must have no pool; emulator: 409)",
        answer.label,
        refused,
        answer,
        {"created_pool": made} if made else {},
        consequence="none for apply (a replacement pool is created with loadbalancer_id "
        "only, §10.3 row 7); the emulator's status is to be corrected",
    )


def busy(ctx: Context) -> Finding:
    """Two back-to-back changes of the listener (renames) and the status in between."""
    ctx.lb.settle()
    listener_id = ctx.ids["listener"]
    first, _ = ask(
        lambda: ctx.cloud.update(
            "listener", listener_id, {"name": ctx.name("listener-b")}, {}, None
        )
    )
    status = ctx.lb.status()
    second, _ = ask(
        lambda: ctx.cloud.update("listener", listener_id, {"name": ctx.name("listener")}, {}, None)
    )
    fields = {"first_change": first.label, "provisioning_status_after_first": status}
    if not first.ok:
        return Finding(
            "busy", _BUSY_Q, _BUSY_DID, _BUSY_ASSUMED, f"the first change was {first.label}",
            False, first, fields, consequence="report this run: a rename was refused",
        )  # fmt: skip
    if second.ok:
        observed = f"no busy answer: {status} after a change, the second change accepted"
        match = status == "ACTIVE"
        consequence = "harmless: the tool waits for ACTIVE before every change anyway"
    else:
        worded = is_busy(second.status, second.message or "")
        observed = f"second change {second.label}; busy wording recognised: {worded}"
        match = worded
        consequence = (
            "the tool would report a busy load balancer as a conflict; it waits for ACTIVE "
            "before each of its own changes, so only other writers' changes meet this answer"
        )
    return Finding(
        "busy", _BUSY_Q, _BUSY_DID, _BUSY_ASSUMED, observed, match, second, fields,
        consequence=consequence,
    )  # fmt: skip


_BUSY_Q = "the real 'load balancer busy' answer, and provisioning_status right after a change"
_BUSY_DID = "renamed the listener twice back to back, reading provisioning_status in between"
_BUSY_ASSUMED = (
    "a change while the load balancer is not ACTIVE is refused 409 with wording such as "
    "'not ACTIVE'/'PENDING_UPDATE'/'busy' (never decided by code); emulator: 409 ELB.8908"
)


def insert_headers(ctx: Context) -> Finding:
    ctx.update_listener({"insert_headers": {HEADER_A: True}})
    before = ctx.listener().fields.get("insert_headers") or {}
    answer, _ = ask(lambda: ctx.update_listener({"insert_headers": {HEADER_B: True}}))
    after = ctx.listener().fields.get("insert_headers") or {}
    fields = {
        f"{HEADER_A} after A on": before.get(HEADER_A),
        f"{HEADER_A} after B only": after.get(HEADER_A),
    }
    if before.get(HEADER_A) is not True or not answer.ok:
        observed, match = "could not set up the question (A not on, or the update refused)", False
    else:
        merged = after.get(HEADER_A) is True
        observed, match = ("merges (A still on)" if merged else "replaces (A off)"), merged
    return Finding(
        "insert_headers",
        "whether an insert_headers update replaces or merges the stored switches",
        f"switched {HEADER_A} on, then updated with only {HEADER_B}: true",
        "unverified; the emulator merges; the tool sends every managed switch explicitly, "
        "so its result is right either way (§10.3 row 5)",
        observed,
        match,
        answer,
        fields,
        consequence="none for apply; the emulator's merge rule and §10.2 are to be corrected",
    )


def clientcert_headers(ctx: Context) -> Finding:
    question = "whether the client-certificate headers are accepted for this account"
    if ctx.flavour == "v2":
        return _skip("clientcert_headers", question, "the v2 API has no client-certificate "
                     "headers (SDK v2/model/insert_header.py)")  # fmt: skip
    answer, _ = ask(lambda: ctx.update_listener({"insert_headers": {CLIENTCERT_SWITCH: True}}))
    on = (ctx.listener().fields.get("insert_headers") or {}).get(CLIENTCERT_SWITCH)
    match = answer.ok and on is True
    return Finding(
        "clientcert_headers",
        question,
        f"updated the listener with {CLIENTCERT_SWITCH}: true; read it back",
        "accepted and reported on (the emulator); some regions need a service ticket",
        f"{answer.label}; reported on: {on}",
        match,
        answer,
        {"reported": on},
        consequence="a spec with client_cert_* headers fails at the listener on this account: "
        "switch them off in the spec or ask Huawei to enable the feature",
    )


def ca_unbind(ctx: Context) -> Finding:
    answer, _ = ask(lambda: ctx.update_listener({"client_ca_tls_container_ref": None}))
    bound = ctx.listener().fields.get("client_ca_tls_container_ref")
    match = answer.ok and bound is None
    return Finding(
        "ca_unbind",
        f'whether client_ca_tls_container_ref: "" unbinds the CA ({ctx.flavour})',
        f'updated the listener with client_ca_tls_container_ref "" through {ctx.flavour}',
        "the CA is unbound (mutual TLS off); apply re-reads and fails loudly if not (§10.3 row 12)",
        f"{answer.label}; CA after: {'unbound' if bound is None else 'still bound'}",
        match,
        answer,
        {"client_ca_tls_container_ref_after": bound},
        consequence=f"switching mutual TLS off through {ctx.flavour} fails the apply with "
        "'CA still bound'; do it in the console",
    )


def filter_url_length(ctx: Context) -> Finding:
    question = "the URL length limit for multi-valued filters"
    if ctx.flavour == "v2":
        return _skip("filter_url_length", question,
                     "v2 filters are single-valued: the tool sends one id per call")  # fmt: skip
    answers: dict[int, Answer] = {}
    for count in FILTER_IDS:
        ids = [str(uuid.uuid4()) for _ in range(count)]
        answers[count] = _list_by_ids(ctx, ids)
    small, large = (answers[c] for c in FILTER_IDS)
    return Finding(
        "filter_url_length",
        question,
        f"listed listeners with id=<{FILTER_IDS[0]} random ids> and id=<{FILTER_IDS[1]} ids> "
        "(about 4 KB and 16 KB of query)",
        f"{FILTER_IDS[0]} ids per call work (the adapter never sends more)",
        f"{FILTER_IDS[0]} ids: {small.label}; {FILTER_IDS[1]} ids: {large.label}",
        small.ok,
        small,
        {f"{c}_ids": a.message or a.label for c, a in answers.items()},
        consequence="lists fail on this account: the adapter's FILTER_CHUNK must be lowered",
    )


def _list_by_ids(ctx: Context, ids: list[str]) -> Answer:
    # One call, unchunked: the adapter's paged list with a raw `id` filter.
    answer, _ = ask(lambda: ctx.cloud._list_kind("listener", f"{len(ids)} ids", id=ids))
    return answer


def _skip(probe: str, question: str, reason: str) -> Finding:
    return Finding(probe, question, "nothing", "-", f"skipped: {reason}", None, skipped=reason)
