"""The stages wired together: load -> certs -> connect -> observe -> diff -> apply.

Owns the impure sequencing the CLI calls (it never prints: progress goes through
callbacks) and the choice of where the cloud is: the real Huawei Cloud, a `deploy
emulator serve` already running over the spec's state directory, or an emulator started
in-process for the duration of the command.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elb_mtls_deploy.adopt import adopted_ids, adoption, adoption_conflicts, mark_adopted
from elb_mtls_deploy.cloud import snapshot
from elb_mtls_deploy.cloud.base import CloudApi, Credentials, LoadBalancerInfo
from elb_mtls_deploy.desired import UploadCert, build_desired, is_known_after_apply
from elb_mtls_deploy.diff import diff
from elb_mtls_deploy.errors import DeployError, PlanError, SpecError
from elb_mtls_deploy.observe import digest_source, to_state
from elb_mtls_deploy.plan import Plan, digest
from elb_mtls_deploy.resilient import ResilientCloud
from elb_mtls_deploy.retry import RetryPolicy
from elb_mtls_deploy.spec.load import load_spec
from elb_mtls_deploy.spec.model import EmbeddedTarget, LoadBalancerRef, Spec
from elb_mtls_deploy.state import Flavour, Record, Ref, State, marker, normal

if TYPE_CHECKING:
    from elb_mtls_deploy.pki import Bundle, PkiView


@dataclass(frozen=True)
class Loaded:
    spec: Spec
    path: Path
    env: Mapping[str, str]
    digest: str

    @property
    def base_dir(self) -> Path:
        return self.path.resolve().parent


def load(path: Path, env: Mapping[str, str]) -> Loaded:
    spec = load_spec(path, env)
    return Loaded(spec, path, env, hashlib.sha256(path.read_bytes()).hexdigest())


def now() -> datetime:
    return datetime.now(UTC)


def pki_view(loaded: Loaded) -> PkiView:
    """The PKI as plan sees it: public certificates only, no key read, no file written."""
    from elb_mtls_deploy.pki import assess

    with pki_lock(loaded, exclusive=False):
        return assess(loaded.spec, loaded.base_dir, loaded.env, now())


def uploads(
    loaded: Loaded, view: PkiView, bundles: Mapping[str, Bundle] | None = None
) -> dict[str, UploadCert]:
    """What each certificate uploads: from `bundles` (with keys, after issuing) or, in a
    plan, from the read-only view, where what apply must issue is pending."""
    source = bundles if bundles is not None else view.bundles
    result: dict[str, UploadCert] = {}
    for _, cert in loaded.spec.all_certificates():
        pending = None if bundles is not None else view.pending.get(cert.name)
        bundle = source.get(cert.name)
        role = bundle.role if bundle is not None else (pending.role if pending else "client")
        if role == "client":
            continue
        # A CA bound for mutual TLS is the API's type "client" (docs/api-notes.md §2.3).
        api_role = "server" if role == "server" else "client"
        if pending is not None:
            result[cert.name] = UploadCert(
                api_role, None, pending=pending.reason,
                public_key_fingerprint=pending.public_key_fingerprint,
            )  # fmt: skip
        elif bundle is not None and role == "server":
            result[cert.name] = UploadCert("server", bundle.upload_pem, bundle.key_pem)
        elif bundle is not None:
            result[cert.name] = UploadCert("client", bundle.certificate_pem)
    return result


@dataclass
class Connection:
    cloud: ResilientCloud
    flavour: Flavour
    loadbalancers: dict[LoadBalancerRef, LoadBalancerInfo]
    endpoint: str
    embedded_state_dir: Path | None = None


@contextmanager
def connect(
    loaded: Loaded,
    policy: RetryPolicy | None = None,
    *,
    read_only: bool = False,
    serve_traffic: bool = False,
) -> Iterator[Connection]:
    """Open the cloud the spec targets; an embedded emulator lives as long as the block.

    The SDK client is wrapped in `ResilientCloud`: retries with backoff, adoption of what
    a lost create made. `policy` bounds the retries (attempts and total time). With
    `read_only` (plan), an embedded target without state yet gets a throw-away emulator.
    An in-process emulator starts its data plane (TLS listeners, demo backends) only with
    `serve_traffic` (`verify`): plan, apply and destroy serve no traffic.
    """
    from elb_mtls_deploy.cloud import sdk

    target = loaded.spec.target
    policy = policy or RetryPolicy()
    owner = marker(loaded.spec.stack)
    with _endpoint(loaded, read_only, serve_traffic) as (endpoint, credentials, state_dir):
        project = getattr(target, "enterprise_project_id", None)
        probe = ResilientCloud(
            sdk.connect(
                "v2" if target.api == "v2" else "v3",
                credentials,
                endpoint,
                enterprise_project_id=project,
            ),
            owner,
            policy,
        )
        try:
            lbs = _resolve_loadbalancers(loaded.spec, probe)
            flavour = _flavour(target.api, lbs)
        finally:
            probe.close()
        cloud = ResilientCloud(
            sdk.connect(flavour, credentials, endpoint, enterprise_project_id=project),
            owner,
            policy,
        )
        try:
            yield Connection(cloud, flavour, lbs, endpoint, state_dir)
        finally:
            cloud.close()


def state_dir(loaded: Loaded) -> Path | None:
    """The embedded emulator's state directory, relative to the spec file like `pki_dir`."""
    target = loaded.spec.target
    if not isinstance(target, EmbeddedTarget):
        return None
    return (
        target.state_dir if target.state_dir.is_absolute() else loaded.base_dir / target.state_dir
    )


