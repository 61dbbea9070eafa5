"""Repairing what a killed writer left in a stack's PKI directory, before the next write.

A generation is written into `.NNNN.partial/`, renamed to `NNNN/`, and becomes current
only when `manifest.json` is switched (layout.py). So after a SIGKILL:

- a `.NNNN.partial/` was never switched to: deleted (its key was never used anywhere);
- a complete `NNNN/` the manifest does not list was renamed but not switched to: kept and
  listed as abandoned (never uploaded, never current; every generation is kept);
- an old-layout file whose copy the manifest already lists (killed during a migration):
  removed once its bytes equal the copy's;
- a `.manifest.json.tmp` (public data): removed.

Runs under the writer's lock; `store.py` calls `recover` before it decides anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import layout
from elb_mtls_deploy.pki import manifest as manifests
from elb_mtls_deploy.pki.bundle import certificate_fingerprint
from elb_mtls_deploy.pki.layout import PARTIAL, CertFiles, StackDir
from elb_mtls_deploy.pki.manifest import Entry, Generation, Manifest
from elb_mtls_deploy.pki.pem import parse_certificates


def recover(
    directory: StackDir, manifest: Manifest, roles: Mapping[str, str], now: datetime
) -> None:
    """Create the directories, then finish or roll back a killed run's writes (in place on
    `manifest`, saved when it changed)."""
    layout.ensure_directory(directory.root, inside=False)
    layout.ensure_directory(directory.path, inside=True)
    layout.remove(directory.path / f".{layout.MANIFEST}.tmp")
    changed = False
    for child in sorted(os.listdir(directory.path)):
        cert_dir = directory.path / child
        if child.startswith(".") or not os.path.isdir(cert_dir) or os.path.islink(cert_dir):
            continue
        layout.check_directory(cert_dir, inside=True)
        changed |= _recover(manifest, child, cert_dir, roles.get(child, "ca"), now)
    _finish_migrations(directory, manifest)
    if changed:
        manifests.save(directory, manifest)


def _recover(manifest: Manifest, name: str, cert_dir: Path, role: str, now: datetime) -> bool:
    entry = manifest.entries.get(name)
    listed = {g.id for g in entry.generations} if entry else set()
    changed = False
    for child in sorted(os.listdir(cert_dir)):
        path = cert_dir / child
        if child.endswith(PARTIAL):
            layout.remove(path)
        elif child.isdigit() and child not in listed:
            entry = manifest.entries.setdefault(name, Entry(role, None))
            entry.generations.append(_abandoned(name, child, path, now))
            changed = True
    return changed


def _abandoned(name: str, generation: str, path: Path, now: datetime) -> Generation:
    files = sorted(os.listdir(path))
    fingerprint = ""
    crt = CertFiles(path, name).crt
    if layout.exists(crt):
        try:
            certificate = parse_certificates(layout.read(crt, secret=False), str(crt))[0]
            fingerprint = certificate_fingerprint(certificate)
        except CertificateError:
            pass
    return Generation(
        generation, fingerprint, "", now.isoformat(),
        "written by a run that was killed before switching to it; never used", files,
        abandoned=True,
    )  # fmt: skip


def _finish_migrations(directory: StackDir, manifest: Manifest) -> None:
    for name, entry in manifest.entries.items():
        for generation in entry.generations:
            for original in generation.migrated_from:
                _unlink_migrated(directory, directory.root / original, name, generation.id)


def _unlink_migrated(directory: StackDir, original: Path, name: str, generation: str) -> None:
    copy = directory.generation(name, generation).directory / original.name.replace(".previous", "")
    if not layout.exists(original) or not layout.exists(copy):
        return
    secret = original.name.endswith((".key", ".p12", ".password"))
    if layout.read(original, secret=secret) == layout.read(copy, secret=secret):
        layout.remove(original)
