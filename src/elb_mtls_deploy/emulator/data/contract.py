"""The contract between the emulator's control plane and its data plane.

The control plane (``control.feed``) turns its SQLite rows into these plain values after
every change and hands them to a ``DataPlaneApi`` (``data.listeners.DataPlane``), which
serves them. Neither side sees the other's internals; this module imports nothing of either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ServedMember:
    address: str
    port: int
    weight: int = 1


@dataclass(frozen=True)
class ServedListener:
    """One listener as the data plane must serve it on loopback."""

    listener_id: str
    name: str
    loadbalancer_id: str
    protocol: str  # HTTPS (v3) or TERMINATED_HTTPS (v2); others are not served
    protocol_port: int  # the port the API knows (e.g. 443); reported in X-Forwarded-Port
    bind_port: int  # loopback port to bind; 0 = pick a free one
    server_cert_pem: str  # leaf first, then any chain, as uploaded
    server_key_pem: str
    client_ca_pem: str | None  # set = client certificates required and verified against it
    certificate_id: str
    tls_ciphers_policy: str = "tls-1-2"
    http2_enable: bool = False
    vip_address: str = "127.0.0.1"
    insert_headers: Mapping[str, Any] = field(default_factory=dict)
    members: tuple[ServedMember, ...] = ()


class DataPlaneApi(Protocol):
    """What the control plane may call on the data plane."""

    def sync(self, listeners: Sequence[ServedListener]) -> dict[str, int]:
        """Serve exactly these listeners; return listener_id -> bound loopback port."""
        ...

    def close(self) -> None: ...
