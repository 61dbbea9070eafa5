"""A tiny HTTP echo server that stands in for a pool member on loopback.

It answers every request with ``200`` and a JSON echo of what arrived, so a user can see
their client identity reach the backend through the ELB's forwarding headers. It owns only
its own socket and threads; it must not know about listeners or TLS.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from http.server import BaseHTTPRequestHandler
from socketserver import BaseServer
from typing import cast

from .sockets import AcceptLoop, listen

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024
_DIGITS = re.compile(r"[0-9]{1,12}")


class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "elb-emulator-demo-backend"
    sys_version = ""
    timeout = 30.0
    # Headers and body go out in separate writes; Nagle would hold the second for an ACK.
    disable_nagle_algorithm = True

    def __init__(self, conn: socket.socket, address: tuple[str, int], label: str) -> None:
        self.label = label
        # http.server never uses `server` here beyond storing it.
        super().__init__(conn, address, cast(BaseServer, None))

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    def _echo(self) -> None:
        length = (self.headers.get("Content-Length") or "0").strip()
        if not _DIGITS.fullmatch(length) or int(length) > MAX_BODY:
            self.close_connection = True
            self.send_error(400, "invalid Content-Length")
            return
        received = self.rfile.read(int(length)) if int(length) else b""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        body = json.dumps(
            {
                "backend": self.label,
                "method": self.command,
                "path": self.path,
                "headers": headers,
                "body_length": len(received),
            },
            indent=2,
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _echo


class DemoBackend:
    """An echo HTTP server bound to ``host:port`` (0 = any free port) until `close`.

    Starting binds one socket (no reverse DNS lookup) and stopping is a wake-up and a join
    (``sockets``): milliseconds, so a thousand demo members start and stop quickly.
    """

    def __init__(self, host: str, port: int) -> None:
        sock = listen(host, port)  # OSError if taken
        self.host = host
        self.port: int = sock.getsockname()[1]
        self.label = f"{host}:{self.port}"
        self._loop = AcceptLoop(sock, self._serve, name=f"demo-backend-{self.label}")

    def _serve(self, conn: socket.socket, address: tuple[str, int]) -> None:
        try:
            _EchoHandler(conn, address, self.label)
        except (OSError, ValueError) as exc:  # client gone, or shut down by close()
            log.debug("demo backend %s: connection ended: %s", self.label, exc)

    def stop(self) -> None:
        """Begin closing (returns at once); ``join`` finishes. Lets many close together."""
        self._loop.stop()

    def join(self) -> None:
        self._loop.join()

    def close(self) -> None:
        self.stop()
        self.join()
