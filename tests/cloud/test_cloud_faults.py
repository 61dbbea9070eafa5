"""Faults outside the SDK's own error mapping (issue 14) and the 409/404 rules (issue 11):
read timeouts and cut replies, Retry-After abuse, one deadline per call, busy versus a real
conflict, a gateway 404 versus a resource 404, the enterprise-project hint, temporary
credentials, and redaction against the secrets actually sent."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
import requests
import responses
from cloud_stack import DEMO, ENDPOINT, MARKER, make_cloud

from elb_mtls_deploy.cloud.base import Credentials, Observed, Query
from elb_mtls_deploy.cloud.credentials import credentials_from_env
from elb_mtls_deploy.cloud.sdk import SdkCloud, connect
from elb_mtls_deploy.cloud.translate import MAX_RETRY_AFTER, parse_retry_after
from elb_mtls_deploy.emulator import Emulator
from elb_mtls_deploy.errors import (
    CloudError,
    ConflictError,
    DeployError,
    NotFoundError,
    PermanentError,
    TransientError,
    register_secret,
)
from elb_mtls_deploy.resilient import ResilientCloud
from elb_mtls_deploy.retry import RetryPolicy, call_with_retry
from elb_mtls_deploy.state import Flavour, Kind

ANY_URL = re.compile(r"http://127\.0\.0\.1:9/.*")
FAST = RetryPolicy(attempts=4, base_seconds=0.0, cap_seconds=0.0, total_seconds=5.0, seed=1)


@pytest.fixture
def raw_rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def fail_after_processing(
    emulator: Emulator, method: str, exc: Exception, times: int = 1
) -> list[str]:
    """The emulator processes the next `times` `method` requests, then the reply is lost
    as `exc` (a read timeout after the commit, a cut body)."""
    original = emulator.handle
    seen: list[str] = []

    def handle(m: str, target: str, headers: Any, body: bytes) -> Any:
        response = original(m, target, headers, body)
        if m == method and len(seen) < times:
            seen.append(target)
            raise exc
        return response

    emulator.handle = handle  # type: ignore[method-assign]
    return seen


# ----------------------------------------------------------------------------- item 14.1


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout("HTTPConnectionPool: Read timed out. (read timeout=60)"),
        requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead(12 bytes)"),
        requests.exceptions.ContentDecodingError("Received response with content-encoding: gzip"),
        requests.exceptions.RequestException("something else in requests"),
    ],
)
def test_transport_errors_the_sdk_lets_through_are_transient(
    raw_rsps: responses.RequestsMock, exc: Exception
) -> None:
    raw_rsps.add(responses.GET, ANY_URL, body=exc)
    with pytest.raises(TransientError) as info:
        make_cloud("v3").read(Query("pool", description=MARKER))
    err = info.value
    assert err.unanswered and err.status is None
    assert err.message.startswith("list pools ")
    assert ENDPOINT in (err.hint or "")
    assert isinstance(err.__cause__, requests.RequestException)


def test_read_timeout_on_a_read_is_retried(cloud: SdkCloud, emulator: Emulator) -> None:
    seen = fail_after_processing(emulator, "GET", requests.exceptions.ReadTimeout("slow"))
    assert ResilientCloud(cloud, MARKER, FAST).read(Query("certificate", description=MARKER)) == []
    assert len(seen) == 1


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout("Read timed out."),
        requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
    ],
)
def test_create_that_committed_but_timed_out_is_adopted_once(
    cloud: SdkCloud, emulator: Emulator, pem: Any, exc: Exception
) -> None:
    fail_after_processing(emulator, "POST", exc)
    resilient = ResilientCloud(cloud, MARKER, FAST)
    new_id = resilient.create(
        "certificate", "t-ca", MARKER, {"type": "client"}, {"certificate": pem.ca}
    )
    listed = cloud.read(Query("certificate", description=MARKER))
    assert [c.id for c in listed] == [new_id]
    assert resilient.adopted == ["certificate t-ca"]


# ----------------------------------------------------------------------------- item 14.2


class LateCommitCloud:
    """A fake certificate API whose first create gets no reply and commits `late` seconds
    after it was sent (after the look-up and the re-send); certificate names are not unique."""

    flavour: Flavour = "v3"

    def __init__(self, late: float) -> None:
        self.late = late
        self.made: list[tuple[float, Observed]] = []
        self.creates = 0

    def create(
        self,
        kind: Kind,
        name: str,
        description: str | None,
        fields: Mapping[str, Any],
        payload: Mapping[str, str],
    ) -> str:
        self.creates += 1
        observed = Observed(kind, f"c{self.creates}", name, description, dict(fields))
        if self.creates == 1:
            self.made.append((time.monotonic() + self.late, observed))
            err = TransientError("create certificate: no reply within the read timeout")
            err.unanswered = True
            raise err
        self.made.append((time.monotonic(), observed))
        return observed.id

    def read(self, query: Query) -> list[Observed]:
        now = time.monotonic()
        return [o for when, o in self.made if when <= now and o.kind == query.kind]

    def provisioning_status(self, loadbalancer_id: str) -> str:
        return "ACTIVE"

    def close(self) -> None:
        pass


def test_a_create_that_commits_late_is_visible_to_the_next_read() -> None:
    inner = LateCommitCloud(late=0.3)
    policy = RetryPolicy(attempts=3, base_seconds=0.0, cap_seconds=0.0, settle_seconds=1.0)
    resilient = ResilientCloud(inner, MARKER, policy)  # type: ignore[arg-type]
    resilient.create("certificate", "t-ca", MARKER, {"type": "client"}, {"certificate": "PEM"})
    assert resilient.in_doubt == ["certificate t-ca"]
    # The post-apply plan's read waits out the settle window, so it sees the late commit
    # as a duplicate (and the next pass deletes it) instead of reporting "Apply complete".
    assert sorted(c.id for c in resilient.read(Query("certificate", description=MARKER))) == [
        "c1",
        "c2",
    ]


def test_a_create_answered_by_the_server_leaves_nothing_in_doubt(
    cloud: SdkCloud, emulator: Emulator, pem: Any
) -> None:
    from elb_mtls_deploy.emulator import FaultConfig

    emulator.faults.configure(FaultConfig(error_500_rate=1.0, seed=3))
    resilient = ResilientCloud(cloud, MARKER, RetryPolicy(attempts=2, base_seconds=0.0))
    with pytest.raises(TransientError):
        resilient.create("certificate", "t-ca", MARKER, {"type": "client"}, {"certificate": pem.ca})
    assert resilient.in_doubt == []  # a 500 is an answer: no settle wait later


# ----------------------------------------------------------------------------- item 14.3


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("inf", None),
        ("-inf", None),
        ("nan", None),
        ("1e400", None),
        ("100000", MAX_RETRY_AFTER),
        ("Fri, 01 Jan 2099 00:00:00 GMT", MAX_RETRY_AFTER),
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
        ("Thu, 99 Foo 2099 99:99:99 GMT", None),
        ("-5", 0.0),
        ("2.5", 2.5),
    ],
)
def test_retry_after_is_bounded_and_never_crashes(header: str, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def throttled(retry_after: float | None) -> TransientError:
    err = TransientError("throttled", status=429)
    err.retry_after = retry_after
    return err


def test_waits_never_run_past_the_call_deadline() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    def always() -> None:
        raise throttled(MAX_RETRY_AFTER)

    with pytest.raises(TransientError):
        call_with_retry(
            always,
            RetryPolicy(attempts=50, total_seconds=2.0),
            safe_to_repeat=True,
            sleep=sleep,
            clock=lambda: now[0],
        )
    assert slept == [2.0]  # clamped to what is left, not 300 s; then one last try


class CountingCreates:
    """Every create is throttled (not processed), with the given Retry-After."""

    flavour: Flavour = "v3"

    def __init__(self, retry_after: float | None) -> None:
        self.retry_after = retry_after
        self.creates = 0

    def create(self, *args: Any) -> str:
        self.creates += 1
        raise throttled(self.retry_after)

    def close(self) -> None:
        pass


def test_creates_honour_the_retry_timeout() -> None:
    inner = CountingCreates(retry_after=0.05)
    policy = RetryPolicy(attempts=1000, base_seconds=0.0, cap_seconds=0.0, total_seconds=0.3)
    resilient = ResilientCloud(inner, MARKER, policy)  # type: ignore[arg-type]
    with pytest.raises(TransientError):
        resilient.create("certificate", "t-ca", MARKER, {}, {})
    assert 1 < inner.creates < 1000  # stopped by the deadline, not by the attempt count


def test_ctrl_c_ends_a_create_back_off_at_once() -> None:
    inner = CountingCreates(retry_after=MAX_RETRY_AFTER)
    stop = threading.Event()
    resilient = ResilientCloud(inner, MARKER, RetryPolicy(total_seconds=600), stop=stop)  # type: ignore[arg-type]
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(TransientError):
        resilient.create("certificate", "t-ca", MARKER, {}, {})
    assert inner.creates == 1


@pytest.mark.parametrize("header", ["inf", "100000", "Fri, 01 Jan 2099 00:00:00 GMT"])
def test_retry_after_abuse_on_a_create_ends_within_the_deadline(
    raw_rsps: responses.RequestsMock, header: str
) -> None:
    raw_rsps.add(
        responses.POST,
        ANY_URL,
        json={"error_code": "APIGW.0308", "error_msg": "throttled"},
        status=429,
        headers={"Retry-After": header},
    )
    policy = RetryPolicy(attempts=3, base_seconds=0.0, total_seconds=0.5)
    resilient = ResilientCloud(make_cloud("v3"), MARKER, policy)
    with pytest.raises(TransientError) as info:
        resilient.create("certificate", "t-ca", MARKER, {"type": "client"}, {"certificate": "x"})
    assert info.value.status == 429
    assert len(raw_rsps.calls) >= 2  # waited (at most the 0.5 s left), then tried again


# ----------------------------------------------------------------------------- issue 11.1

PORT_TAKEN = "Load Balancer {lb} already has a listener with protocol_port of 443."


def conflict_8907(raw_rsps: responses.RequestsMock) -> None:
    raw_rsps.add(
        responses.POST,
        ANY_URL,
        json={"error_code": "ELB.8907", "error_msg": PORT_TAKEN.format(lb="lb1")},
        status=409,
    )


def test_elb_8907_port_taken_is_a_plain_conflict(raw_rsps: responses.RequestsMock) -> None:
    conflict_8907(raw_rsps)
    with pytest.raises(ConflictError) as info:
        make_cloud("v3").create("listener", "t-l", MARKER, {"loadbalancer_id": "lb1"}, {})
    assert info.value.busy is False
    assert "busy" not in str(info.value)


@pytest.mark.parametrize(
    "message",
    [
        "Load balancer lb1 is not ACTIVE (provisioning_status PENDING_UPDATE); try again later.",
        "Load Balancer lb1 is immutable and cannot be updated.",
        "The load balancer is busy.",
    ],
)
def test_busy_wording_is_busy_whatever_the_code(
    raw_rsps: responses.RequestsMock, message: str
) -> None:
    raw_rsps.add(
        responses.POST, ANY_URL, json={"error_code": "ELB.0000", "error_msg": message}, status=409
    )
    with pytest.raises(ConflictError) as info:
        make_cloud("v3").create("listener", "t-l", MARKER, {"loadbalancer_id": "lb1"}, {})
    assert info.value.busy is True


class ConflictingCloud:
    """Every listener create answers a non-busy 409; the load balancer reports `statuses`
    in turn (then ACTIVE); `owned` listeners are what a look-up finds."""

    flavour: Flavour = "v3"

    def __init__(self, statuses: Sequence[str] = (), owned: Sequence[Observed] = ()) -> None:
        self.statuses = list(statuses)
        self.owned = list(owned)
        self.creates = 0

    def create(self, *args: Any) -> str:
        self.creates += 1
        if self.statuses:
            raise ConflictError(PORT_TAKEN.format(lb="lb1"), status=409, code="ELB.8907")
        return "l-new"

    def provisioning_status(self, loadbalancer_id: str) -> str:
        return self.statuses.pop(0) if self.statuses else "ACTIVE"

    def read(self, query: Query) -> list[Observed]:
        return self.owned if query.kind == "listener" else []

    def close(self) -> None:
        pass


LISTENER = {"loadbalancer_id": "lb1", "protocol_port": 443}


def test_a_conflict_on_an_active_load_balancer_is_reported_without_re_sends() -> None:
    inner = ConflictingCloud(statuses=["ACTIVE"] * 10)
    resilient = ResilientCloud(inner, MARKER, FAST)  # type: ignore[arg-type]
    with pytest.raises(ConflictError) as info:
        resilient.create("listener", "t-web", MARKER, LISTENER, {})
    assert inner.creates == 1 and "busy" not in str(info.value)


def test_a_conflict_with_our_own_listener_is_adopted() -> None:
    mine = Observed("listener", "l-1", "t-web", MARKER, {"protocol_port": 443})
    inner = ConflictingCloud(statuses=["ACTIVE"], owned=[mine])
    resilient = ResilientCloud(inner, MARKER, FAST)  # type: ignore[arg-type]
    assert resilient.create("listener", "t-web", MARKER, LISTENER, {}) == "l-1"
    assert inner.creates == 1 and resilient.adopted == ["listener t-web"]


def test_an_ambiguous_conflict_on_a_pending_load_balancer_waits_and_re_sends() -> None:
    inner = ConflictingCloud(statuses=["PENDING_UPDATE"])
    resilient = ResilientCloud(inner, MARKER, FAST)  # type: ignore[arg-type]
    assert resilient.create("listener", "t-web", MARKER, LISTENER, {}) == "l-new"
    assert inner.creates == 2


def test_provisioning_status_passes_through() -> None:
    inner = ConflictingCloud(statuses=["PENDING_CREATE"])
    assert ResilientCloud(inner, MARKER, FAST).provisioning_status("lb1") == "PENDING_CREATE"  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- issue 11.13


def answer_404(raw_rsps: responses.RequestsMock, body: Mapping[str, Any] | str) -> None:
    for method in (responses.GET, responses.DELETE):
        if isinstance(body, str):
            raw_rsps.add(method, ANY_URL, body=body, status=404)
        else:
            raw_rsps.add(method, ANY_URL, json=body, status=404)


def test_gateway_404_is_a_wrong_endpoint_not_already_gone(
    raw_rsps: responses.RequestsMock,
) -> None:
    answer_404(raw_rsps, {"error_code": "APIGW.0101", "error_msg": "The API does not exist."})
    resilient = ResilientCloud(make_cloud("v3"), MARKER, FAST)
    with pytest.raises(PermanentError) as info:
        resilient.delete("certificate", "c1", None)  # destroy must not report success
    assert "endpoint" in (info.value.hint or "") and "region" in (info.value.hint or "")
    assert info.value.code == "APIGW.0101"


@pytest.mark.parametrize(
    ("flavour", "body"),
    [
        ("v3", {"error_code": "ELB.8904", "error_msg": "Certificate c1 could not be found."}),
        ("v2", '{"NeutronError": {"message": "Listener c1 could not be found", "type": "x"}}'),
    ],
)
def test_resource_404_is_already_gone(
    raw_rsps: responses.RequestsMock, flavour: Flavour, body: Any
) -> None:
    answer_404(raw_rsps, body)
    with pytest.raises(NotFoundError):
        make_cloud(flavour).delete("certificate", "c1", None)
    ResilientCloud(make_cloud(flavour), MARKER, FAST).delete("certificate", "c1", None)


# ----------------------------------------------------------------------------- issue 11.14


def test_enterprise_project_400_says_what_to_set(raw_rsps: responses.RequestsMock) -> None:
    raw_rsps.add(
        responses.GET,
        ANY_URL,
        json={"error_code": "ELB.9801", "error_msg": "enterprise_project_id is required."},
        status=400,
    )
    with pytest.raises(PermanentError) as info:
        make_cloud("v3").read(Query("pool", description=MARKER))
    assert "target.enterprise_project_id" in (info.value.hint or "")


# ----------------------------------------------------------------------------- issue 11.16

TOKEN = "tempSecurityTokenZ9x8c7v6b5n4m3QwErTy"


@pytest.mark.parametrize("name", ["HUAWEICLOUD_SDK_SECURITY_TOKEN", "HW_SECURITY_TOKEN"])
def test_security_token_from_the_environment(name: str) -> None:
    env = {"HW_ACCESS_KEY": "AK", "HW_SECRET_KEY": "SK-value", "HW_PROJECT_ID": "p", name: TOKEN}
    creds = credentials_from_env(env)
    assert creds.security_token == TOKEN
    assert TOKEN not in repr(creds)
    assert TOKEN not in str(DeployError(f"echo {TOKEN}"))  # registered for redaction


def test_security_token_is_sent_signed(raw_rsps: responses.RequestsMock) -> None:
    raw_rsps.add(responses.GET, ANY_URL, json={"pools": []})
    creds = Credentials(DEMO.access_key, DEMO.secret_key, DEMO.project_id, TOKEN)
    connect("v3", creds, ENDPOINT).read(Query("pool", description=MARKER))
    headers = raw_rsps.calls[0].request.headers
    assert headers["X-Security-Token"] == TOKEN
    assert "x-security-token" in headers["Authorization"]  # among the signed headers


def test_no_token_no_header(raw_rsps: responses.RequestsMock) -> None:
    raw_rsps.add(responses.GET, ANY_URL, json={"pools": []})
    connect("v3", DEMO, ENDPOINT).read(Query("pool", description=MARKER))
    assert "X-Security-Token" not in raw_rsps.calls[0].request.headers


# ----------------------------------------------------------------------------- item 14.4


def test_a_gateway_echoing_key_lines_leaks_none_of_them(
    raw_rsps: responses.RequestsMock, pem: Any
) -> None:
    lines = [ln for ln in pem.server_key.splitlines() if not ln.startswith("-----")]
    echoed = "bad request near: " + " ".join(lines[1:3]) + f" ... {lines[-1]}"
    raw_rsps.add(
        responses.POST,
        ANY_URL,
        json={"error_code": "ELB.8902", "error_msg": echoed},
        status=400,
    )
    with pytest.raises(PermanentError) as info:
        make_cloud("v3").create(
            "certificate",
            "t-server",
            MARKER,
            {"type": "server"},
            {"certificate": pem.server_cert, "private_key": pem.server_key},
        )
    text = f"{info.value}\n{info.value.message}"
    assert "[redacted]" in text
    for line in lines:
        if len(line) >= 16:
            assert line not in text


def test_registered_secrets_never_reach_an_error_message() -> None:
    register_secret("p12-password-for-the-canary")
    err = CloudError("create failed: password p12-password-for-the-canary", hint="see x")
    assert "p12-password-for-the-canary" not in str(err)
