"""One class per API error the emulator can return; serialised only at the edge (wire.py).

Body shape (docs/api-notes.md §4.1): ``{"error_msg", "error_code", "request_id"}`` plus an
``X-Request-Id`` header, which is the only place the SDK reads the request id from (§4.3).
Codes come from Huawei's published error table (docs/api-notes.md §10.2 "Error codes");
those marked *guess* are not in it, and the client must not rely on them.
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
    """ELB.8902 "Invalid input": a field is missing, unknown, malformed or not allowed.

    The published table's 400 for invalid input (docs/api-notes.md §10.2 "Error codes").
    """

    status = 400
    code = "ELB.8902"


class IpTargetDisabled(InvalidParameter):
    """ELB.8939: a member without a subnet on a load balancer without IP backends."""

    code = "ELB.8939"

    def __init__(self) -> None:
        super().__init__("The loadbalancer's ip_target_enable must be true when add ip member.")


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
    """ELB.8904 "%s %s could not be found.": a resource id (in the path or a body) is unknown."""

    status = 404
    code = "ELB.8904"


class NoSuchRoute(ApiError):
    """APIGW.0101: the API gateway knows no API at this path/method (not a resource 404).

    Wording as the gateway answers (docs/api-notes.md §10.2 "Error codes").
    """

    status = 404
    code = "APIGW.0101"

    def __init__(self) -> None:
        super().__init__("The API does not exist or has not been published in the environment")


# --- 409 ------------------------------------------------------------------------------------


class Conflict(ApiError):
    """409 ELB.8907 for a conflict other than the port: member address+port exists, second
    monitor, a listener that already has a pool. The code is a guess: public reports show
    ELB.8907 for the duplicate port "and other conflicts" (docs/api-notes.md §10.2)."""

    status = 409
    code = "ELB.8907"  # guess for these cases


class InUse(Conflict):
    """A resource is still referenced (certificate bound to a listener, pool has members...).
    409 is documented for in-use deletes; the code is a guess (docs/api-notes.md §10.2)."""


class DuplicatePort(Conflict):
    """409 ELB.8907 with the real API's wording (docs/api-notes.md §10.2 "Error codes")."""

    def __init__(self, loadbalancer_id: str, port: int) -> None:
        super().__init__(
            f"Load Balancer {loadbalancer_id} already has a listener with protocol_port of {port}."
        )


class QuotaExceeded(ApiError):
    """ELB.8905 "Quota exceeded for resources: %s" (published table)."""

    status = 409
    code = "ELB.8905"


class LoadBalancerBusy(ApiError):
    """409: the owning load balancer is not ACTIVE (provisioning model or injected fault).

    The code is a guess and deliberately not ELB.8907 (a real conflict code); clients must
    decide "busy" from the wording and the load balancer's provisioning_status.
    """

    status = 409
    code = "ELB.8908"  # guess (docs/api-notes.md §10.2)

    def __init__(self, loadbalancer_id: str) -> None:
        super().__init__(
            f"Load balancer {loadbalancer_id} is not ACTIVE (provisioning_status "
            "PENDING_UPDATE); try again later."
        )


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