@contextmanager
def _endpoint(
    loaded: Loaded, read_only: bool = False, serve_traffic: bool = False
) -> Iterator[tuple[str, Credentials, Path | None]]:
    from elb_mtls_deploy.cloud import sdk

    target = loaded.spec.target
    if not isinstance(target, EmbeddedTarget):
        credentials = sdk.credentials_from_env(loaded.env, target.project_id)
        yield (target.endpoint or sdk.endpoint_for_region(target.region)), credentials, None
        return
    from elb_mtls_deploy import emulator

    credentials = Credentials(emulator.DEMO_AK, emulator.DEMO_SK, emulator.DEMO_PROJECT_ID)
    directory = state_dir(loaded)
    assert directory is not None
    running = emulator.discover_server(directory)
    if running is not None:
        yield running, credentials, directory
        return
    if read_only and not directory.exists():
        # Nothing deployed yet and plan writes nothing: a fresh emulator in a temp dir that
        # is removed afterwards answers "everything to add" (docs/pki.md).
        import tempfile

        with (
            tempfile.TemporaryDirectory(prefix="elb-plan-") as scratch,
            emulator.start_server(Path(scratch), dataplane=serve_traffic) as server,
        ):
            yield server.endpoint, credentials, None
        return
    directory.mkdir(parents=True, exist_ok=True)
    with emulator.start_server(directory, dataplane=serve_traffic) as server:
        yield server.endpoint, credentials, directory


def _resolve_loadbalancers(spec: Spec, cloud: CloudApi) -> dict[LoadBalancerRef, LoadBalancerInfo]:
    refs = {listener.loadbalancer for listener in spec.listeners}
    found = cloud.find_loadbalancers(
        sorted(r.id for r in refs if r.id), sorted(r.name for r in refs if r.name)
    )
    result: dict[LoadBalancerRef, LoadBalancerInfo] = {}
    for ref in refs:
        matches = [lb for lb in found if lb.id == ref.id or (ref.name and lb.name == ref.name)]
        if not matches:
            raise SpecError(
                f"load balancer with {ref.label} was not found in the target",
                hint="check the id or name in the console (or `deploy emulator state`)",
            )
        if len(matches) > 1:
            raise SpecError(
                f"{len(matches)} load balancers are named {ref.name!r}",
                hint="refer to it by 'id' instead of 'name'",
            )
        result[ref] = matches[0]
    return result


