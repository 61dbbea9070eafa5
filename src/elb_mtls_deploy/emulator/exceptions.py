"""One class per API error the emulator can return; serialised only at the edge (core.py).

Body shape (docs/api-notes.md §4.1): ``{"error_msg", "error_code", "request_id"}`` plus an
``X-Request-Id`` header, which is the only place the SDK reads the request id from (§4.3).
Codes marked *guess* are not in the public error table we read (docs/api-notes.md §9).
"""

from __future__ import annotations


class ApiError(Exception):
    """Base: an HTTP status, a Huawei error code and a human message."""

    status = 500
    code = "ELB.5000"  # guess
    extra_headers: dict[str, str]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.extra_headers = {}


# --- 400 -----------------------------------------------------------------------------------


class EmptyBody(ApiError):
    """ELB.0002: the request body is missing or not a JSON object (docs/api-notes.md §4.1)."""

    status = 400
    code = "ELB.0002"


class InvalidParameter(ApiError):
    """ELB.1001: a field is missing, unknown, malformed or not allowed (docs/api-notes.md §4.1)."""

    status = 400
    code = "ELB.1001"


class InvalidCertificate(ApiError):
    """ELB.1011: certificate or private key content is invalid or they do not match."""

    status = 400
    code = "ELB.1011"


class ImmutableField(InvalidParameter):
    """A field that cannot be updated was present in an update body (docs/api-notes.md §2.10)."""


# --- 401 / 403 (API gateway) ----------------------------------------------------------------


class SignatureInvalid(ApiError):
    """APIGW.0301: bad or missing AK/SK signature, or an unknown AK (docs/api-notes.md §4.1)."""

    status = 401
    code = "APIGW.0301"


class SignatureExpired(ApiError):
    """APIGW.0303: X-Sdk-Date over 15 minutes from server time (docs/api-notes.md §6.2 item 9)."""

    status = 401
    code = "APIGW.0303"


class ProjectMismatch(ApiError):
    """The URL project id is not the AK's project. 401 APIGW.0301 (guess; see docs)."""

    status = 401
    code = "APIGW.0301"


# --- 404 / 405 ------------------------------------------------------------------------------


class NotFound(ApiError):
    """A resource id (in the path or referenced from a body) does not exist. Code is a guess."""

    status = 404
    code = "ELB.8902"


class NoSuchRoute(ApiError):
    """No API at this path/method (gateway-style 404; code is a guess)."""

    status = 404
    code = "APIGW.0101"


# --- 409 ------------------------------------------------------------------------------------


class InUse(ApiError):
    """A resource is still referenced (certificate bound to a listener, pool has members...)."""

    status = 409
    code = "ELB.8904"  # guess


class Conflict(ApiError):
    """Duplicate: protocol_port taken on the LB, member address+port exists, second monitor."""

    status = 409
    code = "ELB.8905"  # guess


class LoadBalancerBusy(ApiError):
    """Injected fault: the owning LB is not ACTIVE (PENDING_UPDATE). Code is a guess."""

    status = 409
    code = "ELB.8907"


# --- 429 / 5xx (injected) -------------------------------------------------------------------


class Throttled(ApiError):
    """APIGW.0308: gateway throttling (docs/api-notes.md §8). Carries Retry-After."""

    status = 429
    code = "APIGW.0308"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.extra_headers["Retry-After"] = str(retry_after_seconds)


class InternalError(ApiError):
    """Injected 500."""

    status = 500
    code = "ELB.5000"  # guess


class ServiceUnavailable(ApiError):
    """Injected 503."""

    status = 503
    code = "ELB.5030"  # guess
