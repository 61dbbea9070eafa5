"""The loopback HTTP server around an ``Emulator`` and discovery of a running one.

``start_server`` binds 127.0.0.1 only (never a public interface), speaks HTTP/1.1 with
keep-alive and Content-Length (docs/api-notes.md §7), serves each connection on a daemon thread and
logs nothing per request. ``serve`` mode announces itself in ``<state_dir>/server.json`` so
other processes can find it with ``discover_server``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .constants import SERVER_FILENAME
from .control.api import Emulator

HOST = "127.0.0.1"
MAX_BODY = 16 * 1024 * 1024  # far above any ELB request (a certificate chain is ~10 KB)
IDLE_SECONDS = 300.0  # a client that stalls (or idles) this long frees its thread
_DIGITS = re.compile(r"[0-9]{1,12}")


def content_length(values: list[str] | None) -> int | None:
    """The request's body length, or None if its framing is unusable (400, close)."""
    if not values:
        return 0
    if len({v.strip() for v in values}) != 1 or not _DIGITS.fullmatch(values[0].strip()):
        return None  # "abc", "-1", "1, 2", "²", or absurdly long
    length = int(values[0].strip())
    return length if length <= MAX_BODY else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for the
    # client's delayed ACK (~40 ms per request on Linux).
    disable_nagle_algorithm = True
    timeout = IDLE_SECONDS
    server: _Server

    def _dispatch(self) -> None:
        length = content_length(self.headers.get_all("Content-Length"))
        if length is None or "Transfer-Encoding" in self.headers:
            self._bad_framing()
            return
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        response = self.server.emulator.handle(self.command, self.path, headers, body)
        if response.drop:
            # Lost-response fault: the change is committed, the client never hears back.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def _bad_framing(self) -> None:
        # Answered here, before any body is read, and the connection closed: the rest of
        # the stream cannot be framed. The gateway's wording/code is a guess.
        self.close_connection = True
        body = json.dumps(
            {
                "error_msg": "Bad request: invalid Content-Length or unsupported Transfer-Encoding",
                "error_code": "APIGW.0201",
                "request_id": "",
            }
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the stats endpoint counts requests instead


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__((HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that dies mid-request (killed pipeline, Ctrl-C) is not a server error:
        # no traceback on the `deploy emulator serve` console for a broken pipe or reset.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class RunningServer:
    """A started emulator server; a context manager that closes it."""

    def __init__(self, server: _Server, emulator: Emulator, announce: Path | None) -> None:
        self._server = server
        self.emulator = emulator
        self.port = int(server.server_address[1])
        self.endpoint = f"http://{HOST}:{self.port}"
        self._announce = announce
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"elb-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.emulator.close()
        if self._announce is not None:
            _remove_announcement(self._announce)
            self._announce = None

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def start_server(
    state_dir: Path, port: int = 0, announce: bool = False, **emulator_kwargs: Any
) -> RunningServer:
    """Start an emulator on 127.0.0.1:``port`` (0 = any free port) over ``state_dir``.

    ``announce`` (used by ``deploy emulator serve``) writes ``<state_dir>/server.json``.
    """
    state_dir = Path(state_dir)
    emulator = Emulator(state_dir, **emulator_kwargs)
    try:
        server = _Server(port, emulator)
    except BaseException:
        emulator.close()
        raise
    path = state_dir / SERVER_FILENAME if announce else None
    running = RunningServer(server, emulator, path)
    if path is not None:
        _write_announcement(path, running.endpoint)
    return running


def _write_announcement(path: Path, endpoint: str) -> None:
    # Atomic replace, so a concurrent reader sees either the old or the new file, never half.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"pid": os.getpid(), "endpoint": endpoint}))
    os.replace(tmp, path)


def _remove_announcement(path: Path) -> None:
    # Only remove our own announcement: a second server may have replaced it since.
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def discover_server(state_dir: Path) -> str | None:
    """The endpoint of a live announced server for this state dir, else None."""
    try:
        info = json.loads((Path(state_dir) / SERVER_FILENAME).read_text())
        pid, endpoint = int(info["pid"]), str(info["endpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not endpoint.startswith(f"http://{HOST}:") or not _pid_alive(pid):
        return None
    try:
        # Loopback only; bypass any proxy settings explicitly.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{endpoint}/_emulator/health", timeout=1.0) as reply:
            ok = json.loads(reply.read()).get("ok") is True
    except (OSError, ValueError):
        return None
    return endpoint if ok else None
