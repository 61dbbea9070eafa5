"""HTTP/1.1 reverse proxying of one TLS client connection to a listener's members.

Owns request parsing (via `http.server`), member choice (smooth weighted round robin),
the forwarding itself (via `http.client`) and the 502/504 answers. It must not accept
connections or build TLS contexts: the caller hands it an established TLS socket and a
`Session` that says which listener configuration is current.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler
from socketserver import BaseServer
from typing import cast

from .contract import ServedListener, ServedMember
from .headers import ConnectionFacts, ListenerFacts, forwarded_headers, is_managed, managed_names

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 60.0  # the API's default keepalive_timeout for HTTPS listeners
HANDSHAKE_SECONDS = 10.0
MAX_BODY = 16 * 1024 * 1024
_DIGITS = re.compile(r"[0-9]{1,12}")  # ASCII only: "²".isdigit() is true
# RFC 9110 §7.6.1 hop-by-hop headers, plus Expect: the proxy has already answered it.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "expect",
    }
)
_NO_BODY_STATUSES = frozenset({204, 304})


class WeightedRoundRobin:
    """nginx's smooth weighted round robin: deterministic and evenly interleaved."""

    def __init__(self, members: Iterable[ServedMember]) -> None:
        self._members = [m for m in members if m.weight > 0]
        self._current = [0] * len(self._members)
        self._total = sum(m.weight for m in self._members)
        self._lock = threading.Lock()

    def order(self) -> list[ServedMember]:
        """The next pick first, then the rest in list order (the retry order)."""
        if not self._members:
            return []
        with self._lock:
            for i, member in enumerate(self._members):
                self._current[i] += member.weight
            best = max(range(len(self._members)), key=self._current.__getitem__)
            self._current[best] -= self._total
        return self._members[best:] + self._members[:best]


@dataclass(frozen=True)
class Route:
    """The per-request view of a listener; replaced as a whole on every reconfiguration."""

    listener: ServedListener
    balancer: WeightedRoundRobin
    managed: frozenset[str]

    @classmethod
    def of(cls, listener: ServedListener) -> Route:
        return cls(
            listener, WeightedRoundRobin(listener.members), managed_names(listener.insert_headers)
        )


@dataclass(frozen=True)
class Session:
    """One accepted connection: the route getter and facts frozen at handshake time."""

    route: Callable[[], Route]
    certificate_id: str  # of the certificate this connection was handshaken with
    member_timeout: float


class _BadRequest(Exception):
    """The client's request framing cannot be parsed."""


class _MemberTimeout(Exception):
    """A member accepted the request but did not answer in time."""


