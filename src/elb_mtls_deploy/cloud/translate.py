"""The one place SDK exceptions become `elb_mtls_deploy.errors.CloudError`s.

    ClientRequestException 404            -> NotFoundError
    ClientRequestException 409            -> ConflictError (.busy: the load balancer is updating)
    ClientRequestException 429            -> TransientError (.retry_after: seconds or None)
    ClientRequestException other 4xx      -> PermanentError (401: AK/SK or clock hint)
    ServerResponseException (5xx)         -> TransientError
    Connection/Timeout/HostUnreachable/SSL-> TransientError (endpoint reachable?)
    other SdkException                    -> TransientError (urllib3 retry errors and the like)

Every error carries `retry_after` (seconds from a `Retry-After` header on 429/5xx, else
None) and `busy` (True only for a busy-LB 409) attributes.
Messages read "<operation> <kind> <target> failed: <error_msg>"; they never include a
request body, and any PEM private-key block or known secret the server might echo back
is redacted. The SDK is imported lazily so that importing this module stays cheap.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from elb_mtls_deploy.errors import (
    CloudError,
    ConflictError,
    NotFoundError,
    PermanentError,
    TransientError,
)

# Attribute our exception handler (sdk.py) puts on SDK exceptions: the raw Retry-After.
RETRY_AFTER_ATTR = "elb_mtls_deploy_retry_after"

# A 409 that means "the load balancer is busy" rather than "in use"/"taken": the LB is not
# ACTIVE (PENDING_UPDATE) while another change is applied (docs/api-notes.md §2.1 "Updates require
# the owning LB to be ACTIVE"). The emulator's injected fault uses code ELB.8907 (a guess).
_BUSY_CODES = frozenset({"ELB.8907"})
_BUSY_TEXT = re.compile(
    r"busy|pending[_ ]?(update|create|delete)|not active|provisioning[_ ]status|"
    r"immutable|being (updated|modified)|try again later",
    re.IGNORECASE,
)
_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
    re.DOTALL,
)
_MAX_MESSAGE = 600


def is_busy(status: int | None, code: str | None, message: str) -> bool:
    """The busy-409 rule: status 409 and a busy code or busy wording in the message."""
    if status != 409:
        return False
    return (code or "") in _BUSY_CODES or bool(_BUSY_TEXT.search(message))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date); None if absent/garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove private-key PEM blocks and the given secrets from a server message."""
    text = _PRIVATE_KEY_BLOCK.sub("[private key redacted]", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "..."
    return text


@contextmanager
def translating(
    operation: str,
    kind: str,
    target: str,
    *,
    endpoint: str = "",
    secrets: Iterable[str] = (),
) -> Iterator[None]:
    """Run an SDK call; re-raise any SDK exception as our CloudError, `from` the original."""
    from huaweicloudsdkcore.exceptions import exceptions as sdk_exc

    try:
        yield
    except sdk_exc.SdkException as exc:
        raise translate(exc, operation, kind, target, endpoint=endpoint, secrets=secrets) from exc


def translate(
    exc: Any,
    operation: str,
    kind: str,
    target: str,
    *,
    endpoint: str = "",
    secrets: Iterable[str] = (),
) -> CloudError:
    """The CloudError for one SDK exception (see the module docstring for the table)."""
    from huaweicloudsdkcore.exceptions import exceptions as sdk_exc

    raw = getattr(exc, "error_msg", None) or exc.__class__.__name__
    text = f"{operation} {kind} {target} failed: {redact(str(raw), secrets)}"
    if isinstance(exc, sdk_exc.ServiceResponseException):
        return _from_response(exc, text)
    if isinstance(exc, sdk_exc.ConnectionException | sdk_exc.RequestTimeoutException):
        where = f" at {endpoint}" if endpoint else ""
        return _with(TransientError(text, hint=f"is the ELB endpoint{where} reachable from here?"))
    return _with(TransientError(text))


def _from_response(exc: Any, text: str) -> CloudError:
    status = int(exc.status_code)
    code = exc.error_code or None
    request_id = exc.request_id or None
    common: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    retry_after = parse_retry_after(getattr(exc, RETRY_AFTER_ATTR, None))
    if status >= 500:
        return _with(
            TransientError(text, hint="a server-side error; retry later", **common),
            retry_after=retry_after,
        )
    if status == 404:
        return _with(NotFoundError(text, **common))
    if status == 409:
        busy = is_busy(status, code, text)
        hint = (
            "the load balancer is busy applying another change; retry in a few seconds"
            if busy
            else "the resource is in use, or the port/address is already taken"
        )
        return _with(ConflictError(text, hint=hint, **common), busy=busy)
    if status == 429:
        return _with(
            TransientError(text, hint="the API is throttling requests; retry later", **common),
            retry_after=retry_after,
        )
    return _with(PermanentError(text, hint=_permanent_hint(status), **common))


def _permanent_hint(status: int) -> str | None:
    if status == 401:
        return (
            "check the access key and secret key (HUAWEICLOUD_SDK_AK/SK or HW_ACCESS_KEY/"
            "HW_SECRET_KEY) and that this machine's clock is within 15 minutes of real time"
        )
    if status == 403:
        return "the IAM user lacks ELB permissions in this project (or enterprise project)"
    return None


def _with(err: CloudError, *, busy: bool = False, retry_after: float | None = None) -> CloudError:
    # Attributes live on the instance so errors.py stays version-neutral.
    err.busy = busy
    err.retry_after = retry_after
    return err
