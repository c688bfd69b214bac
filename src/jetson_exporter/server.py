"""HTTP serving: /metrics with content negotiation and gzip, health endpoints, TLS and basic auth.

One thread per connection, TLS handshakes inside that thread (never in the accept loop), read
timeouts on every socket: an idle or slow client holds only its own thread. Requests beyond
`max_requests` in flight are answered 503 at once; connections beyond `max_connections` are
closed at once.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import selectors
import socket
import ssl
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Optional, Tuple

from jetson_exporter.webconfig import WebConfigWatcher

log = logging.getLogger(__name__)

# A route answers (status, body, content type); it may raise nothing.
Route = Callable[["RequestContext"], Tuple[int, bytes, str]]
# Paths answered without basic auth, so that probes work without credentials (they reveal nothing).
UNAUTHENTICATED = frozenset({"/-/healthy", "/-/ready"})


# Limits on a request's head, as the standard library's parser has them.
MAX_LINE = 65536
MAX_HEADERS = 100


class Headers:
    """A request's headers by case-insensitive name; of a repeated header the first counts."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: Dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        self._values.setdefault(name.lower(), value)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self._values.get(name.lower(), default)


class RequestContext:
    def __init__(self, handler: _Handler) -> None:
        self.path = handler.path.split("?", 1)[0]
        self.query = handler.path.split("?", 1)[1] if "?" in handler.path else ""
        self.headers = handler.headers


class MetricsApp:
    """What the server serves; implemented by the exporter (see exporter.py)."""

    def metrics(self, accept: str, gzip_ok: bool) -> Tuple[bytes, str, bool]:
        raise NotImplementedError

    def routes(self) -> Dict[str, Route]:
        raise NotImplementedError