class ProxyHandler(BaseHTTPRequestHandler):
    """Serves keep-alive HTTP/1.1 requests on one TLS connection by proxying them."""

    protocol_version = "HTTP/1.1"
    timeout = KEEPALIVE_SECONDS
    # Headers and body go out in separate writes; Nagle would hold the second for an ACK.
    disable_nagle_algorithm = True
    server_version = "elb-emulator"
    sys_version = ""

    def __init__(self, tls: ssl.SSLSocket, address: tuple[str, int], session: Session) -> None:
        self.session = session
        self.tls = tls
        # http.server never uses `server` on this path; the session replaces it.
        super().__init__(tls, address, cast(BaseServer, None))

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    def _proxy(self) -> None:
        try:
            _reject_obs_fold(self.headers)
            body = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True
            self._reply(400, str(exc))
            return
        route = self.session.route()
        headers = self._outgoing_headers(route)
        try:
            status, reason, out_headers, out_body = self._forward(route, headers, body)
        except _MemberTimeout:
            self._reply(504, "backend member timed out")
            return
        except _NoMember as exc:
            self._reply(502, str(exc))
            return
        self._send(status, reason, out_headers, out_body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _proxy

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _read_chunked(self.rfile.readline, self.rfile.read)
        lengths = self.headers.get_all("Content-Length")
        if not lengths:
            return None
        text = lengths[0].strip()
        if len({v.strip() for v in lengths}) != 1 or not _DIGITS.fullmatch(text):
            raise _BadRequest("invalid Content-Length")
        if int(text) > MAX_BODY:
            raise _BadRequest("request body too large")
        return self.rfile.read(int(text))

    def _outgoing_headers(self, route: Route) -> list[tuple[str, str]]:
        kept, prior_xff = _filter_client_headers(self.headers, route.managed)
        return kept + forwarded_headers(self._listener_facts(route), self._facts(), prior_xff)

    def _listener_facts(self, route: Route) -> ListenerFacts:
        served = route.listener
        return ListenerFacts(
            served.loadbalancer_id,
            served.vip_address,
            served.protocol_port,
            self.session.certificate_id,
            served.insert_headers,
        )

    def _facts(self) -> ConnectionFacts:
        cipher = self.tls.cipher()
        shared = self.tls.shared_ciphers() or []
        return ConnectionFacts(
            client_ip=self.client_address[0],
            client_port=self.client_address[1],
            host=self.headers.get("Host"),
            tls_protocol=self.tls.version() or "",
            tls_cipher=cipher[0] if cipher else "",
            client_ciphers=tuple(name for name, _, _ in shared),
            client_cert_der=self.tls.getpeercert(binary_form=True),
        )

    def _forward(
        self, route: Route, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        members = route.balancer.order()
        if not members:
            raise _NoMember("no backend member with weight > 0")
        for member in members:
            conn = http.client.HTTPConnection(
                member.address, member.port, timeout=self.session.member_timeout
            )
            try:
                conn.connect()
            except OSError as exc:  # refused / unreachable: try the next member
                log.debug("member %s:%s not reachable: %s", member.address, member.port, exc)
                conn.close()
                continue
            return _exchange(conn, self.command, self.path, headers, body)
        raise _NoMember("no backend member answered")

    def _send(
        self, status: int, reason: str | None, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        self.send_response_only(status, reason)
        no_body = self.command == "HEAD" or status in _NO_BODY_STATUSES or status < 200
        for name, value in headers:
            lowered = name.lower()
            if lowered in _HOP_BY_HOP or (lowered == "content-length" and not no_body):
                continue
            self.send_header(name, value)
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not no_body:
            self.wfile.write(body)

    def _reply(self, status: int, text: str) -> None:
        body = (text + "\n").encode()
        self._send(status, None, [("Content-Type", "text/plain; charset=utf-8")], body)


class _NoMember(Exception):
    """No member could be connected to."""


def _exchange(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    body: bytes | None,
) -> tuple[int, str, list[tuple[str, str]], bytes]:
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.reason, response.getheaders(), response.read()
    except TimeoutError:
        raise _MemberTimeout from None
    except (OSError, http.client.HTTPException) as exc:
        raise _NoMember(f"backend member failed: {type(exc).__name__}") from None
    finally:
        conn.close()


def _reject_obs_fold(headers: Message) -> None:
    """RFC 9112 §5.2: a server must reject obs-fold (a continuation line) or unfold it.

    ``http.client`` keeps a folded value with its raw CR LF, which would reach the member as
    a header line of the client's making; we reject the request with 400.
    """
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise _BadRequest("obsolete line folding (obs-fold) in a request header")


def _filter_client_headers(
    headers: Message, managed: frozenset[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Client headers to pass on, and the client's X-Forwarded-For values (appended to)."""
    listed = {t.strip().lower() for t in headers.get("Connection", "").split(",") if t.strip()}
    kept: list[tuple[str, str]] = []
    prior_xff: list[str] = []
    for name, value in headers.items():
        lowered = name.lower()
        if "_" in lowered:
            # As nginx (underscores_in_headers off): dropped, so that e.g.
            # X_Forwarded_Clientcert_Subjectdn cannot pose as the ELB's header to a
            # WSGI/CGI backend, which maps '-' and '_' to the same name.
            continue
        if lowered == "x-forwarded-for":
            prior_xff.append(value)
        elif lowered == "content-length" or lowered in _HOP_BY_HOP or lowered in listed:
            continue
        elif not is_managed(lowered, managed):
            kept.append((name, value))
    return kept, prior_xff


def _read_chunked(readline: Callable[[int], bytes], read: Callable[[int], bytes]) -> bytes:
    """Decode a chunked request body (forwarded with a Content-Length instead)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = readline(1024).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise _BadRequest("malformed chunk size") from None
        if size == 0:
            break
        total += size
        if total > MAX_BODY:
            raise _BadRequest("request body too large")
        chunks.append(read(size))
        read(2)  # the CRLF after each chunk
    while readline(1024).strip():  # trailers are dropped
        pass
    return b"".join(chunks)


def serve_connection(
    raw: socket.socket,
    address: tuple[str, int],
    context: ssl.SSLContext,
    session: Session,
    track: Callable[[socket.socket], None] = lambda sock: None,
) -> None:
    """Handshake with ``context`` (the one current at accept time), then proxy until done.

    ``track`` receives the TLS socket once it replaces ``raw``, so an owner can shut it down.
    """
    raw.settimeout(HANDSHAKE_SECONDS)
    try:
        tls = context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
    except (ssl.SSLError, OSError):
        raw.close()
        return
    track(tls)
    try:
        tls.do_handshake()
    except (ssl.SSLError, OSError) as exc:
        # Missing or untrusted client certificates end here: the client sees the alert.
        log.debug("TLS handshake with %s failed: %s", address[0], exc)
        _close_quietly(tls)
        return
    try:
        ProxyHandler(tls, address, session)
    except (OSError, ValueError) as exc:  # ValueError: socket shut down by close()
        log.debug("connection from %s ended: %s", address[0], exc)
    finally:
        _close_quietly(tls)


def _close_quietly(tls: ssl.SSLSocket) -> None:
    with contextlib.suppress(OSError):
        tls.close()
