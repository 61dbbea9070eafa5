"""SDK-HMAC-SHA256 verification: Huawei's published example, and the SDK's own requests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cp_helpers import sdk_client
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from elb_mtls_deploy.emulator.control import signing
from elb_mtls_deploy.emulator.control.exceptions import SignatureExpired, SignatureInvalid
from elb_mtls_deploy.emulator.server import RunningServer

# From the API signing guide (https://support.huaweicloud.com/intl/en-us/devg-apisign/),
# docs/api-notes.md §6: SK, date, canonical-request hash and signature.
EXAMPLE_SK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
EXAMPLE_DATE = "20191115T033655Z"
EXAMPLE_TARGET = (
    "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"
)
EXAMPLE_HEADERS = {
    "content-type": "application/json",
    "host": "service.region.example.com",
    "x-sdk-date": EXAMPLE_DATE,
}
EXAMPLE_HASH = "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
EXAMPLE_SIGNATURE = "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
SIGNED = ("content-type", "host", "x-sdk-date")


def test_published_example_canonical_request_and_signature() -> None:
    canonical = signing.canonical_request("GET", EXAMPLE_TARGET, EXAMPLE_HEADERS, SIGNED, b"")
    to_sign = signing.string_to_sign(EXAMPLE_DATE, canonical)
    assert to_sign.splitlines() == ["SDK-HMAC-SHA256", EXAMPLE_DATE, EXAMPLE_HASH]
    assert signing.signature(EXAMPLE_SK, to_sign) == EXAMPLE_SIGNATURE


def _example_headers(signature: str) -> dict[str, str]:
    auth = f"SDK-HMAC-SHA256 Access=AK, SignedHeaders={';'.join(SIGNED)}, Signature={signature}"
    return {**EXAMPLE_HEADERS, "Authorization": auth}


def test_verify_accepts_the_example_and_rejects_tampering() -> None:
    now = datetime(2019, 11, 15, 3, 40, tzinfo=UTC)
    secret = {"AK": EXAMPLE_SK}.get
    headers = _example_headers(EXAMPLE_SIGNATURE)
    assert signing.verify("GET", EXAMPLE_TARGET, headers, b"", secret, now) == "AK"
    with pytest.raises(SignatureInvalid):
        signing.verify("GET", EXAMPLE_TARGET + "0", headers, b"", secret, now)
    with pytest.raises(SignatureInvalid):
        signing.verify("GET", EXAMPLE_TARGET, headers, b"{}", secret, now)
    with pytest.raises(SignatureExpired):
        signing.verify("GET", EXAMPLE_TARGET, headers, b"", secret, now + timedelta(minutes=16))
    with pytest.raises(SignatureInvalid):
        signing.verify("GET", EXAMPLE_TARGET, headers, b"", {}.get, now)


def test_canonical_forms() -> None:
    assert signing.canonical_uri("/v3/p/elb/listeners") == "/v3/p/elb/listeners/"
    assert signing.canonical_uri("/a%20b/c%2Fd") == "/a%20b/c/d/"
    assert signing.canonical_query("name=b&name=a&id=%7E%2A") == "id=~%2A&name=a&name=b"
    assert signing.canonical_query("q=a+b") == "q=a%2Bb"  # '+' is not a space


def _fails_401(call: Any, code: str) -> None:
    with pytest.raises(ClientRequestException) as info:
        call()
    assert (info.value.status_code, info.value.error_code) == (401, code)
    assert info.value.request_id


def test_sdk_requests_with_tricky_queries_verify(v3: Any) -> None:
    names = ["a b", "x/y", "~*'()!", "ünï"]
    response = v3.list_certificates(sdk.ListCertificatesRequest(name=names, limit=5))
    assert response.certificates == []


def test_wrong_secret_key_is_401(server: RunningServer) -> None:
    client = sdk_client("v3", server.endpoint, sk="wrong-secret")
    _fails_401(lambda: client.list_listeners(sdk.ListListenersRequest()), "APIGW.0301")


def test_unknown_access_key_is_401(server: RunningServer) -> None:
    client = sdk_client("v3", server.endpoint, ak="NOSUCHAK")
    _fails_401(lambda: client.list_listeners(sdk.ListListenersRequest()), "APIGW.0301")


def test_stale_sdk_date_is_401(v3: Any) -> None:
    stale = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    invoker = v3.list_listeners_invoker(sdk.ListListenersRequest()).add_header("X-Sdk-Date", stale)
    _fails_401(invoker.invoke, "APIGW.0303")


def test_fresh_pinned_date_is_accepted(v3: Any) -> None:
    fresh = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y%m%dT%H%M%SZ")
    invoker = v3.list_listeners_invoker(sdk.ListListenersRequest()).add_header("X-Sdk-Date", fresh)
    assert invoker.invoke().listeners == []


def test_project_not_owned_by_the_key_is_401(server: RunningServer) -> None:
    client = sdk_client("v3", server.endpoint, project_id="f" * 32)
    _fails_401(lambda: client.list_listeners(sdk.ListListenersRequest()), "APIGW.0301")


def test_demo_credentials_are_documented_constants() -> None:
    assert len(DEMO_PROJECT_ID) == 32 and DEMO_PROJECT_ID.lower() == DEMO_PROJECT_ID
    int(DEMO_PROJECT_ID, 16)
    assert "demo" in DEMO_SK and "not-secret" in DEMO_SK and DEMO_AK


def test_a_claimed_body_hash_must_be_the_bodys() -> None:
    # The example's signature covers an empty body; an unsigned X-Sdk-Content-Sha256
    # naming the empty hash must not let another body ride on it.
    now = datetime(2019, 11, 15, 3, 40, tzinfo=UTC)
    secret = {"AK": EXAMPLE_SK}.get
    empty_sha256 = hashlib.sha256(b"").hexdigest()
    headers = {**_example_headers(EXAMPLE_SIGNATURE), "x-sdk-content-sha256": empty_sha256}
    assert signing.verify("GET", EXAMPLE_TARGET, headers, b"", secret, now) == "AK"
    with pytest.raises(SignatureInvalid, match="does not match"):
        signing.verify("GET", EXAMPLE_TARGET, headers, b'{"evil": true}', secret, now)


def _signed_unsigned_payload(content_type: str) -> dict[str, str]:
    headers = {**EXAMPLE_HEADERS, "content-type": content_type}
    headers["x-sdk-content-sha256"] = signing.UNSIGNED_PAYLOAD
    canonical = signing.canonical_request("PUT", EXAMPLE_TARGET, headers, SIGNED, b"anything")
    sig = signing.signature(EXAMPLE_SK, signing.string_to_sign(EXAMPLE_DATE, canonical))
    auth = f"SDK-HMAC-SHA256 Access=AK, SignedHeaders={';'.join(SIGNED)}, Signature={sig}"
    return {**headers, "Authorization": auth}


def test_unsigned_payload_only_where_the_sdk_sends_it() -> None:
    now = datetime(2019, 11, 15, 3, 40, tzinfo=UTC)
    secret = {"AK": EXAMPLE_SK}.get
    octets = _signed_unsigned_payload("application/octet-stream")
    assert signing.verify("PUT", EXAMPLE_TARGET, octets, b"any bytes", secret, now) == "AK"
    with pytest.raises(SignatureInvalid):
        _signed_unsigned_payload("application/json;charset=UTF-8")
