"""Embedded Huawei Cloud ELB emulator: the v3/v2 REST API on loopback, state in SQLite.

Control plane: ``urls`` (routing table) -> ``responses`` (wire in/out) -> ``models``
(resources and invariants over ``db``) with ``exceptions`` serialised only at the edge in
``core``; ``signing`` verifies SDK-HMAC-SHA256; ``faults`` injects failures; ``plane``
feeds the data plane (``dataplane``) through the ``served`` contract. This subpackage
imports nothing from the rest of ``elb_mtls_deploy``: it speaks only the wire format.
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
    from .core import Emulator, WireResponse
    from .faults import FaultConfig
    from .server import RunningServer, discover_server, start_server

# The heavy parts (SQLite models, cryptography, servers) load on first use, so that
# `deploy --help`, which registers the emulator's subcommands, stays fast.
_LAZY = {
    "Emulator": "core",
    "WireResponse": "core",
    "FaultConfig": "faults",
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
