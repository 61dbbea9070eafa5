"""Pure pieces of the cloud adapter: credentials from the environment, the error
translation table, wire normalisation, and that importing the adapter stays cheap."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions import exceptions as sdk_exc

from elb_mtls_deploy.cloud import wire
from elb_mtls_deploy.cloud.credentials import credentials_from_env, endpoint_for_region
from elb_mtls_deploy.cloud.translate import (
    RETRY_AFTER_ATTR,
    is_busy,
    parse_retry_after,
    redact,
    translate,
)
from elb_mtls_deploy.errors import (
    ConflictError,
    DeployError,
    NotFoundError,
    PermanentError,
    TransientError,
)

# ----------------------------------------------------------------------------- credentials


def test_sdk_variables_win_over_terraform_names() -> None:
    env = {
        "HUAWEICLOUD_SDK_AK": "AK1",
        "HUAWEICLOUD_SDK_SK": "SK1",
        "HUAWEICLOUD_SDK_PROJECT_ID": "p1",
        "HW_ACCESS_KEY": "AK2",
        "HW_SECRET_KEY": "SK2",
        "HW_PROJECT_ID": "p2",
    }
    creds = credentials_from_env(env)
    assert (creds.access_key, creds.secret_key, creds.project_id) == ("AK1", "SK1", "p1")


def test_terraform_names_and_spec_project_wins() -> None:
    env = {"HW_ACCESS_KEY": "AK2", "HW_SECRET_KEY": "SK2", "HW_PROJECT_ID": "p2"}
    creds = credentials_from_env(env, project_id="from-spec")
    assert (creds.access_key, creds.project_id) == ("AK2", "from-spec")
    assert "SK2" not in repr(creds)


def test_missing_credentials_name_the_variables_but_not_the_secret() -> None:
    with pytest.raises(DeployError) as info:
        credentials_from_env({"HW_SECRET_KEY": "very-secret"})
    text = str(info.value)
    assert "HUAWEICLOUD_SDK_AK or HW_ACCESS_KEY" in text
    assert "HUAWEICLOUD_SDK_PROJECT_ID or HW_PROJECT_ID" in text
    assert "very-secret" not in text
    assert not isinstance(info.value, PermanentError)


def test_endpoint_for_region() -> None:
    assert endpoint_for_region("ap-southeast-1") == "https://elb.ap-southeast-1.myhuaweicloud.com"
    with pytest.raises(DeployError):
        endpoint_for_region("evil.example.com/")


# ----------------------------------------------------------------------------- translate


def client_error(status: int, code: str, msg: str, request_id: str | None = "r1") -> Any:
    error = sdk_exc.SdkError(request_id=request_id, error_code=code, error_msg=msg)
    cls = sdk_exc.ClientRequestException if status < 500 else sdk_exc.ServerResponseException
    return cls(status, error)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, PermanentError),
        (401, PermanentError),
        (403, PermanentError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, TransientError),
        (500, TransientError),
        (503, TransientError),
    ],
)
def test_status_table(status: int, expected: type) -> None:
    err = translate(client_error(status, "ELB.1", "boom"), "delete", "pool", "p1")
    assert type(err) is expected
    assert (err.status, err.code, err.request_id) == (status, "ELB.1", "r1")
    assert err.message == "delete pool p1 failed: boom"


@pytest.mark.parametrize(
    "exc",
    [
        sdk_exc.ConnectionException("refused"),
        sdk_exc.HostUnreachableException("dns"),
        sdk_exc.SslHandShakeException("ssl"),
        sdk_exc.RequestTimeoutException("slow"),
        sdk_exc.CallTimeoutException("slow"),
    ],
)
def test_connection_problems_are_transient(exc: Any) -> None:
    err = translate(exc, "list", "pools", "m", endpoint="https://elb.x")
    assert isinstance(err, TransientError)
    assert "https://elb.x" in (err.hint or "")


def test_busy_rule() -> None:
    # The wording decides, never the code (ELB.8907 is also a real port conflict).
    assert is_busy(409, "Load balancer x is in PENDING_UPDATE status")
    assert is_busy(409, "The load balancer is busy")
    assert not is_busy(409, "Certificate c is in use by listener l.")
    assert not is_busy(400, "busy")


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=4.0) == 6.0
    exc = client_error(429, "APIGW.0308", "throttled")
    setattr(exc, RETRY_AFTER_ATTR, "2")
    assert translate(exc, "list", "pools", "m").retry_after == 2.0  # type: ignore[attr-defined]


def test_urllib3_style_429_still_transient() -> None:
    exc = client_error(429, "429", "Max retries exceeded: too many 429 error responses", "")
    err = translate(exc, "list", "pools", "m")
    assert isinstance(err, TransientError) and err.request_id is None
    assert err.retry_after is None  # type: ignore[attr-defined]


def test_redaction_of_echoed_keys_and_secrets() -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIabc\n-----END PRIVATE KEY-----"
    err = translate(
        client_error(400, "ELB.1011", f"bad key {key} for sk SECRETVALUE"),
        "create",
        "certificate",
        "c",
        secrets=["SECRETVALUE"],
    )
    assert "MIIabc" not in str(err) and "SECRETVALUE" not in str(err)
    assert "[private key redacted]" in str(err)
    assert len(redact("x" * 5000)) < 700


# ----------------------------------------------------------------------------- wire


def test_listener_normalisation() -> None:
    item = {
        "id": "l1",
        "name": "n",
        "description": "d",
        "loadbalancers": [{"id": "lb1"}],
        "client_ca_tls_container_ref": "",
        "insert_headers": {"X-Forwarded-ELB-IP": True, "X-Forwarded-Host": False, "x": None},
        "default_pool_id": None,
    }
    fields = wire.observed("listener", "v3", item).fields
    assert fields["loadbalancer_id"] == "lb1"
    assert fields["client_ca_tls_container_ref"] is None
    # Switches as reported (false included: a default-on header may be off); no junk.
    assert fields["insert_headers"] == {"X-Forwarded-ELB-IP": True, "X-Forwarded-Host": False}


def test_pool_and_member_normalisation() -> None:
    pool = wire.observed(
        "pool",
        "v2",
        {"id": "p", "listeners": [], "session_persistence": {"type": "SOURCE_IP", "x": None}},
    )
    assert pool.fields["listener"] is None
    assert pool.fields["session_persistence"] == {"type": "SOURCE_IP"}
    v3_member = wire.observed("member", "v3", {"id": "m", "subnet_cidr_id": "s", "pool_id": "p"})
    assert (v3_member.fields["subnet_id"], v3_member.fields["pool"]) == ("s", "p")


def test_write_bodies() -> None:
    v3 = wire.create_object("member", "v3", "m", "ignored", {"pool": "p", "subnet_id": "s"}, {})
    assert v3 == {"name": "m", "subnet_cidr_id": "s"}
    v2 = wire.create_object("member", "v2", "m", None, {"subnet_id": "s"}, {})
    assert v2 == {"name": "m", "subnet_id": "s"}
    # the record's names become the API's; a certificate's identity is never sent
    pool = wire.create_object("pool", "v3", "p", "d", {"listener": "l", "protocol": "HTTP"}, {})
    assert pool == {"name": "p", "description": "d", "listener_id": "l", "protocol": "HTTP"}
    monitor = wire.create_object("healthmonitor", "v2", "h", None, {"pool": "p", "delay": 5}, {})
    assert monitor == {"name": "h", "pool_id": "p", "delay": 5}
    identity = {"type": "server", "fingerprint": "f", "public_key_fingerprint": "k", "chain": ()}
    cert = wire.create_object("certificate", "v3", "c", None, identity, {"certificate": "PEM"})
    assert cert == {"name": "c", "type": "server", "certificate": "PEM"}
    update = wire.update_object(
        "listener", "v3", {"client_ca_tls_container_ref": None, "default_pool_id": None}, {}
    )
    assert update == {"client_ca_tls_container_ref": "", "default_pool_id": None}
    flat = wire.wrap("certificate", "v2", {"name": "c"})
    assert flat == {"name": "c"}
    assert wire.wrap("certificate", "v3", {"name": "c"}) == {"certificate": {"name": "c"}}


def test_loadbalancer_public_address() -> None:
    lb = wire.loadbalancer({"id": "x", "eips": [{"eip_address": "1.2.3.4"}], "guaranteed": True})
    assert (lb.guaranteed, lb.public_address) == (True, "1.2.3.4")
    shared = wire.loadbalancer({"id": "y", "publicips": [{"publicip_address": "5.6.7.8"}]})
    assert (shared.guaranteed, shared.public_address) == (False, "5.6.7.8")


# ----------------------------------------------------------------------------- start-up


def test_importing_the_adapter_does_not_import_the_sdk() -> None:
    code = (
        "import sys, elb_mtls_deploy.cloud.sdk, elb_mtls_deploy.cloud.base;"
        "print(sorted(m for m in sys.modules if m.startswith('huaweicloudsdk')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
