"""The emulator's own unsigned endpoints under ``/_emulator/`` (never faulted, never counted).

``health``, ``dataplane`` (where each served listener listens), ``stats`` (+ reset),
``faults`` (GET/PUT a FaultConfig as JSON), ``provisioning`` (GET/PUT ``{"busy_ms": N}``:
how long a load balancer stays PENDING_UPDATE after a change; 0 = off) and ``state`` (a
dump of every record with private keys masked).

It sees the emulator only through ``Emulated`` (the parts it reads or reconfigures), so the
dispatcher in ``api`` can route to it without this module importing ``api`` back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from .faults import FaultConfig, FaultInjector
from .feed import DataPlaneFeed
from .models import CERT, HTTPS_PROTOCOLS, LB, LISTENER, MEMBER, MONITOR, POOL
from .provisioning import Provisioning
from .stats import Stats
from .store import Record, Store
from .wire import WireResponse, json_response

MASK = "*****"  # the real API's masking string when private-key echo is off (§2.3)
KINDS = (LB, CERT, LISTENER, POOL, MEMBER, MONITOR)
PREFIX = "/_emulator/"


class Emulated(Protocol):
    """What the admin endpoints need of an emulator (``api.Emulator`` is one)."""

    store: Store
    stats: Stats
    faults: FaultInjector
    provisioning: Provisioning
    feed: DataPlaneFeed


def mask(kind: str, record: Record) -> Record:
    if kind != CERT:
        return record
    masked = dict(record)
    for name in ("private_key", "enc_private_key"):
        if masked.get(name):
            masked[name] = MASK
    return masked


def state(emulator: Emulated) -> dict[str, Any]:
    with emulator.store.transaction(write=False) as tx:
        dump: dict[str, Any] = {kind + "s": [mask(kind, r) for r in tx.all(kind)] for kind in KINDS}
        dump["bind_ports"] = tx.bind_ports()
    # A pool's listener is the one whose default_pool_id names it (stored on the listener).
    bound = {x["default_pool_id"]: x["id"] for x in dump["listeners"] if x.get("default_pool_id")}
    for pool in dump["pools"]:
        pool["listener_id"] = bound.get(pool["id"])
    return dump


def dataplane(emulator: Emulated) -> dict[str, Any]:
    with emulator.store.transaction(write=False) as tx:
        ports = tx.bind_ports()
        listeners = tx.all(LISTENER)
    served = []
    for listener in listeners:
        port = ports.get(listener["id"])
        if listener["protocol"] not in HTTPS_PROTOCOLS or not port or not emulator.feed.enabled:
            continue
        served.append(
            {
                "id": listener["id"],
                "name": listener.get("name") or "",
                "loadbalancer_id": listener["loadbalancer_id"],
                "protocol": listener["protocol"],
                "protocol_port": listener["protocol_port"],
                "address": "127.0.0.1",
                "port": port,
                "mutual_auth": bool(listener.get("client_ca_tls_container_ref")),
            }
        )
    return {"listeners": served}


# Each endpoint: (emulator, request body) -> (status, JSON payload).
Endpoint = Callable[[Emulated, bytes], tuple[int, Any]]


def _stats_reset(emulator: Emulated, body: bytes) -> tuple[int, Any]:
    emulator.stats.reset()
    return 200, emulator.stats.snapshot()


def _put_faults(emulator: Emulated, body: bytes) -> tuple[int, Any]:
    try:
        config = FaultConfig.from_dict(json.loads(body or b"{}"))
    except (ValueError, TypeError) as exc:
        return 400, {"error": str(exc)}
    emulator.faults.configure(config)
    return 200, config.to_dict()


def _put_provisioning(emulator: Emulated, body: bytes) -> tuple[int, Any]:
    try:
        data = json.loads(body or b"{}")
        busy_ms = data["busy_ms"] if isinstance(data, dict) else None
        if isinstance(busy_ms, bool) or not isinstance(busy_ms, int):
            raise ValueError("'busy_ms' must be an integer number of milliseconds")
        emulator.provisioning.configure(busy_ms)
    except (ValueError, KeyError) as exc:
        return 400, {"error": f"bad provisioning setting: {exc}"}
    return 200, {"busy_ms": emulator.provisioning.busy_ms}


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("GET", "health"): lambda e, _: (200, {"ok": True}),
    ("GET", "dataplane"): lambda e, _: (200, dataplane(e)),
    ("GET", "stats"): lambda e, _: (200, e.stats.snapshot()),
    ("POST", "stats/reset"): _stats_reset,
    ("GET", "faults"): lambda e, _: (200, e.faults.config.to_dict()),
    ("PUT", "faults"): _put_faults,
    ("GET", "provisioning"): lambda e, _: (200, {"busy_ms": e.provisioning.busy_ms}),
    ("PUT", "provisioning"): _put_provisioning,
    ("GET", "state"): lambda e, _: (200, state(e)),
}


def handle(
    emulator: Emulated, method: str, path: str, body: bytes, request_id: str
) -> WireResponse:
    endpoint = ENDPOINTS.get((method, path.rstrip("/").removeprefix(PREFIX)))
    if endpoint is None:
        payload = {"error": f"no emulator endpoint {method} {path}"}
        return json_response(404, payload, request_id)
    status, payload = endpoint(emulator, body)
    return json_response(status, payload, request_id)