def _flavour(api: str, lbs: Mapping[LoadBalancerRef, LoadBalancerInfo]) -> Flavour:
    if api in ("v3", "v2"):
        return api  # type: ignore[return-value]
    kinds = {lb.guaranteed for lb in lbs.values()}
    if len(kinds) > 1:
        raise SpecError(
            "the spec mixes dedicated and shared load balancers under 'api: auto'",
            hint="split the stack, or set target.api explicitly",
        )
    return "v3" if kinds.pop() else "v2"


@dataclass(frozen=True)
class Planned:
    plan: Plan
    desired: State
    observed: State
    pki: PkiView | None = None  # what the plan saw of the PKI (None for destroy)
    issued: frozenset[str] = frozenset()  # issued earlier in this apply: not issued again

    @property
    def placement(self) -> dict[Ref, str]:
        """Record ref -> the load balancer whose changes it occupies (for `apply.Engine`)."""
        return placement(self.desired, self.observed)


def placement(*states: State) -> dict[Ref, str]:
    """Listeners and pools name their load balancer; monitors and members are on their
    pool's. Certificates belong to no load balancer."""
    where: dict[Ref, str] = {}
    records = [r for s in states for r in (*s.records.values(), *s.duplicates)]
    for kind in ("listener", "pool", "healthmonitor", "member"):
        for record in records:
            if record.kind != kind or record.key in where:
                continue
            lb = record.fields.get("loadbalancer_id")
            parent = record.fields.get("listener" if kind == "pool" else "pool")
            lb = lb or (where.get(parent) if isinstance(parent, Ref) else None)
            if isinstance(lb, str) and lb:
                where[record.key] = lb
    return where


def make_plan(
    loaded: Loaded, conn: Connection, *, destroy: bool = False, issued: frozenset[str] = frozenset()
) -> Planned:
    """Read-only: what apply would do, with what must be issued "(known after apply)".
    `issued` (the re-plan after an apply pass) are taken as they are now."""
    if destroy:
        return _plan(loaded, conn, State(), None)
    view = _without(pki_view(loaded), issued)
    planned = _plan(loaded, conn, _desired(loaded, conn, uploads(loaded, view)), view)
    return replace(planned, issued=issued)


def _without(view: PkiView, issued: frozenset[str]) -> PkiView:
    return replace(view, pending={n: p for n, p in view.pending.items() if n not in issued})


def _desired(loaded: Loaded, conn: Connection, certs: Mapping[str, UploadCert]) -> State:
    desired = build_desired(loaded.spec, certs, conn.flavour, conn.loadbalancers)
    return mark_adopted(desired, loaded.spec)


def _plan(loaded: Loaded, conn: Connection, desired: State, view: PkiView | None) -> Planned:
    spec = loaded.spec
    observed = observe_state(loaded, conn, desired)
    conflicts: list[str] = []
    if view is not None:
        desired, conflicts = trust_anchor_guard(spec, view, desired, observed)
        conflicts += adoption_conflicts(spec, desired, observed)
    plan = diff(desired, observed, spec.stack, conn.flavour, digest(digest_source(observed)))
    notes = (*issuance_notes(spec, view), *rollover_warnings(desired, observed))
    if view is not None:
        notes = (*notes, *revocation_notes(spec, loaded.base_dir))
    if view is not None and not isinstance(spec.target, EmbeddedTarget):
        notes = (*notes, *feature_notes(spec))
    if view is not None and spec.target.probe_file is not None:
        refused, probe_notes = probe_refusals(loaded, conn, desired, observed)
        conflicts, notes = [*conflicts, *refused], (*notes, *probe_notes)
    plan = replace(plan, conflicts=(*plan.conflicts, *conflicts), notes=(*plan.notes, *notes))
    return Planned(plan, desired, observed, view)


