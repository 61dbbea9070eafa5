"""A fault-injecting HTTP proxy on 127.0.0.1 between the SDK and the emulator.

It sits where the network and an API gateway would, and injects what the emulator's own
fault injector cannot, because they happen on the wire:

- ``timeout``: the request is held past the client's read timeout, *then* forwarded, so it
  commits late (after the client gave up, looked up and maybe re-sent);
- ``cut``: the reply is forwarded with its headers and half its body, then the
  connection is closed (``ChunkedEncodingError`` / IncompleteRead in the client);
- ``junk``: a list (GET) answers 200 with a body that is not the list: an HTML page, cut
  JSON, the collection as a string, or a gzip ``Content-Encoding`` over plain bytes;
- ``retry-after``: a 429 that is never forwarded, with an abusive ``Retry-After``
  (100000, a date in 2099, ``inf``, ``nan``, ``1e308``, ``-1``);
- while the upstream emulator is down (``kill``: the campaign closes and restarts it), new
  connections are closed without a reply.

Faults are drawn from one seeded RNG per proxy; ``/_emulator/*`` (discovery, state) is
never faulted, and ``/_emulator/health`` is answered here, so a command started while the
emulator is down still finds "the cloud" (a real endpoint does not vanish from DNS).
One request per client connection (``Connection: close``): simple and enough on loopback.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"
PROXY_FAULTS = ("timeout", "cut", "junk", "retry-after", "kill")
ABUSIVE_RETRY_AFTER = ("100000", "Fri, 01 Jan 2099 00:00:00 GMT", "inf", "nan", "1e308", "-1")


@dataclass(frozen=True)
class ProxyFaults:
    """Rates per API request (junk: per list request). `read_timeout` must match the
    client's; a held request is forwarded `read_timeout + uniform(0, late_max)` later."""

    timeout_rate: float = 0.03
    cut_rate: float = 0.03
    junk_rate: float = 0.04
    retry_after_rate: float = 0.01
    read_timeout: float = 1.0
    late_max: float = 1.0
    seed: int = 0
    # Scripted: the first N certificate creates are held and commit exactly
    # `read_timeout + late_max` after they were sent (the late-commit duplicate case).
    late_certificate_creates: int = 0


@dataclass
class Request:
    method: str
    target: str
    raw: bytes  # the whole request as sent upstream (Connection: close)


def _read_request(reader: socket.SocketIO | object) -> Request | None:
    """One HTTP/1.1 request from a buffered reader (request line, headers, Content-Length
    body); None at EOF or on anything unparsable."""
    readline: Callable[[int], bytes] = reader.readline  # type: ignore[attr-defined]
    line = readline(65537)
    if not line or not line.strip():
        return None
    try:
        method, target, _ = line.decode("latin-1").split(" ", 2)
    except ValueError:
        return None
    headers: list[bytes] = []
    length = 0
    while True:
        header = readline(65537)
        if not header or header in (b"\r\n", b"\n"):
            break
        name, _, value = header.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip() or b"0")
        if lowered not in (b"connection", b"keep-alive"):
            headers.append(header)
    body = reader.read(length) if length else b""  # type: ignore[attr-defined]
    raw = line + b"".join(headers) + b"Connection: close\r\n\r\n" + body
    return Request(method, target, raw)


@dataclass
class Upstream:
    """The current emulator port; None while it is down (the campaign restarts it)."""

    port: int | None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> int | None:
        with self.lock:
            return self.port

    def set(self, port: int | None) -> None:
        with self.lock:
            self.port = port


