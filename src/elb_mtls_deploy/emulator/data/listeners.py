"""The emulator's data plane: every HTTPS listener served for real on a loopback port.

Owns the listening sockets, their accept threads, the per-listener TLS configuration swap
and the demo backends. `DataPlane.sync` is the only entry point the control plane uses; it
receives plain `ServedListener` values and never sees the control plane's storage.

Reconfiguring a listener never closes its listening socket: each accepted connection is
wrapped with the `ssl.SSLContext` current when it is accepted, so a certificate or CA change
applies to new connections while open ones finish on the old one (zero-downtime rotation).
It must not import the control plane (lint-imports holds it to ``data``).
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Iterable, Sequence
from typing import Protocol

from .contract import ServedListener
from .demo_backend import DemoBackend
from .proxy import Route, Session, serve_connection
from .sockets import AcceptLoop, listen
from .tls import TlsMaterialError, build_context

log = logging.getLogger(__name__)

SERVED_PROTOCOLS = frozenset({"HTTPS", "TERMINATED_HTTPS"})
MEMBER_TIMEOUT_SECONDS = 5.0


class _Frontend:
    """One served listener: an accept loop over its socket and the current configuration.

    A connection is handed the configuration current when it is taken over, so a
    certificate or CA change applies to new connections while open ones finish on theirs.
    """

    def __init__(
        self,
        sock: socket.socket,
        listener: ServedListener,
        context: ssl.SSLContext,
        member_timeout: float,
    ) -> None:
        self.port: int = sock.getsockname()[1]
        self._member_timeout = member_timeout
        self._lock = threading.Lock()
        self.configure(listener, context)
        self._loop = AcceptLoop(sock, self._serve, name=f"dp-accept-{self.port}")

    @property
    def listener(self) -> ServedListener:
        return self._listener

    def configure(self, listener: ServedListener, context: ssl.SSLContext) -> None:
        """Swap in a new configuration; only connections accepted from now on see it."""
        with self._lock:
            self._listener, self._context = listener, context
            self._route = Route.of(listener)

    def stop(self) -> None:
        """Ask the accept loop to end (returns at once; ``join`` finishes)."""
        self._loop.stop()

    def join(self) -> None:
        self._loop.join()

    def close(self) -> None:
        self.stop()
        self.join()

    def _current_route(self) -> Route:
        with self._lock:
            return self._route

    def _serve(self, raw: socket.socket, address: tuple[str, int]) -> None:
        with self._lock:
            context = self._context
            session = Session(
                self._current_route, self._listener.certificate_id, self._member_timeout
            )
        serve_connection(raw, address, context, session, track=self._loop.track)


class DataPlane:
    """Serves HTTPS listeners on ``host`` and, optionally, demo backends for their members."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        demo_backends: bool = True,
        *,
        member_timeout: float = MEMBER_TIMEOUT_SECONDS,
    ) -> None:
        self.host = host
        self.demo_backends = demo_backends
        self.member_timeout = member_timeout
        self._lock = threading.RLock()
        self._frontends: dict[str, _Frontend] = {}
        self._demos: dict[tuple[str, int], DemoBackend] = {}
        self._errors: dict[str, str] = {}
        self._closed = False

    @property
    def errors(self) -> dict[str, str]:
        """listener_id -> why the last sync could not (re)configure it (never key material)."""
        with self._lock:
            return dict(self._errors)

    def ports(self) -> dict[str, int]:
        with self._lock:
            return {lid: frontend.port for lid, frontend in self._frontends.items()}

    def sync(self, listeners: Sequence[ServedListener]) -> dict[str, int]:
        """Serve exactly the HTTPS listeners given; returns listener_id -> bound port.

        A listener whose TLS material cannot be loaded keeps its previous configuration
        (or is not served if new) and is reported in `errors`.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the data plane is closed")
            wanted = {s.listener_id: s for s in listeners if s.protocol.upper() in SERVED_PROTOCOLS}
            _close_all([self._frontends.pop(gone) for gone in set(self._frontends) - set(wanted)])
            self._errors = {}
            for listener in wanted.values():
                self._apply(listener)
            self._sync_demo_backends()
            return self.ports()

    def close(self) -> None:
        """Stop every listener and demo backend and join their threads. Idempotent."""
        with self._lock:
            self._closed = True
            _close_all([*self._frontends.values(), *self._demos.values()])
            self._frontends.clear()
            self._demos.clear()

    def __enter__(self) -> DataPlane:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _apply(self, listener: ServedListener) -> None:
        frontend = self._frontends.get(listener.listener_id)
        if frontend is not None and _same_config(frontend.listener, listener):
            return
        try:
            context = build_context(listener)
        except TlsMaterialError as exc:
            log.error("listener %s not (re)configured: %s", listener.listener_id, exc)
            self._errors[listener.listener_id] = str(exc)
            return
        if frontend is None:
            sock = _bind(self.host, listener.bind_port)
            frontend = _Frontend(sock, listener, context, self.member_timeout)
            self._frontends[listener.listener_id] = frontend
        else:
            frontend.configure(listener, context)

    def _sync_demo_backends(self) -> None:
        needed = _loopback_members(f.listener for f in self._frontends.values())
        if not self.demo_backends:
            needed = set()
        _close_all([self._demos.pop(key) for key in set(self._demos) - needed])
        for address, port in needed - set(self._demos):
            try:
                self._demos[(address, port)] = DemoBackend(address, port)
            except OSError:  # something already listens there: that is the real backend
                log.debug("member %s:%s already served; no demo backend", address, port)


class _Closable(Protocol):
    def stop(self) -> None: ...

    def join(self) -> None: ...


def _close_all(servers: Sequence[_Closable]) -> None:
    """Signal every server first, then wait: closing N costs one wait, not N."""
    for server in servers:
        server.stop()
    for server in servers:
        server.join()


def _same_config(current: ServedListener | None, new: ServedListener) -> bool:
    # bind_port only matters when binding; a served listener keeps its socket.
    return current is not None and dataclasses.replace(current, bind_port=0) == (
        dataclasses.replace(new, bind_port=0)
    )


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``port``, or on a free one if that is taken (or 0)."""
    try:
        return listen(host, port)
    except OSError as exc:
        if port == 0 or exc.errno != errno.EADDRINUSE:
            raise
        log.info("port %s on %s is taken; picking a free one", port, host)
        return listen(host, 0)


def _loopback_members(listeners: Iterable[ServedListener | None]) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for listener in listeners:
        for member in listener.members if listener else ():
            if member.port > 0 and _is_loopback(member.address):
                found.add((member.address, member.port))
    return found


def _is_loopback(address: str) -> bool:
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False
