"""Listening sockets for the data plane, cheap to open and to close.

``http.server.HTTPServer.server_bind`` resolves the host's FQDN (``socket.getfqdn``, a
reverse DNS lookup of ~95 ms here) and ``serve_forever`` only notices ``shutdown`` at its
next poll; with a demo backend per member that cost seconds per hundred members. Here a
socket is bound with no lookup, and each accept loop waits on its socket and a wake-up
pipe, so closing it takes one write and a join. This module must not know about TLS,
listeners or HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

JOIN_SECONDS = 5.0


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0 = any free port); OSError if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Lets a restarted emulator rebind while old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class AcceptLoop:
    """Accepts on one socket in its own thread and hands each connection to ``serve``.

    ``serve(conn, address)`` runs on a new daemon thread per connection; ``stop`` then
    ``join`` (or ``close``) end the loop and shut the connections still open.
    """

    def __init__(
        self,
        sock: socket.socket,
        serve: Callable[[socket.socket, tuple[str, int]], None],
        name: str,
    ) -> None:
        self._sock = sock
        self._serve = serve
        self._lock = threading.Lock()
        self._open: dict[threading.Thread, socket.socket] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end (returns at once; see ``join``)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def track(self, conn: socket.socket) -> None:
        """Called from a connection's thread when another socket replaces the accepted one
        (a TLS wrap detaches it): ``join`` then shuts down the one in use."""
        with self._lock:
            self._open[threading.current_thread()] = conn

    def join(self) -> None:
        self._thread.join(JOIN_SECONDS)
        with self._lock:
            open_now = list(self._open.items())
        for _, conn in open_now:
            # The base method: SSLSocket.shutdown would also drop the TLS state under the
            # feet of the thread still reading from it.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        for thread, _ in open_now:
            thread.join(JOIN_SECONDS)
        for sock in (self._wake_r, self._wake_w):
            sock.close()

    def close(self) -> None:
        self.stop()
        self.join()

    def _loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while all(key.fileobj is self._sock for key, _ in selector.select()):
                self._accept_one()
        self._sock.close()

    def _accept_one(self) -> None:
        try:
            conn, address = self._sock.accept()
        except OSError as exc:  # e.g. the client reset before we accepted
            log.debug("accept failed: %s", exc)
            return
        thread = threading.Thread(target=self._run, args=(conn, address), daemon=True)
        with self._lock:
            self._open[thread] = conn
        thread.start()

    def _run(self, conn: socket.socket, address: tuple[str, int]) -> None:
        try:
            self._serve(conn, address)
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self._lock:
                self._open.pop(threading.current_thread(), None)
