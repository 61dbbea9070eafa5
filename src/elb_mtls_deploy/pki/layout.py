"""The PKI directory on disk: file names per certificate and safe writes.

Owns the layout (`<name>.crt`, `<name>.chain.crt`, `<name>.key`, `<name>.p12`,
`<name>.p12.password`, `<name>.previous.*`), the 0700 directory, atomic writes (temp file in
the same directory + `os.replace`) and 0600 permissions set before any secret byte is
written. Must not decide *whether* to write — that is `store.py`'s job.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from elb_mtls_deploy.errors import CertificateError

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o700


@dataclass(frozen=True)
class CertFiles:
    """Where one certificate's files live."""

    directory: Path
    name: str

    def _path(self, suffix: str) -> Path:
        return self.directory / f"{self.name}{suffix}"

    @property
    def crt(self) -> Path:
        return self._path(".crt")

    @property
    def chain(self) -> Path:
        return self._path(".chain.crt")

    @property
    def key(self) -> Path:
        return self._path(".key")

    @property
    def p12(self) -> Path:
        return self._path(".p12")

    @property
    def p12_password(self) -> Path:
        return self._path(".p12.password")

    @property
    def previous_crt(self) -> Path:
        return self._path(".previous.crt")

    @property
    def previous_key(self) -> Path:
        return self._path(".previous.key")


def ensure_directory(path: Path) -> None:
    """Create the PKI dir 0700; an existing one is left as the user set it."""
    if path.is_dir():
        return
    try:
        path.mkdir(mode=DIR_MODE, parents=True)
        os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise CertificateError(
            f"cannot create the PKI directory {path}: {exc.strerror}",
            hint="check the permissions of its parent, or set 'pki_dir' in the spec",
        ) from None


def write_atomic(path: Path, data: bytes, *, secret: bool) -> None:
    """Replace `path` in one step; readers never see a half-written file."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600 already; set the final mode before writing any content.
        os.fchmod(fd, SECRET_MODE if secret else PUBLIC_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write a public file only when its content differs (keeps mtimes stable)."""
    if path.exists() and path.read_bytes() == data:
        return False
    write_atomic(path, data, secret=False)
    return True


def move_aside(source: Path, target: Path) -> bool:
    """Rename `source` to `target` (replacing an older `.previous`); False if absent."""
    if not source.exists():
        return False
    os.replace(source, target)
    return True
