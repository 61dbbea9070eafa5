"""The reads only `deploy import` and adoption make: resources by id whoever owns them, every
listener of the project, and a server certificate's key unless the API masks it."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from cloud_stack import DEMO, ENDPOINT

from elb_mtls_deploy.cloud.base import Query
from elb_mtls_deploy.cloud.sdk import connect
from elb_mtls_deploy.state import Flavour


@pytest.mark.parametrize("flavour", ["v3", "v2"])
def test_list_by_ids_finds_unmarked_certificates(
    flavour: Flavour, rsps: responses.RequestsMock, pem: Any
) -> None:
    cloud = connect(flavour, DEMO, ENDPOINT)
    try:
        ids = [
            cloud.create(
                "certificate", f"console-{i}", None, {"type": "client"}, {"certificate": pem.ca}
            )
            for i in range(3)
        ]
        found = cloud.read(Query("certificate", ids=ids[:2]))
        assert sorted(c.id for c in found) == sorted(ids[:2])
        assert all(c.description in ("", None) for c in found)
        query = parse_qs(urlsplit(rsps.calls[-1].request.url).query)
        if flavour == "v3":  # the multi-valued filter; v2 lists and matches here
            assert sorted(query["id"]) == sorted(ids[:2])
        else:
            assert "id" not in query
        assert cloud.read(Query("certificate", ids=[])) == []
    finally:
        cloud.close()


@pytest.mark.parametrize("flavour", ["v3", "v2"])
@pytest.mark.parametrize("shown", ["*****", "", None])
def test_a_masked_private_key_is_not_a_key(flavour: Flavour, shown: str | None) -> None:
    item = {"id": "c1", "name": "console", "type": "server", "private_key": shown}
    body = {"certificate": item} if flavour == "v3" else item
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, re.compile(r".*/certificates/c1$"), body=json.dumps(body))
        cloud = connect(flavour, DEMO, ENDPOINT)
        try:
            assert cloud.private_key("c1") is None
        finally:
            cloud.close()


@pytest.mark.parametrize("flavour", ["v3", "v2"])
def test_an_echoed_private_key_is_returned(flavour: Flavour, pem: Any) -> None:
    item = {"id": "c1", "name": "console", "type": "server", "private_key": pem.server_key}
    body = {"certificate": item} if flavour == "v3" else item
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, re.compile(r".*/certificates/c1$"), body=json.dumps(body))
        cloud = connect(flavour, DEMO, ENDPOINT)
        try:
            assert cloud.private_key("c1") == pem.server_key
        finally:
            cloud.close()
