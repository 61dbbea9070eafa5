"""Embedded Huawei Cloud ELB emulator: the v3/v2 REST API on loopback, state in SQLite.

Two halves, each its own subpackage, plus the process edges at this level::

    constants        demo credentials, seeded load balancers, file names
    server           the loopback HTTP server around an Emulator; discovery of a running one
    testing          the same Emulator mounted in-process on ``responses`` (no sockets)
    cli              ``deploy emulator serve|state|reset``
    control/         the REST API (the control plane)
      api            Emulator.handle: faults, signature, project, one transaction, feed
      admin          the unsigned /_emulator/ endpoints (health, state, faults, ...)
      routes         (method, path template) -> handler
      handlers       wire in/out; one Resource row per kind (keys, verbs, filters)
      shapes         per-version wire objects; one Shape row per kind
      models         the resources and their invariants
      store          SQLite: resources and data-plane ports; transactions
      wire           WireResponse and the JSON / error envelopes
      exceptions     one class per API error
      signing        SDK-HMAC-SHA256 verification
      faults         injected latency, errors, busy, lost responses
      provisioning   PENDING_UPDATE windows after each change
      seed           the demo load balancers of each project
      pem            certificate and key checks, server-computed certificate fields
      insert_headers the listener insert_headers switches and their rules
      stats          request counters
      feed           control-plane state -> data.contract values -> the data plane
    data/            the real mTLS data plane
      contract       ServedListener / ServedMember and DataPlaneApi: all the halves share
      listeners      DataPlane: one TLS listener per served listener, demo backends
      proxy          HTTP/1.1 proxying to members
      headers        the forwarding headers (pure)
      tls            ssl contexts from uploaded material and TLS policies
      sockets        listening sockets and accept loops
      demo_backend   the echo server standing in for a loopback member

Nothing here imports the rest of ``elb_mtls_deploy`` (it speaks only the wire format), and
the data plane imports nothing of the control plane; lint-imports holds both.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .constants import (
    DEMO_AK,
    DEMO_PROJECT_ID,
    DEMO_SK,
    SEEDED_DEDICATED_LB_ID,
    SEEDED_DEDICATED_LB_NAME,
    SEEDED_NO_IP_TARGET_LB_ID,
    SEEDED_NO_IP_TARGET_LB_NAME,
    SEEDED_SHARED_LB_ID,
    SEEDED_SHARED_LB_NAME,
)

if TYPE_CHECKING:
    from .control.api import Emulator
    from .control.faults import FaultConfig
    from .control.wire import WireResponse
    from .server import RunningServer, discover_server, start_server

# The heavy parts (SQLite models, cryptography, servers) load on first use, so that
# `deploy --help`, which registers the emulator's subcommands, stays fast.
_LAZY = {
    "Emulator": "control.api",
    "WireResponse": "control.wire",
    "FaultConfig": "control.faults",
    "RunningServer": "server",
    "discover_server": "server",
    "start_server": "server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "DEMO_AK",
    "DEMO_PROJECT_ID",
    "DEMO_SK",
    "SEEDED_DEDICATED_LB_ID",
    "SEEDED_DEDICATED_LB_NAME",
    "SEEDED_NO_IP_TARGET_LB_ID",
    "SEEDED_NO_IP_TARGET_LB_NAME",
    "SEEDED_SHARED_LB_ID",
    "SEEDED_SHARED_LB_NAME",
    "Emulator",
    "FaultConfig",
    "RunningServer",
    "WireResponse",
    "discover_server",
    "start_server",
]
