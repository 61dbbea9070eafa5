"""`destroy --purge-pki`: delete only the files this stack's manifest says it made.

Owns the refusals that keep a purge from destroying what is not ours: a `pki_dir` that is
the spec's own directory or one above it (`pki_dir: .` or `..`), a PKI directory that
holds import sources (the user's own certificates and keys), and anything the manifest
does not list (other stacks' files, the old flat layout, files a user put there).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import layout
from elb_mtls_deploy.pki import manifest as manifests
from elb_mtls_deploy.pki.importing import resolve
from elb_mtls_deploy.pki.store import stack_dir
from elb_mtls_deploy.spec.model import ImportedCA, ImportedServer, Spec


def check_purge(spec: Spec, base_dir: Path) -> None:
    """Refuse before anything is deleted (in the cloud or on disk)."""
    root = (base_dir / spec.pki_dir).resolve()
    spec_dir = base_dir.resolve()
    if root == spec_dir or root in spec_dir.parents:
        raise CertificateError(
            f"refusing --purge-pki: pki_dir {spec.pki_dir} is the spec's directory or above it "
            f"({root}); nothing was deleted",
            hint="set 'pki_dir' to a directory of its own (the default is pki/), or delete "
            "the files by hand",
        )
    inside = [p for p in _import_sources(spec, base_dir) if p == root or root in p.parents]
    if inside:
        raise CertificateError(
            f"refusing --purge-pki: the PKI directory {root} holds import sources "
            f"({', '.join(str(p) for p in inside)}); nothing was deleted",
            hint="keep imported certificates and keys outside 'pki_dir'",
        )


def _import_sources(spec: Spec, base_dir: Path) -> list[Path]:
    found = []
    for _, cert in spec.all_certificates():
        if isinstance(cert, ImportedCA | ImportedServer):
            source = cert.import_
            paths = [source.certificate, source.chain, source.key.file if source.key else None]
            found += [resolve(p, base_dir).resolve() for p in paths if p is not None]
        elif getattr(cert, "key", None) is not None and cert.key.file is not None:
            found.append(resolve(cert.key.file, base_dir).resolve())
    return found


def purge(spec: Spec, base_dir: Path) -> list[Path]:
    """Delete the files the manifest lists, then the manifest, lock and empty directories."""
    check_purge(spec, base_dir)
    directory = stack_dir(spec, base_dir)
    if not layout.check_directory(directory.path, inside=True):
        return []
    manifest = manifests.load(directory)
    deleted = []
    for path in [*manifest.files(directory), directory.manifest, directory.lock]:
        if layout.exists(path) and not os.path.isdir(path):
            layout.remove(path)
            deleted.append(path)
    for name, entry in manifest.entries.items():
        for generation in entry.generations:
            _rmdir(directory.generation(name, generation.id).directory)
        _rmdir(directory.cert_dir(name))
    _rmdir(directory.path)
    _rmdir(directory.root)
    return deleted


def _rmdir(path: Path) -> None:
    """Remove a directory only if it is empty (what we did not list stays)."""
    with contextlib.suppress(OSError):
        os.rmdir(path)