def probe_refusals(
    loaded: Loaded, conn: Connection, desired: State, observed: State
) -> tuple[list[str], list[str]]:
    """`target.probe_file`: what `deploy probe` found on this account (docs/probe.md)."""
    import json

    from elb_mtls_deploy import probed

    name = loaded.spec.target.probe_file
    assert name is not None
    path = name if name.is_absolute() else loaded.base_dir / name
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SpecError(
            f"{loaded.path}: target.probe_file {path} cannot be read: {exc}",
            hint="write it with `deploy probe --out FILE`, or remove target.probe_file",
        ) from None
    problem = probed.format_problem(document)
    if problem:
        raise SpecError(
            f"{loaded.path}: target.probe_file {path}: {problem}",
            hint="write it with `deploy probe --out FILE`, or remove target.probe_file",
        )
    lb_ids = sorted({lb.id for lb in conn.loadbalancers.values()})
    return probed.refusals(document, desired, observed, conn.flavour, lb_ids)


def feature_notes(spec: Spec) -> list[str]:
    """The client-certificate headers are enabled per account in some regions: say so
    before an apply stops at the listener (docs/api-notes.md §10.3)."""
    return [
        f"listener {listener.name}: the X-Forwarded-Clientcert-* headers need the feature "
        "enabled for your account in some regions (a Huawei service ticket); if the API "
        "refuses the listener, switch them off in the spec or ask Huawei to enable them"
        for listener in spec.listeners
        if any(
            on
            for name, on in listener.insert_headers.model_dump().items()
            if name.startswith("client_cert_")
        )
    ]


def observe_state(loaded: Loaded, conn: Connection, desired: State | None = None) -> State:
    lb_ids = sorted({lb.id for lb in conn.loadbalancers.values()})
    spec = loaded.spec
    taken = snapshot.take(conn.cloud, spec.stack, lb_ids, adopted_ids(spec))
    return to_state(taken, spec.stack, desired, adoption(spec))


@contextmanager
def pki_lock(loaded: Loaded, exclusive: bool) -> Iterator[None]:
    """Serialise PKI writers (two applies of one stack on one machine would otherwise each
    issue a CA and mix the files); readers share the lock, and never create it."""
    from elb_mtls_deploy.pki import locked

    with locked(loaded.spec, loaded.base_dir, exclusive=exclusive):
        yield


def ensure_certs(loaded: Loaded) -> Any:
    """`deploy certs`: issue what is missing or due, crash-safely (never a new trust anchor)."""
    from elb_mtls_deploy.pki import ensure_certificates

    with pki_lock(loaded, exclusive=True):
        report = ensure_certificates(loaded.spec, loaded.base_dir, loaded.env, now())
    _raise_on_errors(report)
    return report


def _raise_on_errors(report: Any) -> None:
    _raise_on_errors_in(report.findings)


def _raise_on_errors_in(findings: Any) -> None:
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise DeployError(
            "the certificates have errors:\n" + "\n".join(f"  {f}" for f in errors),
            hint="fix the findings above; nothing was sent to the cloud",
        )


def lint_public(loaded: Loaded) -> list[Any]:
    """Plan's certificate check, before it connects: the public certificates only (no key,
    no file written); errors raise, warnings are returned for the CLI to show."""
    from elb_mtls_deploy.pki import lint

    view = pki_view(loaded)
    # What apply will issue anew (issuer changed, SAN changed, expiring...) is linted once
    # issued; the certificate it replaces is not what the spec asks for any more.
    current = {name: b for name, b in view.bundles.items() if name not in view.pending}
    findings = lint(current, loaded.spec, now())
    _raise_on_errors_in(findings)
    return [f for f in findings if f.severity != "error"]


def preflight(loaded: Loaded) -> PkiView:
    """Before apply connects: every CA key that must sign is loaded now, so a missing one
    fails with exit 1 before any API call."""
    from elb_mtls_deploy.pki import check_signers

    view = pki_view(loaded)
    findings = check_signers(loaded.spec, loaded.base_dir, loaded.env, view)
    _raise_on_errors_in(findings)
    return view


