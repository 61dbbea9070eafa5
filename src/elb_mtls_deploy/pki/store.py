"""The PKI directory as custody: assess it read-only, issue into it crash-safely, read it back.

Owns the decisions: issue, keep, renew or import each certificate, and what counts as a
change (subject, SANs, key type, issuer, purpose, expiry: `changes.py`). Entry points:

- `assess` (plan): reads only public files, never a private key or passphrase, writes
  nothing; what must be issued is a `Pending` with its reason.
- `check_signers` (apply, before it connects): every key that will sign, and the lint.
- `ensure_certificates` (apply, `deploy certs`): finishes or rolls back a killed write
  (`recovery.py`), migrates the old flat layout, then writes each new certificate as a new
  generation (`layout.py`), switched to in one manifest replace; nothing is overwritten.
- `load_bundles` (verify, expiry) and `signer_of` (`deploy sign`): read-only, with keys.

A trust anchor is never replaced implicitly: a CA whose spec changed in a way that needs a
new key, or whose files are gone while certificates it signed remain, is an error with the
way to restore it; only expiry renews a CA, and then with the same key (every certificate
it signed stays valid). Must not print, and never puts key material or passwords in messages.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography import x509

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import layout, pkcs11
from elb_mtls_deploy.pki import manifest as manifests
from elb_mtls_deploy.pki.bundle import Bundle, Role, certificate_fingerprint
from elb_mtls_deploy.pki.changes import expiry_reason, purpose_reason, san_reason
from elb_mtls_deploy.pki.importing import import_bundle, load_certificates, load_key_source, resolve
from elb_mtls_deploy.pki.issue import Issued, issue_ca, issue_client, issue_server, subject_name
from elb_mtls_deploy.pki.keys import (
    PrivateKey,
    generate_key,
    key_matches,
    key_to_pem,
    key_type_of,
    load_key,
    spki_der,
)
from elb_mtls_deploy.pki.layout import PARTIAL, CertFiles, StackDir
from elb_mtls_deploy.pki.lint import Finding, lint
from elb_mtls_deploy.pki.manifest import Entry, Generation, Manifest
from elb_mtls_deploy.pki.p12 import export_p12, p12_holds, p12_profile
from elb_mtls_deploy.pki.parallel import MIN_BATCH, Workers, key_from_der, key_to_der, worker_count
from elb_mtls_deploy.pki.pem import is_signed_by, parse_certificates
from elb_mtls_deploy.pki.recovery import recover
from elb_mtls_deploy.spec.model import (
    GeneratedCA,
    GeneratedClient,
    GeneratedServer,
    ImportedCA,
    ImportedServer,
    Spec,
)

Action = Literal["issued", "renewed", "kept", "imported"]
Generated = GeneratedCA | GeneratedServer | GeneratedClient
_ROLES: dict[str, Role] = {"ca": "ca", "server": "server", "client": "client"}
_RERUN = "run `deploy apply SPEC` (or `deploy certs SPEC`) to issue the certificates first"


@dataclass(frozen=True)
class CertAction:
    """What `ensure_certificates` did for one certificate."""

    name: str
    role: Role
    action: Action
    reason: str
    fingerprint: str
    not_after: datetime
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class CertsReport:
    certificates: tuple[CertAction, ...]
    findings: tuple[Finding, ...]
    bundles: Mapping[str, Bundle] = field(repr=False, default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(c.action in ("issued", "renewed") or c.files for c in self.certificates)


@dataclass(frozen=True)
class Pending:
    """A certificate apply must issue; `public_key_fingerprint` is known when the key stays
    (a CA renewed for expiry)."""

    name: str
    role: Role
    reason: str
    public_key_fingerprint: str | None = None


@dataclass(frozen=True)
class PkiView:
    """What plan sees: the current public certificates and what apply will issue."""

    directory: Path
    bundles: Mapping[str, Bundle] = field(repr=False, default_factory=dict)
    pending: Mapping[str, Pending] = field(default_factory=dict)
    signers: Mapping[str, str] = field(default_factory=dict)  # CA that must sign -> key source


def stack_dir(spec: Spec, base_dir: Path) -> StackDir:
    return StackDir(base_dir / spec.pki_dir, spec.stack)


def assess(spec: Spec, base_dir: Path, env: Mapping[str, str], now: datetime) -> PkiView:
    """Read-only: the current certificates and what must be issued, without any private key."""
    run = _Run(spec, base_dir, env, _utc(now), write=False)
    for role, cert in spec.all_certificates():
        run.assess(_ROLES[role], cert)
    for name, pending in run.pending.items():  # a new CA makes its own key: nothing to load
        ca = spec.ca(name)
        if pending.reason == "new" and isinstance(ca, GeneratedCA) and ca.key is None:
            run.needs_signer.pop(name, None)
    return PkiView(run.dir.path, dict(run.bundles), dict(run.pending), dict(run.needs_signer))


def ensure_certificates(
    spec: Spec,
    base_dir: Path,
    env: Mapping[str, str],
    now: datetime,
    *,
    only: Collection[str] | None = None,
) -> CertsReport:
    """Issue or load every certificate of the spec into its stack directory; idempotent.
    With `only` (apply of a reviewed plan), nothing outside it is issued: a certificate
    that became due since the plan is kept as it is until the next plan shows it."""
    run = _Run(spec, base_dir, env, _utc(now), write=True)
    run.only = only
    run.prepare()
    run.start_workers()
    try:
        for role, cert in spec.all_certificates():
            run.ensure(_ROLES[role], cert)
        run.finish()
    finally:
        run.stop_workers()
        run.switch()  # what is complete becomes current, even if a later certificate failed
    findings = lint(run.bundles, spec, run.now)
    return CertsReport(tuple(run.actions), tuple(findings), dict(run.bundles))


def load_bundles(spec: Spec, base_dir: Path, env: Mapping[str, str]) -> dict[str, Bundle]:
    """Every certificate as a Bundle with its key, read-only; a missing file is an error."""
    run = _Run(spec, base_dir, env, datetime.now(UTC), write=False)
    for role, cert in spec.all_certificates():
        run.bundles[cert.name] = run.load(_ROLES[role], cert)
    return dict(run.bundles)


def check_signers(
    spec: Spec, base_dir: Path, env: Mapping[str, str], view: PkiView
) -> list[Finding]:
    """Before apply connects: read every key of what exists (imports included) and every CA
    key that will sign, check the .p12 password variables, and lint what exists; so bad
    material or a missing key fails before any API call. Returns the lint findings."""
    run = _Run(spec, base_dir, env, datetime.now(UTC), write=False)
    for role, cert in spec.all_certificates():
        if cert.name in view.pending:
            run.assess(_ROLES[role], cert)
        else:
            run.bundles[cert.name] = run.load(_ROLES[role], cert)
        if isinstance(cert, GeneratedClient) and cert.p12 is not None:
            run.p12_password_ready(cert)
    for name in view.signers:
        signer = run.signers.get(name)
        ca = spec.ca(name)
        if signer is not None:
            signer.issued()
        elif isinstance(ca, GeneratedCA) and run._new_encrypted_file(ca):
            run.passphrase(ca)  # the key file is made, encrypted, when the CA is issued
        elif isinstance(ca, GeneratedCA) and ca.key is not None:
            run.external_key(ca)
    ready = {n: b for n, b in run.bundles.items() if n not in view.pending}
    return lint(ready, spec, run.now)


def signer_of(spec: Spec, base_dir: Path, env: Mapping[str, str], ca: str) -> Issued:
    """The CA `ca` with its key, to sign something outside the spec (`deploy sign`)."""
    run = _Run(spec, base_dir, env, datetime.now(UTC), write=False)
    for role, cert in spec.all_certificates():
        run.assess(_ROLES[role], cert)
        if cert.name == ca:
            break
    signer = run.signers.get(ca)
    if signer is None:
        raise CertificateError(f"CA {ca!r} is not issued yet", hint=_RERUN)
    return signer.issued()


@dataclass(frozen=True)
class HistoryRow:
    name: str
    generation: str
    current: bool
    created: str
    reason: str
    fingerprint: str
    not_after: str
    directory: Path
    abandoned: bool


def history(spec: Spec, base_dir: Path) -> list[HistoryRow]:
    """Every generation of every certificate of this stack, oldest first (read-only)."""
    directory = stack_dir(spec, base_dir)
    if not layout.check_directory(directory.path, inside=True):
        return []
    manifest = manifests.load(directory)
    return [
        HistoryRow(
            name,
            g.id,
            g.id == entry.current,
            g.created,
            g.reason,
            g.fingerprint,
            g.not_after,
            directory.generation(name, g.id).directory,
            g.abandoned,
        )
        for name, entry in sorted(manifest.entries.items())
        for g in entry.generations
    ]


@contextmanager
def locked(spec: Spec, base_dir: Path, *, exclusive: bool) -> Iterator[None]:
    """Serialise writers of one stack directory; a reader takes a shared lock only if the
    lock file already exists (plan creates no file)."""
    import fcntl

    directory = stack_dir(spec, base_dir)
    if exclusive:
        layout.ensure_directory(directory.root, inside=False)
        layout.ensure_directory(directory.path, inside=True)
    elif not (
        layout.check_directory(directory.root, inside=False)
        and layout.check_directory(directory.path, inside=True)
    ):
        yield
        return
    fd = layout.open_lock(directory.lock, create=exclusive)
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise CertificateError("'now' must be timezone-aware", hint="pass datetime.now(UTC)")
    return now.astimezone(UTC)


class _Signer:
    """A CA's signing identity, with the key loaded only when something must be signed
    (so a CA key kept in a CI variable is needed only when issuing)."""

    def __init__(
        self, name: str, certificate: x509.Certificate, load_key: Callable[[], PrivateKey]
    ):
        self.name = name
        self.certificate = certificate
        self._load_key = load_key
        self._key: PrivateKey | None = None

    def issued(self) -> Issued:
        if self._key is None:
            self._key = self._load_key()  # raises a CertificateError naming the key source
        return Issued(self.certificate, self._key)


@dataclass
class _Existing:
    certificate: x509.Certificate
    files: CertFiles
    key_in_dir: bool
    legacy: bool


class _Run:
    """One pass over the spec; holds what earlier certificates produced for later ones."""

    def __init__(
        self, spec: Spec, base_dir: Path, env: Mapping[str, str], now: datetime, *, write: bool
    ):
        self.spec, self.base_dir, self.env, self.now, self.write = spec, base_dir, env, now, write
        self.dir = stack_dir(spec, base_dir)
        self.bundles: dict[str, Bundle] = {}
        self.signers: dict[str, _Signer] = {}
        self.pending: dict[str, Pending] = {}
        self.needs_signer: dict[str, str] = {}
        self.keys: dict[str, PrivateKey] = {}
        self._passwords: dict[str, bytes] = {}
        self.only: Collection[str] | None = None
        self.workers: Workers | None = None
        self.prefetched: dict[str, Future[bytes]] = {}
        self.deferred: list[_Deferred] = []
        self.unswitched = False
        self.actions: list[CertAction] = []
        present = layout.check_directory(self.dir.root, inside=False)
        present = present and layout.check_directory(self.dir.path, inside=True)
        self.manifest = manifests.load(self.dir) if present else Manifest(spec.stack)

    # --- preparing a write -----------------------------------------------------------------

    def prepare(self) -> None:
        """Create the directories, then finish or roll back what a killed run left."""
        roles = {c.name: role for role, c in self.spec.all_certificates()}
        recover(self.dir, self.manifest, roles, self.now)

    # --- current files --------------------------------------------------------------------

    def _current(self, name: str) -> tuple[CertFiles, bool] | None:
        """(files, legacy) of the current generation, or of the old flat layout."""
        entry = self.manifest.entries.get(name)
        if entry is not None and entry.current is not None:
            files = self.dir.generation(name, entry.current)
            layout.check_directory(files.directory.parent, inside=True)
            layout.check_directory(files.directory, inside=True)
            return files, False
        legacy = self.dir.legacy(name)
        if layout.exists(legacy.crt) or layout.exists(legacy.key):
            return legacy, True
        return None

    def _existing(self, cert: Generated) -> _Existing | None:
        found = self._current(cert.name)
        if found is None or self._was_imported_leaf(cert):
            return None
        files, legacy = found
        key_in_dir = not (isinstance(cert, GeneratedCA) and cert.key is not None)
        has_crt, has_key = layout.exists(files.crt), layout.exists(files.key)
        if key_in_dir and has_key and not has_crt:
            raise CertificateError(
                f"{files.key} exists but its certificate {files.crt.name} does not",
                hint=f"restore {files.crt} from a backup (deploy never overwrites a private key)",
            )
        if not has_crt:
            return None
        certificate = parse_certificates(layout.read(files.crt, secret=False), str(files.crt))[0]
        if key_in_dir and not has_key:
            raise CertificateError(
                f"{files.crt} exists but its private key {files.key.name} does not",
                hint=_restore_key_hint(files, cert),
            )
        if key_in_dir:
            layout.check_secret(files.key)
        return _Existing(certificate, files, key_in_dir, legacy)

    def _was_imported_leaf(self, cert: Generated) -> bool:
        """A server or client that was imported and is now issued here (an adopted console
        certificate rotated in place: docs/import.md) starts a new generation: the imported
        key never was in the PKI directory."""
        entry = self.manifest.entries.get(cert.name)
        if isinstance(cert, GeneratedCA) or entry is None or entry.current is None:
            return False
        current = next((g for g in entry.generations if g.id == entry.current), None)
        return current is not None and current.reason == "import"

    def _key_of(self, cert: Generated, existing: _Existing) -> PrivateKey:
        if cert.name in self.keys:
            return self.keys[cert.name]
        if not existing.key_in_dir:
            key = self.external_key(cert)
        else:
            key = load_key(
                layout.read(existing.files.key, secret=True),
                where=str(existing.files.key),
                password=None,
                password_env=None,
            )
        if not key_matches(key, existing.certificate):
            raise CertificateError(
                f"the private key of {cert.name!r} ({_key_where(cert, existing)}) does not "
                f"match its certificate {existing.files.crt}",
                hint="restore the key issued with that certificate; nothing was overwritten",
            )
        self.keys[cert.name] = key
        return key

    # --- decisions (public data only) -------------------------------------------------------

    def _decide(self, role: Role, cert: Generated, existing: _Existing | None) -> list[str]:
        if existing is None:
            if isinstance(cert, GeneratedCA):
                self._refuse_lost_ca(cert)
            return ["new"]
        reasons = self._change_reasons(cert, existing)
        if isinstance(cert, GeneratedCA) and any(not r.startswith("expire") for r in reasons):
            raise CertificateError(
                f"CA {cert.name!r} would have to be replaced ({'; '.join(reasons)}), and a trust "
                "anchor is never replaced implicitly: every certificate it signed would stop "
                "working",
                hint="revert that change in the spec; to move to a new CA, add it under a new "
                "name and roll over (docs/rotation.md, client-CA rollover)",
            )
        return reasons

    def _refuse_lost_ca(self, cert: GeneratedCA) -> None:
        signed = [
            c.name
            for _, c in self.spec.all_certificates()
            if getattr(c, "issuer", None) == cert.name and self._current(c.name) is not None
        ]
        owner = self._migrated_by_other(cert.name)
        if owner:
            raise CertificateError(
                f"CA {cert.name!r} of the old shared PKI layout was taken over by stack "
                f"{owner!r} ({self.dir.root / owner}); a CA belongs to one stack",
                hint="give this stack its own CA under another name, or import that CA "
                "explicitly ('import:' with its certificate and key files)",
            )
        if signed:
            raise CertificateError(
                f"CA {cert.name!r} has no certificate or key in {self.dir.path}, but "
                f"{', '.join(signed)} signed by it are still there: a new CA would lock out "
                "every certificate it issued",
                hint=f"restore {self.dir.cert_dir(cert.name)}/ and {self.dir.manifest} from a "
                "backup of the PKI directory (e.g. the CI cache); deploy never re-issues a CA",
            )

    def _migrated_by_other(self, name: str) -> str | None:
        for stack, other in manifests.other_stacks(self.dir.root, self.dir.stack).items():
            entry = other.entries.get(name)
            if entry and any(g.migrated_from for g in entry.generations):
                return stack
        return None

    def _change_reasons(self, cert: Generated, existing: _Existing) -> list[str]:
        reasons = [
            self._subject_reason(cert, existing.certificate),
            self._key_reason(cert, existing),
            self._issuer_reason(cert, existing.certificate),
            san_reason(cert, existing.certificate),
            purpose_reason(cert, existing.certificate),
            expiry_reason(existing.certificate, cert.renew_before_days, self.now),
        ]
        return [r for r in reasons if r]

    def _subject_reason(self, cert: Generated, certificate: x509.Certificate) -> str | None:
        if certificate.subject != subject_name(cert.subject):
            return f"subject changed (was {certificate.subject.rfc4514_string()})"
        return None

    def _key_reason(self, cert: Generated, existing: _Existing) -> str | None:
        if isinstance(cert, GeneratedCA) and cert.key is not None:
            if self.write:  # the external key defines the key type; it must match if present
                try:
                    key = self.external_key(cert)
                except CertificateError:
                    return None  # needed only when something must be signed
                if not key_matches(key, existing.certificate):
                    raise CertificateError(
                        f"the CA key from {_key_where(cert, existing)} does not match "
                        f"{existing.files.crt}",
                        hint="restore the CA's key in that source (a CA is never re-issued)",
                    )
                self.keys[cert.name] = key
            return None
        actual = key_type_of(existing.certificate.public_key())
        return None if actual == cert.key_type else f"key type changed (was {actual or 'other'})"

    def _issuer_reason(self, cert: Generated, certificate: x509.Certificate) -> str | None:
        if isinstance(cert, GeneratedCA):
            return None
        signer = self._signer(cert.issuer)
        if signer is None:
            return f"issuer {cert.issuer!r} is issued first"
        if not is_signed_by(certificate, signer.certificate):
            return f"issuer changed (not signed by CA {cert.issuer!r})"
        return None

    # --- assess (plan) --------------------------------------------------------------------

    def assess(self, role: Role, cert: object) -> None:
        if isinstance(cert, ImportedCA | ImportedServer):
            bundle = self._import_public(role, cert)
            self._remember_bundle(bundle, cert.name, role == "ca", lambda: self._import_key(cert))
            return
        assert isinstance(cert, GeneratedCA | GeneratedServer | GeneratedClient)
        existing = self._existing(cert)
        reasons = self._decide(role, cert, existing)
        if existing is not None:
            self._remember(role, cert, existing)
        if not reasons:
            return
        keeps_key = isinstance(cert, GeneratedCA) and existing is not None
        fingerprint = _spki_fingerprint(existing.certificate) if keeps_key and existing else None
        self.pending[cert.name] = Pending(cert.name, role, "; ".join(reasons), fingerprint)
        if not isinstance(cert, GeneratedCA):
            self.needs_signer[cert.issuer] = self._key_label(cert.issuer)
        elif existing is not None or cert.key is not None:
            self.needs_signer[cert.name] = self._key_label(cert.name)

    def _key_label(self, ca: str) -> str:
        spec_ca = self.spec.ca(ca)
        if isinstance(spec_ca, GeneratedCA) and spec_ca.key is not None:
            return _source_label(spec_ca.key.env, spec_ca.key.file)
        if isinstance(spec_ca, ImportedCA) and spec_ca.import_.key is not None:
            return _source_label(spec_ca.import_.key.env, spec_ca.import_.key.file)
        return f"the PKI directory {self.dir.cert_dir(ca)}/"

    # --- ensure (apply, certs) ------------------------------------------------------------

    def ensure(self, role: Role, cert: object) -> None:
        if isinstance(cert, ImportedCA | ImportedServer):
            self._ensure_imported(role, cert)
        elif isinstance(cert, GeneratedCA | GeneratedServer | GeneratedClient):
            self._ensure_generated(role, cert)

    def _ensure_imported(self, role: Role, cert: ImportedCA | ImportedServer) -> None:
        bundle = import_bundle(cert.name, role, cert.import_, self.base_dir, self.env)
        bundle = dataclasses.replace(bundle, issuer_name=self._known_issuer(bundle))
        self._remember_bundle(bundle, cert.name, role == "ca", lambda: self._import_key(cert))
        written = self._copy_imported(role, bundle)
        self._record(bundle, "imported", f"from {cert.import_.certificate}", written)

    def _copy_imported(self, role: Role, bundle: Bundle) -> tuple[Path, ...]:
        """The imported leaf and chain (never the key), as a generation, so the PKI dir shows
        exactly what is uploaded; a new generation only when the source changed."""
        files = {f"{bundle.name}.crt": (bundle.certificate_pem.encode("ascii"), False)}
        if bundle.chain_pem:
            files[f"{bundle.name}.chain.crt"] = (bundle.chain_pem.encode("ascii"), False)
        found = self._current(bundle.name)
        if found is not None and not found[1] and self._same_files(found[0], files):
            return ()
        fingerprint, not_after = bundle.fingerprint, bundle.not_after
        return self._commit(bundle.name, role, files, fingerprint, not_after, "import")

    def _same_files(self, current: CertFiles, files: Mapping[str, tuple[bytes, bool]]) -> bool:
        on_disk = sorted(p for p in os.listdir(current.directory))
        if on_disk != sorted(files):
            return False
        return all(layout.read(current.directory / n, secret=s) == d for n, (d, s) in files.items())

    def _ensure_generated(self, role: Role, cert: Generated) -> None:
        existing = self._existing(cert)
        if existing is not None and existing.legacy:
            existing = self._migrate(role, cert, existing)
        if existing is not None and existing.key_in_dir:
            self._key_of(cert, existing)  # a key that does not match is damage: stop here
        reasons = self._decide(role, cert, existing)
        if reasons and self.only is not None and cert.name not in self.only:
            if existing is None:
                raise CertificateError(
                    f"certificate {cert.name!r} must be issued but the approved plan did not say "
                    "so; nothing was issued",
                    hint="run `deploy plan` again, review, and apply the new plan",
                )
            reasons = []
        if existing is not None and not reasons:
            self._keep(role, cert, existing)
            return
        reason = "; ".join(reasons)
        action: Action = "renewed" if reason.startswith("expire") else "issued"
        entry = self.manifest.entries.get(cert.name)
        if existing is not None and entry is not None and entry.current:
            reason += f"; generation {entry.current} kept"
        issued = self._issue(cert, existing)
        self.keys[cert.name] = issued.key
        files = self._generation_files(cert, issued)
        bundle = self._bundle(role, cert, issued.certificate, issued.key)
        if self.workers is not None and isinstance(cert, GeneratedClient) and cert.p12:
            # Exported by a worker; the generation is committed in `finish`, still whole.
            password, extra = self._p12_password_files(cert, None)
            chain = [bundle.certificate, *self._p12_extra(cert)]
            future = self.workers.p12(
                cert.name, key_to_der(issued.key), [_der(c) for c in chain], password,
                cert.p12.profile,
            )  # fmt: skip
            self.deferred.append(
                _Deferred(role, cert, files | extra, bundle, action, reason, future, password)
            )
            return
        files |= self._p12_files(cert, bundle, None)
        self._finish_issue(role, cert, files, bundle, action, reason)

    def _finish_issue(
        self,
        role: Role,
        cert: Generated,
        files: Mapping[str, tuple[bytes, bool]],
        bundle: Bundle,
        action: Action,
        reason: str,
    ) -> None:
        written = self._commit(cert.name, role, files, bundle.fingerprint, bundle.not_after, reason)
        existing = self._existing(cert)
        assert existing is not None
        self._remember(role, cert, existing, with_key=True)
        self._record(bundle, action, reason, written)

    # --- workers (bench/bench_pki.py) ------------------------------------------------------

    def start_workers(self) -> None:
        """With many leaves to issue, generate their keys on every core meanwhile."""
        if worker_count() < 2:
            return
        try:
            view = assess(self.spec, self.base_dir, self.env, self.now)
        except CertificateError:
            return  # the run itself reports it
        leaves = [
            (c.name, c.key_type)
            for _, c in self.spec.all_certificates()
            if isinstance(c, GeneratedServer | GeneratedClient)
            and c.name in view.pending
            and (self.only is None or c.name in self.only)
        ]
        if len(leaves) < MIN_BATCH:
            return
        self.workers = Workers(worker_count())
        self.prefetched = {name: self.workers.key(key_type) for name, key_type in leaves}

    def finish(self) -> None:
        for item in self.deferred:
            try:
                data = item.p12.result()
            except BrokenProcessPool:  # a worker could not start (e.g. python reading stdin)
                data = export_p12(
                    item.bundle, self.bundles.get(item.cert.issuer), item.password,
                    item.cert.p12.profile if item.cert.p12 else "modern",
                )  # fmt: skip
            p12 = {f"{item.cert.name}.p12": (data, True)}
            self._finish_issue(
                item.role, item.cert, {**item.files, **p12}, item.bundle, item.action, item.reason
            )
        self.deferred = []

    def stop_workers(self) -> None:
        if self.workers is not None:
            self.workers.close()
            self.workers = None

    def _fresh_key(self, cert: Generated) -> PrivateKey | None:
        future = self.prefetched.pop(cert.name, None)
        try:
            return key_from_der(future.result()) if future is not None else None
        except BrokenProcessPool:
            return None  # generated here instead

    def _keep(self, role: Role, cert: Generated, existing: _Existing) -> None:
        bundle = self._remember(role, cert, existing, with_key=True)
        written: tuple[Path, ...] = ()
        if isinstance(cert, GeneratedClient) and cert.p12 is not None:
            written = self._refresh_p12(role, cert, bundle, existing)
        reason = "unchanged" + ("; .p12 exported" if written else "")
        self._record(bundle, "kept", reason, written)

    def _refresh_p12(
        self, role: Role, cert: GeneratedClient, bundle: Bundle, existing: _Existing
    ) -> tuple[Path, ...]:
        """A missing or stale .p12 (profile or password changed) gets a new generation holding
        the same key and certificate, so every generation stays complete and immutable."""
        assert cert.p12 is not None
        password = self._p12_password(cert, existing.files)
        p12 = existing.files.p12
        if layout.exists(p12):
            data = layout.read(p12, secret=True)
            if p12_profile(data) == cert.p12.profile and p12_holds(data, password, bundle):
                return ()
        key = self._key_of(cert, existing)
        files = self._generation_files(cert, Issued(existing.certificate, key))
        files |= self._p12_files(cert, bundle, existing.files)
        return self._commit(
            cert.name, role, files, bundle.fingerprint, bundle.not_after, ".p12 exported"
        )

    def _migrate(self, role: Role, cert: Generated, existing: _Existing) -> _Existing:
        """Move the old flat layout's files of this certificate into generations (hard links,
        so no key is copied; the originals go only after the manifest lists the copies)."""
        legacy = existing.files
        secret_names = (legacy.key, legacy.p12, legacy.p12_password, legacy.previous_key)
        if layout.exists(legacy.previous_crt):
            self._migrate_files(
                role, cert.name, {legacy.previous_crt: f"{cert.name}.crt",
                                  legacy.previous_key: f"{cert.name}.key"},
                secret_names, "previous generation, from the old flat layout",
            )  # fmt: skip
        current = {
            p: p.name
            for p in (legacy.crt, legacy.chain, legacy.key, legacy.p12, legacy.p12_password)
        }
        self._migrate_files(role, cert.name, current, secret_names, "from the old flat layout")
        migrated = self._existing(cert)
        assert migrated is not None
        return migrated

    def _migrate_files(
        self,
        role: Role,
        name: str,
        sources: Mapping[Path, str],
        secret_names: tuple[Path, ...],
        reason: str,
    ) -> None:
        present = {s: t for s, t in sources.items() if layout.exists(s)}
        crt = next(s for s, t in present.items() if t == f"{name}.crt")
        certificate = parse_certificates(layout.read(crt, secret=False), str(crt))[0]
        for source in present:
            if source in secret_names:
                layout.check_secret(source)
        self._commit(
            name, role, {}, certificate_fingerprint(certificate),
            certificate.not_valid_after_utc, reason,
            links={s: (t, s in secret_names) for s, t in present.items()},
        )  # fmt: skip
        self.switch()  # the copies are current and durable before an original goes
        for source in present:
            layout.remove(source)

    def _generation_files(self, cert: Generated, issued: Issued) -> dict[str, tuple[bytes, bool]]:
        files = {f"{cert.name}.crt": (issued.certificate_pem.encode("ascii"), False)}
        if not (isinstance(cert, GeneratedCA) and cert.key is not None):
            files[f"{cert.name}.key"] = (issued.key_pem.encode("ascii"), True)
        return files

    def _p12_files(
        self, cert: Generated, bundle: Bundle, previous: CertFiles | None
    ) -> dict[str, tuple[bytes, bool]]:
        if not isinstance(cert, GeneratedClient) or cert.p12 is None:
            return {}
        password, files = self._p12_password_files(cert, previous)
        ca = self.bundles.get(cert.issuer)
        files[f"{cert.name}.p12"] = (export_p12(bundle, ca, password, cert.p12.profile), True)
        return files

    def _p12_password_files(
        self, cert: GeneratedClient, previous: CertFiles | None
    ) -> tuple[bytes, dict[str, tuple[bytes, bool]]]:
        """The .p12 password (kept from the current generation, or new) and its file."""
        assert cert.p12 is not None
        found = self._current(cert.name)
        source = previous or (found[0] if found else None)
        password = self._p12_password(cert, source)
        files: dict[str, tuple[bytes, bool]] = {}
        if cert.p12.password_env is None:
            files[f"{cert.name}.p12.password"] = (password + b"\n", True)
        return password, files

    def _p12_extra(self, cert: GeneratedClient) -> list[x509.Certificate]:
        ca = self.bundles.get(cert.issuer)
        return [ca.certificate] if ca is not None else []

    def p12_password_ready(self, cert: GeneratedClient) -> None:
        if cert.p12 is not None and cert.p12.password_env is not None:
            self._p12_password(cert, None)

    def _p12_password(self, cert: GeneratedClient, files: CertFiles | None) -> bytes:
        assert cert.p12 is not None
        variable = cert.p12.password_env
        if variable is not None:
            value = self.env.get(variable, "")
            if not value:
                state = "is not set" if variable not in self.env else "is empty"
                raise CertificateError(
                    f"environment variable {variable} {state}; it holds the .p12 password "
                    f"for {cert.name!r}",
                    hint=f"set {variable}, or drop 'password_env' to have a password generated",
                )
            return value.encode("utf-8")
        if files is not None and layout.exists(files.p12_password):
            stored = layout.read(files.p12_password, secret=True).decode("utf-8").strip()
            if stored:
                return stored.encode("utf-8")
        if cert.name not in self._passwords:
            self._passwords[cert.name] = secrets.token_urlsafe(24).encode("ascii")
        return self._passwords[cert.name]

    def _commit(
        self,
        name: str,
        role: str,
        files: Mapping[str, tuple[bytes, bool]],
        fingerprint: str,
        not_after: datetime,
        reason: str,
        links: Mapping[Path, tuple[str, bool]] | None = None,
    ) -> tuple[Path, ...]:
        """Write a complete generation beside the others; the manifest is switched to it by
        `switch` (once per run: one `os.sync` makes every generation durable first)."""
        entry = self.manifest.entries.setdefault(name, Entry(role, None))
        cert_dir = self.dir.cert_dir(name)
        layout.ensure_directory(cert_dir, inside=True)
        generation = entry.next_id(
            [c.split(".")[1] if c.endswith(PARTIAL) else c for c in os.listdir(cert_dir)]
        )
        partial = cert_dir / f".{generation}{PARTIAL}"
        layout.ensure_directory(partial, inside=True)
        for file_name, (data, secret) in files.items():
            layout.write_new(partial / file_name, data, secret=secret, sync=False)
        for source, (file_name, secret) in (links or {}).items():
            layout.link_or_copy(source, partial / file_name, secret=secret)
        final = cert_dir / generation
        layout.rename(partial, final, sync=False)
        names = sorted([*files, *(t for t, _ in (links or {}).values())])
        entry.generations.append(
            Generation(
                generation, fingerprint, not_after.isoformat(), self.now.isoformat(), reason,
                names, [str(s.relative_to(self.dir.root)) for s in (links or {})],
            )
        )  # fmt: skip
        entry.current = generation
        self.unswitched = True
        return tuple(final / n for n in names)

    def switch(self) -> None:
        """Make every generation written so far durable, then switch the manifest to them in
        one `os.replace`. Before the switch they are not current: a crash leaves them to be
        recorded as abandoned by the next run."""
        if self.unswitched:
            layout.sync_all()
            manifests.save(self.dir, self.manifest)
            self.unswitched = False

    def _issue(self, cert: Generated, existing: _Existing | None) -> Issued:
        if isinstance(cert, GeneratedCA):
            if existing is not None:  # renewal for expiry: same key, so its leaves stay valid
                key = self._key_of(cert, existing)
            elif self._new_encrypted_file(cert):
                key = self._create_encrypted_key(cert)
            elif cert.key is not None:
                key = self.external_key(cert)
            else:
                key = generate_key(cert.key_type)
            return issue_ca(cert.subject, cert.key_type, cert.validity_days, self.now, key=key)
        signer = self._must_signer(cert.issuer).issued()
        fresh = self._fresh_key(cert)
        if isinstance(cert, GeneratedServer):
            return issue_server(
                signer, cert.subject, cert.key_type, cert.validity_days, self.now,
                dns_names=cert.dns_names, ip_addresses=cert.ip_addresses, key=fresh,
            )  # fmt: skip
        return issue_client(
            signer, cert.subject, cert.key_type, cert.validity_days, self.now, key=fresh
        )

    # --- remembering what exists ------------------------------------------------------------

    def _remember(
        self, role: Role, cert: Generated, existing: _Existing, *, with_key: bool = False
    ) -> Bundle:
        key_pem: str | None = None
        if with_key and existing.key_in_dir:
            key_pem = key_to_pem(self._key_of(cert, existing))
        elif with_key:
            try:
                key_pem = key_to_pem(self._key_of(cert, existing))
            except CertificateError:
                key_pem = None  # an external CA key may be absent outside apply
        bundle = Bundle.from_certificates(
            cert.name,
            role,
            existing.certificate,
            key_pem=key_pem,
            issuer_name=None if isinstance(cert, GeneratedCA) else cert.issuer,
        )
        self.bundles[cert.name] = bundle
        if isinstance(cert, GeneratedCA):
            self.signers[cert.name] = _Signer(
                cert.name, existing.certificate, lambda: self._key_of(cert, existing)
            )
        return bundle

    def _bundle(
        self, role: Role, cert: Generated, certificate: x509.Certificate, key: PrivateKey
    ) -> Bundle:
        issuer = None if isinstance(cert, GeneratedCA) else cert.issuer
        key_pem = None if pkcs11.is_token_key(key) else key_to_pem(key)  # a token key stays
        return Bundle.from_certificates(
            cert.name, role, certificate, key_pem=key_pem, issuer_name=issuer
        )

    def _remember_bundle(
        self, bundle: Bundle, name: str, is_ca: bool, load: Callable[[], PrivateKey]
    ) -> None:
        self.bundles[name] = bundle
        if is_ca:
            self.signers[name] = _Signer(name, bundle.certificate, load)

    def _record(self, bundle: Bundle, action: Action, reason: str, files: tuple[Path, ...]) -> None:
        self.actions.append(
            CertAction(
                bundle.name, bundle.role, action, reason, bundle.fingerprint, bundle.not_after,
                files,
            )
        )  # fmt: skip

    def _signer(self, name: str) -> _Signer | None:
        return self.signers.get(name)

    def _must_signer(self, name: str) -> _Signer:
        signer = self.signers.get(name)
        if signer is None:
            raise CertificateError(
                f"CA {name!r} is not available",
                hint="list the CA under 'certificates.cas' before its leaves",
            )
        return signer

    def _known_issuer(self, bundle: Bundle) -> str | None:
        last = ([bundle.certificate, *bundle.chain])[-1]
        return next(
            (
                n
                for n, b in self.bundles.items()
                if b.role == "ca" and is_signed_by(last, b.certificate)
            ),
            None,
        )

    # --- imported material ------------------------------------------------------------------

    def _import_public(self, role: Role, cert: ImportedCA | ImportedServer) -> Bundle:
        """Leaf and chain of an import, without reading its key (plan needs none)."""
        certificates = load_certificates(resolve(cert.import_.certificate, self.base_dir))
        chain = certificates[1:]
        if cert.import_.chain is not None:
            chain += load_certificates(resolve(cert.import_.chain, self.base_dir), "chain file")
        bundle = Bundle.from_certificates(cert.name, role, certificates[0], chain)
        return dataclasses.replace(bundle, issuer_name=self._known_issuer(bundle))

    def _import_key(self, cert: ImportedCA | ImportedServer) -> PrivateKey:
        if cert.import_.key is None:
            raise CertificateError(
                f"certificate {cert.name!r} has no private key, so it cannot sign",
                hint="give the CA's key ('import.key')",
            )
        return load_key_source(cert.import_.key, self.base_dir, self.env)

    # --- external CA keys ----------------------------------------------------------------

    def _new_encrypted_file(self, cert: GeneratedCA) -> bool:
        """A new CA whose key is to live, encrypted, in a file that does not exist yet."""
        source = cert.key
        return (
            source is not None
            and source.file is not None
            and source.password_env is not None
            and not pkcs11.is_uri(str(source.file))
            and not layout.exists(resolve(source.file, self.base_dir))
        )

    def passphrase(self, cert: GeneratedCA) -> bytes:
        assert cert.key is not None and cert.key.password_env is not None
        value = self.env.get(cert.key.password_env, "")
        if not value:
            raise CertificateError(
                f"CA {cert.name!r} keeps its key encrypted in {cert.key.file}, but environment "
                f"variable {cert.key.password_env} (the passphrase) is not set",
                hint=f"set {cert.key.password_env} (in GitLab CI: a masked, protected variable)",
            )
        return value.encode("utf-8")

    def _create_encrypted_key(self, cert: GeneratedCA) -> PrivateKey:
        """Generate the CA key and write it as encrypted PKCS#8 (0600, never overwriting);
        the passphrase is read now because something must be signed."""
        from cryptography.hazmat.primitives import serialization

        assert cert.key is not None and cert.key.file is not None
        key = generate_key(cert.key_type)
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self.passphrase(cert)),
        )
        path = resolve(cert.key.file, self.base_dir)
        path.parent.mkdir(mode=layout.DIR_MODE, parents=True, exist_ok=True)
        layout.write_new(path, data, secret=True)
        return key

    def external_key(self, cert: Generated) -> PrivateKey:
        assert isinstance(cert, GeneratedCA) and cert.key is not None
        uri = _token_uri(cert, self.env)
        try:
            if uri is not None:  # the key stays on a PKCS#11 token; only signatures leave it
                return pkcs11.load(uri, self.env, _source_label(cert.key.env, cert.key.file))
            return load_key_source(cert.key, self.base_dir, self.env)
        except CertificateError as exc:
            raise CertificateError(
                f"CA {cert.name!r} must sign but its key is unavailable: {exc.message}",
                hint=exc.hint,
            ) from None

    # --- read-only loading with keys ----------------------------------------------------------

    def load(self, role: Role, cert: object) -> Bundle:
        if isinstance(cert, ImportedCA | ImportedServer):
            bundle = import_bundle(cert.name, role, cert.import_, self.base_dir, self.env)
            bundle = dataclasses.replace(bundle, issuer_name=self._known_issuer(bundle))
            self._remember_bundle(bundle, cert.name, role == "ca", lambda: self._import_key(cert))
            return bundle
        assert isinstance(cert, GeneratedCA | GeneratedServer | GeneratedClient)
        existing = self._existing(cert)
        if existing is None:
            raise CertificateError(
                f"certificate {cert.name!r} is not issued yet (nothing in {self.dir.path})",
                hint=_RERUN,
            )
        return self._remember(role, cert, existing, with_key=True)


@dataclass
class _Deferred:
    """A client issued and signed, waiting for its .p12 from a worker before its commit."""

    role: Role
    cert: GeneratedClient
    files: Mapping[str, tuple[bytes, bool]]
    bundle: Bundle
    action: Action
    reason: str
    p12: Future[bytes]
    password: bytes = field(repr=False, default=b"")


def _der(certificate: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.DER)


def _token_uri(cert: GeneratedCA, env: Mapping[str, str]) -> str | None:
    assert cert.key is not None
    value = env.get(cert.key.env, "") if cert.key.env else str(cert.key.file)
    return value if pkcs11.is_uri(value) else None


def _restore_key_hint(files: CertFiles, cert: Generated) -> str:
    if isinstance(cert, GeneratedCA):
        return (
            f"restore {files.key.name} into {files.directory}/ from a backup of the PKI "
            "directory; a CA key is never re-issued (earlier generations: `deploy certs SPEC "
            "--history`)"
        )
    return f"restore {files.key.name} into {files.directory}/ from a backup of the PKI directory"


def _key_where(cert: Generated, existing: _Existing) -> str:
    if isinstance(cert, GeneratedCA) and cert.key is not None:
        return _source_label(cert.key.env, cert.key.file)
    return str(existing.files.key)


def _source_label(env: str | None, file: Path | None) -> str:
    return f"environment variable {env}" if env else f"file {file}"


def _spki_fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(spki_der(certificate.public_key())).hexdigest()
