"""The exception tree of elb-mtls-deploy; every failure a user can meet is one of these.

    DeployError                  root; `str(exc)` is the whole message a user sees
    ├── SpecError                the YAML spec: syntax, schema, references (file:line:col)
    │   └── ImportRefused        `deploy import` cannot adopt a setup safely (adopt.py)
    ├── CertificateError         PEM, keys, passwords, PKI files, lint errors
    ├── PlanError                saved plans: unreadable, stale, for another stack
    ├── CloudError               the ELB API, translated once in the cloud adapter
    │   ├── NotFoundError        404
    │   ├── ConflictError        409 (in use, port taken, busy load balancer)
    │   ├── TransientError       429, 5xx, connection problems: safe to retry
    │   └── PermanentError       anything else (400, 401, 403, ...)
    └── FileSystemError          disk full, read-only, permissions (`from_os_error`)

`user_message` is the one mapping of any exception to what the CLI prints. Messages say
what was wrong, where, and what to do. They never contain key material,
passwords or the secret access key: every message and hint is redacted, when the error is
made, against the secrets this process knows (`register_secret`: the SK, the security
token, key and .p12 passwords, each line of a private key sent to the cloud).
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterable

# Secret lines shorter than this are not redacted on their own (a 4-character PEM tail
# line would blank out ordinary words); whole secrets are redacted from 4 characters.
MIN_SECRET_LINE = 16
_MIN_SECRET = 4
_REDACTED = "[redacted]"
_known: set[str] = set()
_known_lock = threading.Lock()


def secret_fragments(secret: str) -> list[str]:
    """What of `secret` must never be shown: the whole value and each long line of it
    (a gateway that echoes part of a request body echoes lines, not whole keys)."""
    parts = {secret.strip()} if len(secret.strip()) >= _MIN_SECRET else set()
    if "\n" in secret:
        parts |= {
            line.strip()
            for line in secret.splitlines()
            if len(line.strip()) >= MIN_SECRET_LINE and not line.startswith("-----")
        }
    return sorted(parts, key=len, reverse=True)  # longest first: no half-redacted lines


def register_secret(secret: str | bytes | None) -> None:
    """Remember a secret for the life of the process; every later message omits it."""
    if isinstance(secret, bytes):
        secret = secret.decode("utf-8", "replace")
    if not secret:
        return
    with _known_lock:
        _known.update(secret_fragments(secret))


def redact_secrets(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every registered secret, and every fragment of `extra`, replaced."""
    with _known_lock:
        fragments = set(_known)
    for secret in extra:
        if secret:
            fragments.update(secret_fragments(secret))
    for fragment in sorted(fragments, key=len, reverse=True):
        if fragment in text:
            text = text.replace(fragment, _REDACTED)
    return text


class DeployError(Exception):
    """Root of every error this tool raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        message = redact_secrets(message)
        super().__init__(message)
        self.message = message
        self.hint = None if hint is None else redact_secrets(hint)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message


class SpecError(DeployError):
    """The spec file is not valid; `problems` holds one line per finding."""

    def __init__(self, message: str, *, problems: tuple[str, ...] = (), hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = tuple(redact_secrets(p) for p in problems)

    def __str__(self) -> str:
        lines = [self.message, *(f"  {p}" for p in self.problems)]
        if self.hint:
            lines.append(f"  fix: {self.hint}")
        return "\n".join(lines)


class CertificateError(DeployError):
    """A certificate, key or PKI file is unusable."""


class PlanError(DeployError):
    """A saved plan cannot be applied."""


class CloudError(DeployError):
    """The ELB API refused or failed a call.

    `busy` marks a 409 from a load balancer still applying another change (retry later);
    `retry_after` carries the server's Retry-After seconds (429/503), when given;
    `unanswered` marks a call that got no reply (it may still be processed, later).
    """

    busy: bool = False
    retry_after: float | None = None
    unanswered: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        details = ", ".join(
            f"{k} {v}"
            for k, v in (("status", self.status), ("code", self.code), ("request", self.request_id))
            if v
        )
        base = f"{self.message} ({details})" if details else self.message
        return f"{base}\n  fix: {self.hint}" if self.hint else base


class NotFoundError(CloudError):
    """The resource does not exist (any more)."""


class ConflictError(CloudError):
    """The resource is in use, the port is taken, or the load balancer is busy."""


class TransientError(CloudError):
    """Throttling, a server error or a lost connection: the call may be repeated."""


class PermanentError(CloudError):
    """A refusal that repeating will not fix."""


class FileSystemError(DeployError):
    """A file or directory the tool writes (PKI dir, saved plan, state) cannot be written."""


# errno -> (what happened, what to do); the cases a user can fix outside the tool.
_FILE_PROBLEMS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full", "free some space, or point the path elsewhere"),
    errno.EDQUOT: ("the disk quota is exhausted", "free some space, or point the path elsewhere"),
    errno.EROFS: ("the file system is read-only", "use a writable directory"),
    errno.EACCES: ("permission denied", "check the owner and mode of the file and its directory"),
    errno.EPERM: ("operation not permitted", "check the owner and mode of the file"),
    errno.ENOTDIR: (
        "a part of the path is a file, not a directory",
        "check the path (e.g. pki_dir in the spec)",
    ),
    errno.EEXIST: (
        "it exists and is not a directory",
        "remove or rename the file, or set another pki_dir",
    ),
    errno.EISDIR: ("it is a directory", "give a file name, not a directory"),
}


def from_os_error(exc: BaseException) -> DeployError | None:
    """One clear error for a file-system failure a user can fix (disk full, read-only,
    permissions, a file where a directory should be), naming the path; None otherwise."""
    if not isinstance(exc, OSError) or exc.errno not in _FILE_PROBLEMS:
        return None
    what, fix = _FILE_PROBLEMS[exc.errno]
    where = exc.filename if exc.filename is not None else "a file"
    return FileSystemError(f"cannot use {where}: {what}", hint=fix)


def user_message(exc: Exception) -> tuple[str, str]:
    """(type name, message) for the one line a user sees: a `DeployError` as it is, an OS
    error they can fix as a `FileSystemError`, anything else as a bug to report."""
    exc = exc if isinstance(exc, DeployError) else from_os_error(exc) or exc
    if isinstance(exc, DeployError):
        return type(exc).__name__, str(exc)
    return type(exc).__name__, (
        f"unexpected {type(exc).__name__}; this is a bug in elb-mtls-deploy "
        "(run again with --debug for the traceback and report it)"
    )
