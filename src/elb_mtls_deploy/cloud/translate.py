"""The one place SDK exceptions become `elb_mtls_deploy.errors.CloudError`s.

    ClientRequestException 404 ELB.*/none -> NotFoundError (the resource is gone)
    ClientRequestException 404 APIGW.*    -> PermanentError (wrong endpoint/region/API version)
    ClientRequestException 409            -> ConflictError (.busy only from the wording)
    ClientRequestException 429            -> TransientError (.retry_after: seconds or None)
    ClientRequestException other 4xx      -> PermanentError (401: AK/SK or clock hint)
    ServerResponseException (5xx)         -> TransientError
    Connection/Timeout/HostUnreachable/SSL-> TransientError (endpoint reachable?)
    requests ReadTimeout, cut or undecodable body, other RequestException
                                          -> TransientError (the outcome is unknown)
    other SdkException                    -> TransientError (urllib3 retry errors and the like)

Every error carries `retry_after` (seconds from a `Retry-After` header on 429/5xx, clamped
to `MAX_RETRY_AFTER`, else None) and `busy` (True only for a busy-LB 409) attributes.
Messages read "<operation> <kind> <target> failed: <error_msg>"; they never include a
request body, and any PEM private-key block, any line of a secret sent with the call and
any secret known to the process (`errors.register_secret`) is redacted. The SDK is
imported lazily so that importing this module stays cheap.
"""

from __future__ import annotations

import email.utils
import math
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
    redact_secrets,
)

# Attribute our exception handler (sdk.py) puts on SDK exceptions: the raw Retry-After.
RETRY_AFTER_ATTR = "elb_mtls_deploy_retry_after"

# A 409 that means "the load balancer is busy" rather than "in use"/"taken": the LB is not
# ACTIVE (PENDING_UPDATE) while another change is applied (docs/api-notes.md §2.1 "Updates require
# the owning LB to be ACTIVE"). Decided from the wording only: ELB.8907 is also the real
# "already has a listener with protocol_port" conflict (docs/api-notes.md §10.1). The
# wording is unverified; the pattern covers the emulator's message and Octavia-style
# phrasings ("is immutable and cannot be updated").
_BUSY_TEXT = re.compile(
    r"\bbusy\b|pending[_ ]?(update|create|delete)|not active|\bimmutable\b|"
    r"being (updated|modified|provisioned)|try again later",
    re.IGNORECASE,
)
# Retry-After beyond this is not believed (a proxy's 100000 or a date in 2099 would hang
# the apply); the retry loop clamps it further to the call's remaining deadline.
MAX_RETRY_AFTER = 300.0
_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
    re.DOTALL,
)
_MAX_MESSAGE = 600


def is_busy(status: int | None, message: str) -> bool:
    """The busy-409 rule: status 409 and busy wording in the message (never the code)."""
    return status == 409 and bool(_BUSY_TEXT.search(message))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date, RFC 9110 §10.2.3), at most
    `MAX_RETRY_AFTER`; None if absent, garbled or not finite ("inf", "nan")."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove private-key PEM blocks, every line of the given secrets and every secret the
    process knows (`errors.register_secret`) from a server message."""
    text = _PRIVATE_KEY_BLOCK.sub("[private key redacted]", text)
    text = redact_secrets(text, secrets)
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
    import requests
    from huaweicloudsdkcore.exceptions import exceptions as sdk_exc

    try:
        yield
    except (sdk_exc.SdkException, requests.RequestException) as exc:
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
    import requests
    from huaweicloudsdkcore.exceptions import exceptions as sdk_exc

    if isinstance(exc, requests.RequestException):
        return _from_transport(exc, f"{operation} {kind} {target} failed", endpoint)
    raw = getattr(exc, "error_msg", None) or exc.__class__.__name__
    text = f"{operation} {kind} {target} failed: {redact(str(raw), secrets)}"
    if isinstance(exc, sdk_exc.ServiceResponseException):
        return _from_response(exc, text)
    if isinstance(exc, sdk_exc.ConnectionException | sdk_exc.RequestTimeoutException):
        return _with(TransientError(text, hint=_reachable(endpoint)), unanswered=True)
    return _with(TransientError(text))


def _reachable(endpoint: str) -> str:
    where = f" at {endpoint}" if endpoint else ""
    return f"is the ELB endpoint{where} reachable from here?"


def _from_transport(exc: Any, text: str, endpoint: str) -> CloudError:
    """`requests` errors the SDK lets through (docs/api-notes.md §10.1): a read timeout, a
    reply cut mid-body or undecodable. The request may have been processed: transient,
    and a create is looked up before it is sent again (resilient.py). The exception text
    (urllib3 internals, maybe a URL) is not shown; its class name says enough."""
    import requests

    if isinstance(exc, requests.Timeout):
        what = "no reply within the read timeout"
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.ConnectionError):
        what = "the reply was cut off"
    elif isinstance(exc, requests.exceptions.ContentDecodingError):
        what = "the reply could not be decoded"
    else:
        what = "the request failed in transport"
    err = TransientError(f"{text}: {what} ({type(exc).__name__})", hint=_reachable(endpoint))
    return _with(err, unanswered=True)


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
            unanswered=status in _GATEWAY_GAVE_UP,
        )
    if status == 404:
        if (code or "").upper().startswith("APIGW."):
            return _with(PermanentError(text, hint=_GATEWAY_404, **common))
        return _with(NotFoundError(text, **common))
    if status == 409:
        busy = is_busy(status, text)
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
    return _with(PermanentError(text, hint=_permanent_hint(status, code), **common))


# A 404 from the API gateway (APIGW.0101 "the API does not exist") means no such API at
# this endpoint, not "resource gone" (docs/api-notes.md §10.1): destroy must not succeed.
_GATEWAY_404 = (
    "the API gateway does not know this API: check the endpoint, the region and the API "
    "version (target.api v3 for dedicated, v2 for shared load balancers)"
)


def _permanent_hint(status: int, code: str | None) -> str | None:
    if code == "ELB.9801":
        return (
            "this IAM user is scoped to an enterprise project: set target.enterprise_project_id "
            "to that project's id (docs/api-notes.md §10.1)"
        )
    if status == 401:
        return (
            "check the access key and secret key (HUAWEICLOUD_SDK_AK/SK or HW_ACCESS_KEY/"
            "HW_SECRET_KEY) and that this machine's clock is within 15 minutes of real time"
        )
    if status == 403:
        return "the IAM user lacks ELB permissions in this project (or enterprise project)"
    return None


# 502/504: a gateway gave up waiting; the service behind it may still commit the request.
_GATEWAY_GAVE_UP = frozenset({502, 504})


def _with(
    err: CloudError,
    *,
    busy: bool = False,
    retry_after: float | None = None,
    unanswered: bool = False,
) -> CloudError:
    # Attributes live on the instance so errors.py stays version-neutral. `unanswered`:
    # the service never answered, so the request may still be processed later.
    err.busy = busy
    err.retry_after = retry_after
    err.unanswered = unanswered
    return err