def issue_planned(loaded: Loaded, conn: Connection, planned: Planned) -> tuple[Planned, Any]:
    """Apply, after approval: issue exactly what the plan said, then the same plan with the
    markers resolved (and the keys in the payloads). Refuses if the PKI changed since."""
    from elb_mtls_deploy.pki import assess, ensure_certificates

    if planned.pki is None:
        return planned, None
    with pki_lock(loaded, exclusive=True):
        seen = _without(assess(loaded.spec, loaded.base_dir, loaded.env, now()), planned.issued)
        if _pending(seen) != _pending(planned.pki):
            raise PlanError(
                "the PKI directory changed since this plan was made "
                f"(plan: {_pending(planned.pki) or 'nothing to issue'}; now: "
                f"{_pending(seen) or 'nothing to issue'}); nothing was changed",
                hint="run `deploy plan` again, review, and apply the new plan",
            )
        report = ensure_certificates(
            loaded.spec, loaded.base_dir, loaded.env, now(), only=set(planned.pki.pending)
        )
    _raise_on_errors(report)
    issued_now = planned.issued | set(planned.pki.pending)
    view = _without(pki_view(loaded), issued_now)
    issued = _plan(
        loaded, conn, _desired(loaded, conn, uploads(loaded, view, report.bundles)), view
    )
    if not resolves(planned.plan, issued.plan):
        raise PlanError(
            "after issuing, the plan differs from the one approved; nothing was sent to the cloud",
            hint="run `deploy plan` again and review it (the issued certificates are kept)",
        )
    return replace(issued, issued=issued_now), report


def _pending(view: PkiView) -> dict[str, str]:
    return {name: p.reason for name, p in view.pending.items()}


def resolves(approved: Plan, issued: Plan) -> bool:
    """The issued plan is the approved one with each "(known after apply)" filled in."""
    if len(approved.actions) != len(issued.actions) or approved.conflicts != issued.conflicts:
        return False
    for old, new in zip(approved.actions, issued.actions, strict=True):
        if (old.op, old.key, old.id, old.replacement) != (new.op, new.key, new.id, new.replacement):
            return False
        for name, value in old.fields.items():
            if not _known_later(value) and normal(new.fields.get(name)) != normal(value):
                return False
    return True


