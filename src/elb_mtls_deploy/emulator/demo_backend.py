"""A tiny HTTP echo server that stands in for a pool member on loopback.

It answers every request with ``200`` and a JSON echo of what arrived, so a user can see
their client identity reach the backend through the ELB's forwarding headers. It owns only
its own socket and threads; it must not know about listeners or TLS.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)


class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "elb-emulator-demo-backend"
    sys_version = ""
    timeout = 30.0
    # Headers and body go out in separate writes; Nagle would hold the second for an ACK.
    disable_nagle_algorithm = True
    server: _EchoServer

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    def _echo(self) -> None:
        length = self.headers.get("Content-Length", "0")
        received = self.rfile.read(int(length)) if length.isdigit() else b""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        body = json.dumps(
            {
                "backend": self.server.label,
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


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    label = ""


class DemoBackend:
    """An echo HTTP server bound to ``host:port`` (0 = any free port) until `close`."""

    def __init__(self, host: str, port: int) -> None:
        self._server = _EchoServer((host, port), _EchoHandler)  # OSError if taken
        self.host = host
        self.port: int = self._server.server_address[1]
        self._server.label = f"{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"demo-backend-{self._server.label}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
