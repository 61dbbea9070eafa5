"""The loopback server, discovery through server.json, and the private /_emulator/ API."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from cp_helpers import ca_cert, https_listener, pool, server_cert
from huaweicloudsdkelb import v3 as sdk

from elb_mtls_deploy.emulator import discover_server, start_server
from elb_mtls_deploy.emulator.server import RunningServer

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(server: RunningServer, method: str, path: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(server.endpoint + path, data=data, method=method)
    with NO_PROXY.open(request, timeout=5) as reply:
        assert reply.headers["X-Request-Id"]
        return json.loads(reply.read())


def test_binds_loopback_only(server: RunningServer) -> None:
    assert server.endpoint.startswith("http://127.0.0.1:")
    assert call(server, "GET", "/_emulator/health") == {"ok": True}


def test_keep_alive_and_headers(server: RunningServer) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for _ in range(3):  # three requests on one connection
        conn.request("GET", "/_emulator/health")
        reply = conn.getresponse()
        assert reply.status == 200 and reply.getheader("Content-Type") == "application/json"
        assert int(reply.getheader("Content-Length")) == len(reply.read())
    conn.request("GET", "/v3/x/elb/listeners")  # unsigned API call
    reply = conn.getresponse()
    body = json.loads(reply.read())
    assert reply.status == 401 and body["error_code"] == "APIGW.0301"
    assert body["request_id"] == reply.getheader("X-Request-Id")
    conn.close()


def test_announce_and_discover(state_dir: Path) -> None:
    assert discover_server(state_dir) is None
    with start_server(state_dir, dataplane=False, announce=True) as running:
        info = json.loads((state_dir / "server.json").read_text())
        assert info == {"pid": os.getpid(), "endpoint": running.endpoint}
        assert discover_server(state_dir) == running.endpoint
    assert not (state_dir / "server.json").exists()
    assert discover_server(state_dir) is None


def test_discover_ignores_a_stale_file(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    stale = {"pid": 2**22 + 12345, "endpoint": "http://127.0.0.1:1"}
    (state_dir / "server.json").write_text(json.dumps(stale))
    assert discover_server(state_dir) is None


def test_stats_count_per_route_and_reset(server: RunningServer, v3: Any) -> None:
    v3.list_listeners(sdk.ListListenersRequest())
    v3.list_listeners(sdk.ListListenersRequest())
    stats = call(server, "GET", "/_emulator/stats")
    assert stats["total"] == 2
    assert stats["by_route"] == {"GET /v3/{project_id}/elb/listeners": 2}
    assert call(server, "POST", "/_emulator/stats/reset")["total"] == 0


def test_faults_endpoint(server: RunningServer) -> None:
    config = call(server, "PUT", "/_emulator/faults", {"busy_rate": 0.5, "seed": 9})
    assert config["busy_rate"] == 0.5
    assert call(server, "GET", "/_emulator/faults")["seed"] == 9


def test_state_dump_masks_private_keys(server: RunningServer, v3: Any, pki: Any) -> None:
    cert = server_cert(v3, pki)
    dump = call(server, "GET", "/_emulator/state")
    [stored] = dump["certificates"]
    assert stored["id"] == cert.id and stored["private_key"] == "*****"
    assert "PRIVATE KEY" not in json.dumps(dump)
    assert len(dump["loadbalancers"]) == 3


def test_dataplane_listing_when_disabled(server: RunningServer, v3: Any, pki: Any) -> None:
    https_listener(v3, server_cert(v3, pki).id, ca_cert(v3, pki).id)
    assert call(server, "GET", "/_emulator/dataplane") == {"listeners": []}


def test_state_dump_names_each_pools_listener(server: RunningServer, v3: Any, pki: Any) -> None:
    listener = https_listener(v3, server_cert(v3, pki).id)
    bound = pool(v3, listener_id=listener.id)
    spare = pool(v3, lb_id=listener.loadbalancers[0].id, name="spare")
    by_id = {p["id"]: p for p in call(server, "GET", "/_emulator/state")["pools"]}
    assert by_id[bound.id]["listener_id"] == listener.id
    assert by_id[spare.id]["listener_id"] is None
