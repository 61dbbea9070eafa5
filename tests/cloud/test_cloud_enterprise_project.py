"""Users scoped to an enterprise project name it on list calls (else 400 ELB.9801) and on
the creates whose request models take it (docs/api-notes.md §10.3)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from cloud_stack import DEMO, ENDPOINT

from elb_mtls_deploy.cloud.base import Query
from elb_mtls_deploy.cloud.sdk import connect
from elb_mtls_deploy.state import Flavour, marker


@pytest.mark.parametrize("flavour", ["v3", "v2"])
def test_lists_and_certificate_creates_carry_the_enterprise_project(
    flavour: Flavour, rsps: responses.RequestsMock, pem: Any
) -> None:
    cloud = connect(flavour, DEMO, ENDPOINT, enterprise_project_id="eps-1")
    try:
        cloud.read(Query("pool", description=marker("s")))
        cloud.create(
            "certificate",
            "s-ca",
            marker("s"),
            {"type": "client"},
            {"certificate": pem.ca},  # type: ignore[attr-defined]
        )
    finally:
        cloud.close()
    pools, create = rsps.calls[-2], rsps.calls[-1]
    assert parse_qs(urlsplit(pools.request.url).query)["enterprise_project_id"] == ["eps-1"]
    body = json.loads(create.request.body)
    obj = body["certificate"] if flavour == "v3" else body
    assert obj["enterprise_project_id"] == "eps-1"


def test_without_an_enterprise_project_nothing_is_added(
    rsps: responses.RequestsMock,
) -> None:
    cloud = connect("v3", DEMO, ENDPOINT)
    try:
        cloud.read(Query("pool", description=marker("s")))
    finally:
        cloud.close()
    assert "enterprise_project_id" not in (rsps.calls[-1].request.url or "")


def test_a_junk_load_balancer_answer_is_transient_so_the_wait_retries() -> None:
    """A proxy's page instead of the load balancer: retried, not the end of the apply."""
    from elb_mtls_deploy.emulator import SEEDED_DEDICATED_LB_ID
    from elb_mtls_deploy.errors import TransientError

    url = f"{ENDPOINT}/v3/{DEMO.project_id}/elb/loadbalancers/{SEEDED_DEDICATED_LB_ID}"
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, url, json={"loadbalancer": {}}, status=200)
        cloud = connect("v3", DEMO, ENDPOINT)
        try:
            with pytest.raises(TransientError, match="no provisioning_status"):
                cloud.provisioning_status(SEEDED_DEDICATED_LB_ID)
        finally:
            cloud.close()
