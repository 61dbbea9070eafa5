"""The ownership manifest: which stack owns a PKI directory and every generation in it.

`<pki_dir>/<stack>/manifest.json` records, per certificate, its role, the current
generation and every generation ever written (id, fingerprint, expiry, why it was made,
which files it holds). It is the pointer that `store.py` switches atomically after a
generation is complete, and what `destroy --purge-pki` reads to delete only this stack's
files. Pure values plus one read and one write through `layout.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elb_mtls_deploy.errors import CertificateError
from elb_mtls_deploy.pki import layout
from elb_mtls_deploy.pki.layout import StackDir

FORMAT = 1


@dataclass
class Generation:
    id: str
    fingerprint: str
    not_after: str
    created: str
    reason: str
    files: list[str]
    migrated_from: list[str] = field(default_factory=list)
    abandoned: bool = False  # written completely, but a crash came before the switch


@dataclass
class Entry:
    role: str
    current: str | None
    generations: list[Generation] = field(default_factory=list)

    def next_id(self, on_disk: list[str]) -> str:
        used = [int(g.id) for g in self.generations] + [int(i) for i in on_disk if i.isdigit()]
        return f"{max(used, default=0) + 1:04d}"


@dataclass
class Manifest:
    stack: str
    entries: dict[str, Entry] = field(default_factory=dict)

    def to_json(self) -> bytes:
        entries = {
            name: {
                "role": e.role,
                "current": e.current,
                "generations": [vars(g) for g in e.generations],
            }
            for name, e in self.entries.items()
        }
        document = {"format": FORMAT, "tool": "elb-mtls-deploy", "stack": self.stack}
        document["entries"] = entries
        return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode("utf-8")

    def files(self, directory: StackDir) -> list[Path]:
        """Every file this stack wrote, per the manifest (what `--purge-pki` may delete)."""
        return [
            directory.generation(name, g.id).directory / f
            for name, entry in self.entries.items()
            for g in entry.generations
            for f in g.files
        ]


def load(directory: StackDir) -> Manifest:
    """The stack's manifest, or an empty one when the stack has none yet."""
    if not layout.exists(directory.manifest):
        return Manifest(directory.stack)
    raw = layout.read(directory.manifest, secret=False)
    try:
        document = json.loads(raw)
        manifest = _parse(document)
    except (ValueError, KeyError, TypeError):
        raise CertificateError(
            f"{directory.manifest} is damaged",
            hint="restore it from a backup; the generations it listed are still in "
            f"{directory.path}/<name>/",
        ) from None
    if manifest.stack != directory.stack:
        raise CertificateError(
            f"{directory.path} belongs to stack {manifest.stack!r}, not {directory.stack!r}",
            hint="give this stack its own 'pki_dir' (a CA belongs to exactly one stack)",
        )
    return manifest


def _parse(document: Any) -> Manifest:
    if document.get("format") != FORMAT:
        raise ValueError("format")
    entries = {
        name: Entry(
            role=str(e["role"]),
            current=e["current"],
            generations=[Generation(**g) for g in e["generations"]],
        )
        for name, e in document["entries"].items()
    }
    return Manifest(str(document["stack"]), entries)


def save(directory: StackDir, manifest: Manifest) -> None:
    layout.replace_file(directory.manifest, manifest.to_json())


def other_stacks(root: Path, stack: str) -> dict[str, Manifest]:
    """Manifests of the other stacks sharing this PKI root (read-only)."""
    found: dict[str, Manifest] = {}
    if not layout.check_directory(root, inside=False):
        return found
    for child in sorted(root.iterdir()):
        if child.name == stack or child.is_symlink() or not child.is_dir():
            continue
        directory = StackDir(root, child.name)
        if layout.exists(directory.manifest):
            try:
                found[child.name] = load(directory)
            except CertificateError:
                continue
    return found
