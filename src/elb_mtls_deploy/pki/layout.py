"""The PKI directory on disk: where each file lives, and the only code that touches it.

Layout (docs/pki.md): `<pki_dir>/<stack>/manifest.json` names, per certificate, its
current generation and every earlier one; `<pki_dir>/<stack>/<name>/<NNNN>/` holds one
generation (`<name>.crt`, `.chain.crt`, `.key`, `.p12`, `.p12.password`). A generation is
written into `.<NNNN>.partial/` and renamed into place, then the manifest is replaced in
one `os.replace`: that is the atomic switch. Generations are never deleted.

Owns the safety rules: directories 0700 and never group/world-writable, key files exactly
0600, no symlink followed inside the PKI directory (`lstat` on every component, files
opened with `O_NOFOLLOW`), files created with `O_EXCL` at their final mode before any
byte is written. Must not decide *whether* to write — that is `store.py`'s job.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elb_mtls_deploy.errors import CertificateError

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o700
MANIFEST = "manifest.json"
LOCK = ".lock"
PARTIAL = ".partial"

# Test seam: called with a label before every file operation that changes the disk, so a
# test can kill the process at each one (tests/pki/test_pki_crash.py).
crash_hook: Callable[[str], None] | None = None


def _op(label: str) -> None:
    if crash_hook is not None:
        crash_hook(label)


@dataclass(frozen=True)
class CertFiles:
    """The files of one generation of one certificate (or of the old flat layout)."""

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


@dataclass(frozen=True)
class StackDir:
    """One stack's part of the PKI directory."""

    root: Path  # the spec's pki_dir, resolved
    stack: str

    @property
    def path(self) -> Path:
        return self.root / self.stack

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    def cert_dir(self, name: str) -> Path:
        return self.path / name

    def generation(self, name: str, generation: str) -> CertFiles:
        return CertFiles(self.cert_dir(name) / generation, name)

    def legacy(self, name: str) -> CertFiles:
        """The flat layout of earlier versions: `<pki_dir>/<name>.*`."""
        return CertFiles(self.root, name)


# --- checks ----------------------------------------------------------------------------


def check_directory(path: Path, *, inside: bool) -> bool:
    """False if absent; an error if it is a symlink (inside the PKI dir), not a directory,
    or writable by group or others (anyone could plant a CA there)."""
    try:
        info = os.lstat(path) if inside else os.stat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise CertificateError(
            f"{path} is a symbolic link inside the PKI directory; links are never followed",
            hint=f"replace it with the real directory (`mv` its target to {path})",
        )
    if not stat.S_ISDIR(info.st_mode):
        raise CertificateError(f"{path} is not a directory", hint="move it away")
    if info.st_mode & 0o022:
        raise CertificateError(
            f"the PKI directory {path} is writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}): anyone could plant a CA there",
            hint=f"chmod 700 {path}",
        )
    return True


def exists(path: Path) -> bool:
    """`lstat`-based: a dangling or planted symlink counts as present (and is refused on read)."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    return True


def read(path: Path, *, secret: bool) -> bytes:
    """A regular file's bytes, never through a symlink; a secret must be exactly 0600."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CertificateError(f"{path} does not exist", hint=_restore_hint(path)) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component is a symlink
            raise CertificateError(
                f"{path} is a symbolic link inside the PKI directory; links are never followed",
                hint=f"replace it with the real file: `cp --remove-destination "
                f"$(readlink -f {path}) {path}`",
            ) from None
        raise CertificateError(
            f"cannot read {path}: {exc.strerror}", hint="check the file's permissions"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CertificateError(f"{path} is not a regular file", hint="move it away")
        if secret and stat.S_IMODE(info.st_mode) != SECRET_MODE:
            raise CertificateError(
                f"the secret file {path} has mode {stat.S_IMODE(info.st_mode):04o}, not 0600",
                hint=f"chmod 600 {path}",
            )
        return handle.read()


def _restore_hint(path: Path) -> str:
    return (
        f"restore {path.name} from a backup of the PKI directory; earlier generations are in "
        f"{path.parent.parent}/ and listed by `deploy certs SPEC --history`"
    )


# --- writes ----------------------------------------------------------------------------


def ensure_directory(path: Path, *, inside: bool) -> None:
    """Create `path` 0700 (parents too) unless it exists; an existing one must be safe."""
    if check_directory(path, inside=inside):
        return
    _op(f"mkdir {path.name}")
    try:
        path.mkdir(mode=DIR_MODE, parents=True)
        os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise CertificateError(
            f"cannot create the PKI directory {path}: {exc.strerror}",
            hint="check the permissions of its parent, or set 'pki_dir' in the spec",
        ) from None


def write_new(path: Path, data: bytes, *, secret: bool, sync: bool = True) -> None:
    """Create a file that must not exist yet, at its final mode before any byte is written.
    `sync=False` leaves durability to a later `sync_all` (one flush for a whole batch)."""
    _op(f"create {path.parent.name}/{path.name}")
    mode = SECRET_MODE if secret else PUBLIC_MODE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        _op(f"write {path.parent.name}/{path.name}")
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def link_or_copy(source: Path, target: Path, *, secret: bool) -> None:
    """Put an existing file (old layout) into a new generation without a second copy of a
    key when the filesystem allows a hard link."""
    _op(f"link {target.parent.name}/{target.name}")
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        write_new(target, read(source, secret=secret), secret=secret)


def replace_file(path: Path, data: bytes) -> None:
    """Replace a public file (the manifest) in one step: temp file, fsync, `os.replace`."""
    temp = path.with_name(f".{path.name}.tmp")
    remove(temp)
    write_new(temp, data, secret=False)
    _op(f"replace {path.name}")
    os.replace(temp, path)
    fsync_directory(path.parent)


def rename(source: Path, target: Path, *, sync: bool = True) -> None:
    _op(f"rename {source.name}")
    os.rename(source, target)
    if sync:
        fsync_directory(target.parent)


def sync_all() -> None:
    """Flush every written file and directory entry to disk (sync(2) waits on Linux): one
    call instead of an fsync per file of a batch of generations."""
    _op("sync")
    os.sync()


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    """Remove one file or link (never what a link points at)."""
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(path) and not os.path.islink(path):
            _op(f"rmtree {path.name}")
            shutil.rmtree(path)  # fd-based on Linux: does not follow symlinks
        else:
            _op(f"unlink {path.name}")
            os.unlink(path)


def open_lock(path: Path, *, create: bool) -> int | None:
    """The lock file's descriptor, never through a symlink; None if absent and not created."""
    # A reader opens read-only (flock works on any descriptor): a read-only cache still plans.
    access = os.O_RDWR | os.O_CREAT if create else os.O_RDONLY
    flags = access | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, SECRET_MODE)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CertificateError(
                f"{path} is a symbolic link; the lock file is never followed",
                hint=f"rm {path}",
            ) from None
        raise


def check_secret(path: Path) -> None:
    """A key file must be a regular file (not a link) of mode exactly 0600; checked without
    reading it (plan needs no private key)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise CertificateError(
            f"{path} is a symbolic link inside the PKI directory; links are never followed",
            hint=f"replace it with the real file: `cp --remove-destination "
            f"$(readlink -f {path}) {path}`",
        )
    if not stat.S_ISREG(info.st_mode):
        raise CertificateError(f"{path} is not a regular file", hint="move it away")
    if stat.S_IMODE(info.st_mode) != SECRET_MODE:
        raise CertificateError(
            f"the secret file {path} has mode {stat.S_IMODE(info.st_mode):04o}, not 0600",
            hint=f"chmod 600 {path}",
        )