class FaultProxy:
    """Listens on 127.0.0.1:<any port>; `endpoint` is what the SDK is pointed at."""

    def __init__(self, upstream: Upstream, faults: ProxyFaults) -> None:
        self.upstream = upstream
        self.faults = faults
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._listener = socket.create_server((HOST, 0))
        self.port = int(self._listener.getsockname()[1])
        self.endpoint = f"http://{HOST}:{self.port}"
        self._closed = threading.Event()
        self.late_committed = threading.Event()  # a scripted late create was forwarded
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._thread.start()

    def configure(self, faults: ProxyFaults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)

    def take(self) -> Counter[str]:
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def count(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ serving

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = _read_request(conn.makefile("rb"))
                if request is not None:
                    self._answer(conn, request)
            except OSError:
                pass  # the client gave up (its read timeout) or the upstream died

    def _draw(self, request: Request) -> str:
        if request.target.startswith("/_emulator/"):
            return ""
        is_list = request.method == "GET"
        with self._lock:
            self.counts["requests"] += 1
            f, roll = self.faults, self._rng.random()
            path = request.target.split("?")[0]
            scripted = request.method == "POST" and path.endswith("/certificates")
            if scripted and self.counts["scripted"] < f.late_certificate_creates:
                self.counts["scripted"] += 1
                self.counts["timeout"] += 1
                return "late"
            for kind, rate in (
                ("timeout", f.timeout_rate),
                ("cut", f.cut_rate),
                ("junk", f.junk_rate if is_list else 0.0),
                ("retry-after", f.retry_after_rate),
            ):
                if roll < rate:
                    self.counts[kind] += 1
                    return kind
                roll -= rate
            return ""

    def _answer(self, conn: socket.socket, request: Request) -> None:
        if request.target.startswith("/_emulator/health"):
            _reply(conn, 200, b'{"ok": true}')
            return
        kind = self._draw(request)
        if kind == "retry-after":
            with self._lock:
                value = self._rng.choice(ABUSIVE_RETRY_AFTER)
            body = json.dumps({"error_code": "APIGW.0308", "error_msg": "throttled by proxy"})
            _reply(conn, 429, body.encode(), [f"Retry-After: {value}"])
            return
        if kind in ("timeout", "late"):
            with self._lock:
                f = self.faults
                extra = f.late_max if kind == "late" else self._rng.uniform(0, f.late_max)
            time.sleep(f.read_timeout + extra)  # the client times out; then the request commits
            self._forward(request)
            if kind == "late":
                self.late_committed.set()
            return
        response = self._forward(request)
        if response is None:
            return  # upstream down: close without a reply
        response = _closing(response)
        if kind == "cut":
            head, _, body = response.partition(b"\r\n\r\n")
            conn.sendall(head + b"\r\n\r\n" + body[: len(body) // 2])
            return
        if kind == "junk":
            conn.sendall(self._junk(request))
            return
        conn.sendall(response)

    def _forward(self, request: Request) -> bytes | None:
        port = self.upstream.get()
        if port is None:
            return None
        try:
            with socket.create_connection((HOST, port), timeout=30) as up:
                up.sendall(request.raw)
                chunks = []
                while chunk := up.recv(65536):
                    chunks.append(chunk)
        except OSError:
            return None
        return b"".join(chunks) or None

    def _junk(self, request: Request) -> bytes:
        collection = request.target.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            choice = self._rng.randrange(4)
        if choice == 3:  # claims gzip, is not: ContentDecodingError in the client
            body = b'{"' + collection.encode() + b'": []}'
            return _response(200, body, ["Content-Encoding: gzip"])
        body = [
            b"<html><body>502 Bad Gateway</body></html>",
            b'{"' + collection.encode() + b'": [{"id": "a", ',
            b'{"' + collection.encode() + b'": "not a list"}',
        ][choice]
        return _response(200, body)


def _closing(response: bytes) -> bytes:
    """The upstream reply with `Connection: close`, so the client never reuses a
    connection this proxy is about to close (that would be a fault of our own making)."""
    head, sep, body = response.partition(b"\r\n\r\n")
    lines = [
        line
        for line in head.split(b"\r\n")
        if not line.lower().startswith((b"connection:", b"keep-alive:"))
    ]
    return b"\r\n".join([*lines, b"Connection: close"]) + sep + body


def _response(status: int, body: bytes, extra: list[str] | None = None) -> bytes:
    reason = {200: "OK", 429: "Too Many Requests"}.get(status, "Status")
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(extra or []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _reply(conn: socket.socket, status: int, body: bytes, extra: list[str] | None = None) -> None:
    conn.sendall(_response(status, body, extra))