def parse_listen_address(address: str) -> Tuple[str, int]:
    """`:9998`, `0.0.0.0:9998`, `[::1]:9998`, `localhost:9998` -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid listen address {address!r}: expected [host]:port such as :9998")
    host = host.strip("[]")
    return host, int(port)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ExporterServer
    raw_requestline: bytes
    server_version = "jetson-exporter"
    sys_version = ""
    # Headers and body leave in one write (flushed after each request) and without Nagle: with
    # keep-alive, a small write followed by another meets delayed ACKs and stalls a scrape ~40 ms.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout_s)

    def parse_request(self) -> bool:
        """The request line and headers of one request, as `BaseHTTPRequestHandler` expects them
        parsed (command, path, version, headers, whether the connection stays open).

        The standard library parses headers with the email package, about a quarter of the CPU
        that answering a scrape takes (bench/README.md); a scrape's head is a few short lines,
        read here directly.
        Malformed heads get 400, too long or too many header lines 431, HTTP/2 and later 505.
        """
        self.command = ""
        self.request_version = "HTTP/1.0"  # so that an error answer has a status line
        self.close_connection = True
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = line
        words = line.split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({line[:80]!r})")
            return False
        command, path, version = words
        major, dot, minor = version[5:].partition(".")
        if not (dot and major.isdigit() and minor.isdigit() and major.isascii() and minor.isascii()
                and len(major) <= 3 and len(minor) <= 3):
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version[:20]!r})")
            return False
        number = (int(major), int(minor))
        if number >= (2, 0):
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({version})")
            return False
        self.command, self.request_version = command, version
        # `//host/x` would read as a network path to code that joins URLs; it is the path `/host/x`.
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        headers = Headers()
        for _ in range(MAX_HEADERS + 1):
            raw = self.rfile.readline(MAX_LINE + 1)
            if len(raw) > MAX_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return False
            if raw in (b"\r\n", b"\n", b""):
                break
            name, colon, value = str(raw, "iso-8859-1").partition(":")
            # A name is one token: a line folded onto the previous one, or a space before the
            # colon, is refused as RFC 9112 asks.
            if not colon or not name or " " in name or "\t" in name:
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad header line")
                return False
            headers.add(name, value.strip())
        else:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        connection = (headers.get("Connection") or "").lower()
        self.close_connection = connection == "close" or (number < (1, 1) and connection != "keep-alive")
        return True

    def date_time_string(self, timestamp: Optional[float] = None) -> str:
        """The Date header, formatted once per second."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        second, text = self.server.date_header
        if second != now:
            text = super().date_time_string(now)
            self.server.date_header = (now, text)  # one tuple: threads see the old or the new
        return text

    def log_message(self, format: str, *args: object) -> None:
        if log.isEnabledFor(logging.DEBUG):  # called for every request: format nothing otherwise
            log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, extra: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in self.server.web.get().headers.items():
            self.send_header(name, value)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self, path: str) -> bool:
        config = self.server.web.get()
        if not config.auth or path in UNAUTHENTICATED:
            return True
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            if user and self.server.web.check_basic_auth(config, user, password):
                return True
        self._send(401, b"Unauthorized\n", "text/plain; charset=utf-8",
                   {"WWW-Authenticate": 'Basic realm="jetson-exporter"'})
        return False

    def do_GET(self) -> None:
        ctx = RequestContext(self)
        if not self._authorized(ctx.path):
            return
        if ctx.path == self.server.metrics_path:
            self._metrics()
            return
        route = self.server.routes.get(ctx.path)
        if route is None:
            self._send(404, b"Not Found\n", "text/plain; charset=utf-8")
            return
        status, body, content_type = route(ctx)
        self._send(status, body, content_type, {"Cache-Control": "no-store"})

    do_HEAD = do_GET

    def _metrics(self) -> None:
        srv = self.server
        with srv.inflight_lock:
            if srv.inflight >= srv.max_requests:
                busy = True
            else:
                busy = False
                srv.inflight += 1
        if busy:
            self._send(503, b"Too many concurrent scrapes\n", "text/plain; charset=utf-8")
            return
        try:
            gzip_ok = "gzip" in self.headers.get("Accept-Encoding", "")
            body, content_type, compressed = srv.app.metrics(self.headers.get("Accept", ""), gzip_ok)
            extra = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"} if compressed else {}
            self._send(200, body, content_type, extra)
        finally:
            with srv.inflight_lock:
                srv.inflight -= 1


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: Tuple[str, int],
        app: MetricsApp,
        web: WebConfigWatcher,
        metrics_path: str = "/metrics",
        max_requests: int = 40,
        max_connections: int = 256,
        idle_timeout_s: float = 30.0,
    ) -> None:
        host, _ = address
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.app = app
        self.web = web
        self.metrics_path = metrics_path
        self.routes = app.routes()
        self.max_requests = max_requests
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.inflight = 0
        self.inflight_lock = threading.Lock()
        self.date_header: Tuple[int, str] = (-1, "")
        self._connections = threading.BoundedSemaphore(max_connections)
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self._stopped = threading.Event()
        self._stopped.set()
        super().__init__(address, _Handler)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until shutdown(). The loop sleeps on the socket and a wake-up pipe, never on a
        timer (`poll_interval` is accepted for compatibility and unused): an idle exporter does not
        wake up to poll."""
        self._stopped.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while not self._stopping:
                    for key, _ in selector.select():
                        if key.fileobj is self:
                            self.handle_request()  # the socket is readable: accepts at once
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serve_forever() from another thread and wait until it has returned."""
        self._stopping = True
        os.write(self._wake_w, b"\0")
        self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if not self.server_address[0]:
            # `:9998` means every address, IPv4 and IPv6 where the host has it.
            if socket.has_ipv6:
                try:
                    self.socket.close()
                    self.address_family = socket.AF_INET6
                    self.socket = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                    self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                    self.server_address = ("::", self.server_address[1])
                except OSError:
                    self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    self.address_family = socket.AF_INET
                    self.server_address = ("0.0.0.0", self.server_address[1])
            else:
                self.server_address = ("0.0.0.0", self.server_address[1])
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().server_bind()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self._connections.acquire(blocking=False):
            self.shutdown_request(request)  # over the connection limit: close at once
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._connections.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        ctx = self.web.get().ssl_context
        if ctx is not None:
            request.settimeout(self.idle_timeout_s)
            try:
                tls = ctx.wrap_socket(request, server_side=True)  # handshake in this thread
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake with %s failed: %s", client_address, exc)
                return
            try:
                super().finish_request(tls, client_address)
            finally:
                tls.close()  # the wrapper owns the connection now; the raw socket is detached
            return
        super().finish_request(request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        log.debug("error serving %s", client_address, exc_info=True)
