"""The emulator's own unsigned endpoints under ``/_emulator/`` (never faulted, never counted).

``health``, ``dataplane`` (where each served listener listens), ``stats`` (+ reset),
``faults`` (GET/PUT a FaultConfig as JSON), ``provisioning`` (GET/PUT ``{"busy_ms": N}``:
how long a load balancer stays PENDING_UPDATE after a change; 0 = off) and ``state`` (a
dump of every record with private keys masked).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .db import Record
from .faults import FaultConfig
from .models import CERT, HTTPS_PROTOCOLS, LB, LISTENER, MEMBER, MONITOR, POOL

if TYPE_CHECKING:
    from .core import Emulator, WireResponse

MASK = "*****"  # the real API's masking string when private-key echo is off (§2.3)
KINDS = (LB, CERT, LISTENER, POOL, MEMBER, MONITOR)


def mask(kind: str, record: Record) -> Record:
    if kind != CERT:
        return record
    masked = dict(record)
    for name in ("private_key", "enc_private_key"):
        if masked.get(name):
            masked[name] = MASK
    return masked


def state(emulator: Emulator) -> dict[str, Any]:
    with emulator.store.transaction(write=False) as tx:
        dump: dict[str, Any] = {kind + "s": [mask(kind, r) for r in tx.all(kind)] for kind in KINDS}
        dump["bind_ports"] = tx.bind_ports()
    # A pool's listener is the one whose default_pool_id names it (stored on the listener).
    bound = {x["default_pool_id"]: x["id"] for x in dump["listeners"] if x.get("default_pool_id")}
    for pool in dump["pools"]:
        pool["listener_id"] = bound.get(pool["id"])
    return dump


def dataplane(emulator: Emulator) -> dict[str, Any]:
    with emulator.store.transaction(write=False) as tx:
        ports = tx.bind_ports()
        listeners = tx.all(LISTENER)
    served = []
    for listener in listeners:
        port = ports.get(listener["id"])
        if listener["protocol"] not in HTTPS_PROTOCOLS or not port or not emulator.plane.enabled:
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


def _provisioning(emulator: Emulator, method: str, body: bytes, request_id: str) -> WireResponse:
    from .core import json_response

    if method == "PUT":
        try:
            data = json.loads(body or b"{}")
            busy_ms = data["busy_ms"] if isinstance(data, dict) else None
            if isinstance(busy_ms, bool) or not isinstance(busy_ms, int):
                raise ValueError("'busy_ms' must be an integer number of milliseconds")
            emulator.provisioning.configure(busy_ms)
        except (ValueError, KeyError) as exc:
            return json_response(400, {"error": f"bad provisioning setting: {exc}"}, request_id)
    return json_response(200, {"busy_ms": emulator.provisioning.busy_ms}, request_id)


def handle(
    emulator: Emulator, method: str, path: str, body: bytes, request_id: str
) -> WireResponse:
    from .core import json_response

    route = path.rstrip("/")
    if (method, route) == ("GET", "/_emulator/health"):
        return json_response(200, {"ok": True}, request_id)
    if (method, route) == ("GET", "/_emulator/dataplane"):
        return json_response(200, dataplane(emulator), request_id)
    if (method, route) == ("GET", "/_emulator/stats"):
        return json_response(200, emulator.stats.snapshot(), request_id)
    if (method, route) == ("POST", "/_emulator/stats/reset"):
        emulator.stats.reset()
        return json_response(200, emulator.stats.snapshot(), request_id)
    if (method, route) == ("GET", "/_emulator/faults"):
        return json_response(200, emulator.faults.config.to_dict(), request_id)
    if (method, route) == ("PUT", "/_emulator/faults"):
        try:
            config = FaultConfig.from_dict(json.loads(body or b"{}"))
        except (ValueError, TypeError) as exc:
            return json_response(400, {"error": str(exc)}, request_id)
        emulator.faults.configure(config)
        return json_response(200, config.to_dict(), request_id)
    if route == "/_emulator/provisioning" and method in ("GET", "PUT"):
        return _provisioning(emulator, method, body, request_id)
    if (method, route) == ("GET", "/_emulator/state"):
        return json_response(200, state(emulator), request_id)
    return json_response(404, {"error": f"no emulator endpoint {method} {path}"}, request_id)