def _known_later(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(_known_later(v) for v in value)
    return is_known_after_apply(value)


def trust_anchor_guard(
    spec: Spec, view: PkiView, desired: State, observed: State
) -> tuple[State, list[str]]:
    """Never replace a trust anchor implicitly: a CA the cloud holds (alone or in a rollover
    bundle) whose key is gone from the PKI, or a different CA than the cloud's, is a
    conflict (apply refuses), and the record keeps the cloud's value so the plan shows no
    change to it. A server CA whose server certificate is in the cloud counts too."""
    records = dict(desired.records)
    conflicts: list[str] = []
    reported: set[str] = set()
    for want in desired.by_kind("certificate"):
        have = observed.records.get(want.key)
        if have is None or want.fields.get("type") != "client":
            continue
        local = want.key.name
        lost = [p for p in want.key.bundle() if _is_new(view, p)]
        where = f" (in the bundle {local})" if len(want.key.bundle()) > 1 else ""
        problem: str | None
        if lost:
            evidence = f"its certificate (id {have.id}){where} is in the cloud"
            problem = _lost_ca(lost[0], view, evidence)
            reported.update(lost)
        else:
            problem = _replaced_anchor(local, want, have, view)
        if problem:
            conflicts.append(problem)
            records[want.key] = replace(want, fields={**want.fields, **_same(want, have)})
    for ca in spec.certificates.cas:
        signed = _deployed_leaves(spec, ca.name, observed)
        if ca.name not in reported and _is_new(view, ca.name) and signed:
            evidence = f"the certificates it signed ({', '.join(signed)}) are in the cloud"
            conflicts.append(_lost_ca(ca.name, view, evidence))
    return State(records, observed.foreign_listeners, observed.duplicates), conflicts


def _is_new(view: PkiView, name: str) -> bool:
    pending = view.pending.get(name)
    return pending is not None and pending.reason == "new"


def _replaced_anchor(name: str, want: Record, have: Record, view: PkiView) -> str | None:
    wanted = want.fields.get("public_key_fingerprint")
    held = have.fields.get("public_key_fingerprint")
    if is_known_after_apply(wanted) or wanted == held:
        return None
    return (
        f"CA {name}: the PKI directory holds a different CA "
        f"(public key sha256:{str(wanted)[:16]}…) "
        f"than the cloud (sha256:{str(held)[:16]}…); uploading it would replace the listener's "
        "trust anchor and all client certificates issued by the old CA stop working. Restore the "
        f"CA that is in the cloud into {view.directory}/ from a backup, or roll over to a new CA "
        "under a new name (docs/rotation.md)"
    )


def _lost_ca(name: str, view: PkiView, evidence: str) -> str:
    return (
        f"CA {name}: {evidence}, but its key is not in the PKI directory {view.directory}/; "
        "a new CA would lock out every certificate the old one issued, so deploy never issues "
        f"one. Restore {view.directory}/ (manifest.json and {name}/) from a backup (the CI "
        "cache, another runner); earlier generations are listed by `deploy certs SPEC --history`"
    )


def _same(want: Record, have: Record) -> dict[str, Any]:
    return {f: have.fields.get(f) for f in ("fingerprint", "public_key_fingerprint", "chain")}


def _deployed_leaves(spec: Spec, ca: str, observed: State) -> list[str]:
    return [
        cert.name
        for role, cert in spec.all_certificates()
        if role == "server"
        and getattr(cert, "issuer", None) == ca
        and Ref("certificate", cert.name) in observed.records
    ]


def issuance_notes(spec: Spec, view: PkiView | None) -> list[str]:
    """One note per certificate apply will issue (compared when a saved plan is applied)."""
    if view is None:
        return []
    notes = [
        f"{ISSUE_NOTE} {p.role} {name} ({p.reason})"
        for _, cert in spec.all_certificates()
        if (name := cert.name) in view.pending and (p := view.pending[name])
    ]
    notes += [f"apply signs with CA {ca}'s key from {label}" for ca, label in view.signers.items()]
    return notes


ISSUE_NOTE = "ISSUE at apply:"


def rollover_warnings(desired: State, observed: State) -> list[str]:
    """A listener that stops trusting a CA it trusts now: every client of it is locked out."""
    warnings = []
    for record in desired.by_kind("listener"):
        have = observed.records.get(record.key)
        if have is None:
            continue
        before = _cas(have.fields.get("client_ca_tls_container_ref"))
        after = _cas(record.fields.get("client_ca_tls_container_ref"))
        for ca in sorted(before - after):
            warnings.append(
                f"WARNING: listener {record.key.name} stops trusting CA {ca}: all "
                "client certificates issued by the old CA stop working"
            )
    return warnings


def _cas(ref: Any) -> set[str]:
    if not isinstance(ref, Ref) or ref.kind != "certificate":
        return set()
    return set(ref.bundle())


def saved_issuance(document_notes: list[str], planned: Planned) -> None:
    """`apply PLAN.json` issues exactly what the saved plan said it would."""
    saved = [n for n in document_notes if n.startswith(ISSUE_NOTE)]
    fresh = [n for n in planned.plan.notes if n.startswith(ISSUE_NOTE)]
    if saved != fresh:
        raise PlanError(
            "the PKI directory changed since this plan was made: it would issue "
            f"{fresh or 'nothing'} instead of {saved or 'nothing'}; refusing to apply it",
            hint="run `deploy plan` again, review, and apply the new plan",
        )


def sign_request(loaded: Loaded, ca: str, csr: Path, out: Path, days: int) -> Any:
    """`deploy sign`: a certificate for a CSR, written 0644 to a new file `out`."""
    from cryptography.hazmat.primitives import serialization

    from elb_mtls_deploy.pki.importing import read_file
    from elb_mtls_deploy.pki.signer import read_request
    from elb_mtls_deploy.pki.signer import sign_request as sign

    request = read_request(read_file(csr, "certificate request"), str(csr))
    if out.exists():
        raise DeployError(f"{out} exists already", hint="choose another --out, or move it away")
    certificate = sign(loaded.spec, loaded.base_dir, loaded.env, ca, request, days, now())
    out.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate


def with_revoked(loaded: Loaded, options: Any) -> Any:
    """`deploy verify` also tries each revoked client still in the PKI directory."""
    from elb_mtls_deploy.pki.revoke import revoked_identities
    from elb_mtls_deploy.verify.handshake import ClientIdentity

    identities = [
        ClientIdentity(r.name, r.certificate_pem, r.key_pem)
        for r in revoked_identities(loaded.spec, loaded.base_dir)
    ]
    return replace(options, revoked=tuple(identities))


def deny_list(loaded: Loaded) -> dict[str, Any]:
    """`deploy revoked`: what backends must refuse, as JSON (no key material)."""
    from elb_mtls_deploy.pki.revoke import deny_list as build

    with pki_lock(loaded, exclusive=False):
        return build(loaded.spec, loaded.base_dir).to_json()


def revocation_notes(spec: Spec, base_dir: Path) -> list[str]:
    """The plan shows every revoked certificate, and warns when no listener inserts the
    header a backend needs to refuse it."""
    from elb_mtls_deploy.pki.revoke import deny_list as build

    if not spec.certificates.revoked:
        return []
    entries = build(spec, base_dir).entries
    notes = []
    for revoked in spec.certificates.revoked:
        mine = [e for e in entries if e.client == revoked.client and e.client is not None]
        serials = [e.serial for e in mine] if revoked.client else [revoked.serial or ""]
        who = f"client {revoked.client}" if revoked.client else f"serial {revoked.serial}"
        notes.append(
            f"REVOKED: {who} ({revoked.reason}; serial {', '.join(serials)}): ELB has no CRL "
            "and still completes its TLS handshake, so backends must refuse it (deny-list: "
            "`deploy revoked SPEC`)"
        )
    headers = [
        listener.name
        for listener in spec.listeners
        if listener.client_ca is not None
        and (
            listener.insert_headers.client_cert_serial
            or listener.insert_headers.client_cert_fingerprint
        )
    ]
    if not headers:
        notes.append(
            "WARNING: no listener inserts X-Forwarded-Clientcert-serialnumber or -fingerprint, "
            "so no backend can tell a revoked client: set insert_headers.client_cert_serial"
        )
    return notes


def history(loaded: Loaded) -> list[Any]:
    from elb_mtls_deploy.pki import history as pki_history

    return pki_history(loaded.spec, loaded.base_dir)


def lint_existing(loaded: Loaded) -> tuple[list[Any], list[str]]:
    """Lint what exists without writing: (findings, names of certificates not issued yet).

    When everything is issued the full linter runs over all bundles; before the first
    `deploy certs`, imported material is still read and linted so `validate` catches a
    bad PEM or key early.
    """
    from elb_mtls_deploy.pki import lint, load_bundles
    from elb_mtls_deploy.pki.importing import import_bundle
    from elb_mtls_deploy.spec.model import ImportedCA, ImportedServer

    spec = loaded.spec
    view = pki_view(loaded)
    missing = [name for name, pending in view.pending.items() if pending.reason == "new"]
    if not missing:
        bundles = load_bundles(spec, loaded.base_dir, loaded.env)
    else:
        bundles = {
            cert.name: import_bundle(
                cert.name,
                "ca" if role == "ca" else "server",
                cert.import_,
                loaded.base_dir,
                loaded.env,
            )
            for role, cert in spec.all_certificates()
            if isinstance(cert, ImportedCA | ImportedServer)
        }
    return lint(bundles, spec, now()), missing
