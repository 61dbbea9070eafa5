"""Error codes and wording from Huawei's published table (docs/api-notes.md §10.2)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cp_helpers import DEDICATED, https_listener, sdk_client, server_cert
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkelb import v2 as sdk2
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import DEMO_PROJECT_ID, start_server
from elb_mtls_deploy.emulator.server import RunningServer

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
MISSING = "00000000-0000-0000-0000-000000000000"


def raised(call: Any) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as info:
        call()
    return info.value


def test_resource_404_is_elb_8904_with_the_table_wording(v3: Any, v2: Any) -> None:
    error = raised(lambda: v3.show_listener(sdk.ShowListenerRequest(listener_id=MISSING)))
    assert (error.status_code, error.error_code) == (404, "ELB.8904")
    assert error.error_msg == f"Listener {MISSING} could not be found."
    error = raised(lambda: v2.show_pool(sdk2.ShowPoolRequest(pool_id=MISSING)))
    assert (error.status_code, error.error_code) == (404, "ELB.8904")


def test_unknown_api_is_the_gateways_404_not_a_resource_404(server: RunningServer) -> None:
    # No API at this path: the gateway answers APIGW.0101 before it checks the signature.
    request = urllib.request.Request(
        f"{server.endpoint}/v3/{DEMO_PROJECT_ID}/elb/no-such-things", method="GET"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        NO_PROXY.open(request, timeout=5)
    body = json.loads(info.value.read())
    info.value.close()
    assert info.value.code == 404 and body["error_code"] == "APIGW.0101"
    assert body["error_msg"] == (
        "The API does not exist or has not been published in the environment"
    )


def test_invalid_input_is_elb_8902(v3: Any) -> None:
    option = sdk.CreatePoolOption(lb_algorithm="RANDOM", protocol="HTTP", loadbalancer_id=DEDICATED)
    request = sdk.CreatePoolRequest(body=sdk.CreatePoolRequestBody(pool=option))
    error = raised(lambda: v3.create_pool(request))
    assert (error.status_code, error.error_code) == (400, "ELB.8902")


def test_duplicate_port_is_409_elb_8907_with_the_real_message(v3: Any, pki: Any) -> None:
    cert = server_cert(v3, pki)
    https_listener(v3, cert.id, port=8443)
    error = raised(lambda: https_listener(v3, cert.id, port=8443, name="again"))
    assert (error.status_code, error.error_code) == (409, "ELB.8907")
    assert error.error_msg == (
        f"Load Balancer {DEDICATED} already has a listener with protocol_port of 8443."
    )


def test_a_quota_is_409_elb_8905(state_dir: Path, pki: Any) -> None:
    with start_server(state_dir, dataplane=False, quotas={"listener": 1}) as server:
        v3 = sdk_client("v3", server.endpoint)
        cert = server_cert(v3, pki)
        https_listener(v3, cert.id, port=443)
        with pytest.raises(ClientRequestException) as info:
            https_listener(v3, cert.id, port=444)
    assert (info.value.status_code, info.value.error_code) == (409, "ELB.8905")
    assert info.value.error_msg == "Quota exceeded for resources: ['listener']."
