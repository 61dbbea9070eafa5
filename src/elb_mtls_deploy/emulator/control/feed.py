"""The control plane's feed to the data plane, in the terms of ``data.contract``.

After startup and after every successful mutating request, every HTTPS/TERMINATED_HTTPS
listener with a server certificate becomes a ``ServedListener`` (its pool's members, the CA
PEM when mutual auth is on, the previously bound loopback port) and the data plane is told
to converge; the ports it reports are stored so they survive restarts. This is the only
control-plane module that knows the data plane exists, and it sees no more of it than the
contract. ``data.listeners`` is imported lazily, so an emulator without a data plane
(``dataplane=False``: ``plan``, unit tests) never loads the TLS and proxy code.
"""

from __future__ import annotations

import logging
import threading

from ..data.contract import DataPlaneApi, ServedListener, ServedMember
from .models import CERT, HTTPS_PROTOCOLS, LB, LISTENER, MEMBER, POOL
from .store import Record, Store, Tx

log = logging.getLogger(__name__)


def _get(tx: Tx, kind: str, rid: str | None, project_id: str) -> Record | None:
    return tx.get(kind, rid, project_id) if rid else None


def _pool_for(listener: Record, pools: list[Record]) -> Record | None:
    for pool in pools:
        if pool["id"] == listener.get("default_pool_id"):
            return pool
    return None


def _served_policy(listener: Record) -> str:
    # A custom security policy wins over tls_ciphers_policy (docs/api-notes.md §10.2); the
    # emulator does not model custom policies and serves them as the default tls-1-2.
    if listener.get("security_policy_id"):
        return "tls-1-2"
    return listener.get("tls_ciphers_policy") or "tls-1-2"


def served_listeners(tx: Tx) -> list[ServedListener]:
    """Every listener the data plane must serve, across all projects, in creation order."""
    ports = tx.bind_ports()
    pools = tx.all(POOL)
    members = tx.all(MEMBER)
    served: list[ServedListener] = []
    for listener in tx.all(LISTENER):
        project = listener["project_id"]
        cert = _get(tx, CERT, listener.get("default_tls_container_ref"), project)
        if listener["protocol"] not in HTTPS_PROTOCOLS or cert is None:
            continue
        ca = _get(tx, CERT, listener.get("client_ca_tls_container_ref"), project)
        lb = _get(tx, LB, listener["loadbalancer_id"], project) or {}
        pool = _pool_for(listener, pools)
        backends = tuple(
            ServedMember(address=m["address"], port=m["protocol_port"], weight=m["weight"])
            for m in members
            if pool is not None and m["pool_id"] == pool["id"] and m.get("admin_state_up", True)
        )
        served.append(
            ServedListener(
                listener_id=listener["id"],
                name=listener.get("name") or "",
                loadbalancer_id=listener["loadbalancer_id"],
                protocol=listener["protocol"],
                protocol_port=listener["protocol_port"],
                bind_port=ports.get(listener["id"], 0),
                server_cert_pem=cert["certificate"],
                server_key_pem=cert.get("private_key") or "",
                client_ca_pem=ca["certificate"] if ca else None,
                certificate_id=cert["id"],
                tls_ciphers_policy=_served_policy(listener),
                http2_enable=bool(listener.get("http2_enable")),
                vip_address=lb.get("vip_address") or "127.0.0.1",
                insert_headers=dict(listener.get("insert_headers") or {}),
                members=backends,
            )
        )
    return served


class DataPlaneFeed:
    """Owns the data plane (if enabled) and serialises the feeding of it."""

    def __init__(self, store: Store, enabled: bool, demo_backends: bool) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._plane: DataPlaneApi | None = None
        if enabled:
            from ..data.listeners import DataPlane  # here: loaded only when serving

            self._plane = DataPlane(host="127.0.0.1", demo_backends=demo_backends)

    @property
    def enabled(self) -> bool:
        return self._plane is not None

    def sync(self) -> None:
        if self._plane is None:
            return
        with self._lock:
            with self._store.transaction(write=False) as tx:
                listeners = served_listeners(tx)
            try:
                ports = self._plane.sync(listeners)
            except Exception:
                # The API change is already committed; a serving failure must not undo it.
                log.exception("data plane sync failed")
                return
            with self._store.transaction(write=True) as tx:
                tx.set_bind_ports(ports)

    def close(self) -> None:
        with self._lock:
            if self._plane is not None:
                self._plane.close()
                self._plane = None
