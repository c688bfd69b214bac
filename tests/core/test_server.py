"""The HTTP surface: endpoints, negotiation, TLS, basic auth, limits, slow clients."""

from __future__ import annotations

import base64
import gzip
import http.client
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional, Tuple

import bcrypt
import pytest

from jetson_exporter.exporter import Exporter
from testkit.core import Certs, FakeCollector, board_snapshot, parse_exposition


def _get(url: str, headers: Optional[Dict[str, str]] = None, context: Optional[ssl.SSLContext] = None,
         timeout: float = 5.0) -> Tuple[int, Dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _basic(user: str, password: str) -> Dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _write_config(path: str, text: str) -> str:
    with open(path, "w") as fh:
        fh.write(text)
    return path


def test_metrics_and_health_endpoints(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = start_server()
    status, headers, body = _get(srv.url())
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert parse_exposition(body.decode())["jetson_gpu_utilization_ratio"] == 0.5
    assert _get(srv.url("/-/healthy"))[0] == 200
    assert _get(srv.url("/-/ready"))[0] == 200
    status, _, page = _get(srv.url("/"))
    assert status == 200 and b"/metrics" in page
    assert _get(srv.url("/nope"))[0] == 404


def test_openmetrics_and_gzip_by_negotiation(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = start_server()
    status, headers, body = _get(srv.url(), {
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        "Accept-Encoding": "gzip",
    })
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).decode().endswith("# EOF\n")


def test_health_endpoints_answer_when_no_device_is_readable(start_server) -> None:  # type: ignore[no-untyped-def]
    broken = FakeCollector("gpu", raise_error=OSError("no such device"))
    srv = start_server([broken])
    assert _get(srv.url("/-/healthy"))[0] == 200
    assert _get(srv.url("/-/ready"))[0] == 200
    text = _get(srv.url())[2].decode()
    assert 'jetson_exporter_collector_success{collector="gpu"} 0.0' in text


def test_basic_auth_rejects_missing_and_wrong_credentials(start_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)
    config = _write_config(str(tmp_path / "web.yml"), f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    srv = start_server(web_config=config)
    status, headers, _ = _get(srv.url())
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert _get(srv.url(), _basic("prometheus", "wrong"))[0] == 401
    assert _get(srv.url(), _basic("nobody", "s3cret"))[0] == 401
    assert _get(srv.url(), {"Authorization": "Basic !!!notbase64"})[0] == 401
    assert _get(srv.url(), _basic("prometheus", "s3cret"))[0] == 200
    assert _get(srv.url("/"), _basic("prometheus", "s3cret"))[0] == 200
    assert _get(srv.url("/"))[0] == 401
    # Probes work without credentials; they reveal nothing.
    assert _get(srv.url("/-/healthy"))[0] == 200


def test_rotated_users_apply_without_restart(start_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "web.yml")
    old = bcrypt.hashpw(b"old", bcrypt.gensalt(4)).decode()
    new = bcrypt.hashpw(b"new", bcrypt.gensalt(4)).decode()
    _write_config(path, f"basic_auth_users:\n  p: '{old}'\n")
    srv = start_server(web_config=path)
    assert _get(srv.url(), _basic("p", "old"))[0] == 200
    _write_config(path, f"basic_auth_users:\n  p: '{new}'\n# rotated\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert _get(srv.url(), _basic("p", "old"))[0] == 401
    assert _get(srv.url(), _basic("p", "new"))[0] == 200


def test_a_broken_config_after_start_keeps_the_previous_one(start_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "web.yml")
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    _write_config(path, f"basic_auth_users:\n  p: '{hashed}'\n")
    srv = start_server(web_config=path)
    _write_config(path, "basic_auth_users: [this is: not valid\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert _get(srv.url(), _basic("p", "pw"))[0] == 200
    assert _get(srv.url())[0] == 401


def _tls_context(certs: Certs, client_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certs.ca)
    if client_cert:
        ctx.load_cert_chain(certs.client_cert, certs.client_key)
    return ctx


def test_tls_serves_https_only(start_server, tmp_path, certs: Certs) -> None:  # type: ignore[no-untyped-def]
    config = _write_config(str(tmp_path / "web.yml"),
                           f"tls_server_config:\n  cert_file: {certs.server_cert}\n  key_file: {certs.server_key}\n")
    srv = start_server(web_config=config)
    status, _, body = _get(srv.url(scheme="https"), context=_tls_context(certs))
    assert status == 200 and b"jetson_gpu_utilization_ratio" in body
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        _get(srv.url(scheme="http"), timeout=2.0)


def test_tls_client_certificates_are_required_when_configured(start_server, tmp_path, certs: Certs) -> None:  # type: ignore[no-untyped-def]
    config = _write_config(str(tmp_path / "web.yml"), (
        "tls_server_config:\n"
        "  cert_file: server.crt\n  key_file: server.key\n"  # relative to the config file
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
    ))
    for name in ("server.crt", "server.key", "ca.crt"):
        os.symlink(os.path.join(certs.directory, name), tmp_path / name)
    srv = start_server(web_config=config)
    assert _get(srv.url(scheme="https"), context=_tls_context(certs, client_cert=True))[0] == 200
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        _get(srv.url(scheme="https"), context=_tls_context(certs, client_cert=False))


def test_idle_tcp_and_tls_clients_do_not_block_scrapes(start_server, tmp_path, certs: Certs) -> None:  # type: ignore[no-untyped-def]
    config = _write_config(str(tmp_path / "web.yml"),
                           f"tls_server_config:\n  cert_file: {certs.server_cert}\n  key_file: {certs.server_key}\n")
    srv = start_server(web_config=config)
    idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(5)]  # never handshake
    half = socket.create_connection(("127.0.0.1", srv.port))
    try:
        started = time.monotonic()
        status, _, _ = _get(srv.url(scheme="https"), context=_tls_context(certs), timeout=5.0)
        assert status == 200
        assert time.monotonic() - started < 4.0
    finally:
        for s in (*idle, half):
            s.close()


class _SlowExporter(Exporter):
    """An exporter whose scrapes wait at a gate, to hold requests in flight."""

    def __init__(self) -> None:
        super().__init__([FakeCollector("gpu", board_snapshot())], "sysfs")
        self.gate = threading.Event()
        self.inside = threading.Semaphore(0)

    def metrics(self, accept: str, gzip_ok: bool) -> Tuple[bytes, str, bool]:
        self.inside.release()
        self.gate.wait(10)
        return super().metrics(accept, gzip_ok)


def test_too_many_scrapes_in_flight_get_503(start_server) -> None:  # type: ignore[no-untyped-def]
    exporter = _SlowExporter()
    srv = start_server(exporter=exporter, max_requests=2)
    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(_get, srv.url()) for _ in range(2)]
        assert exporter.inside.acquire(timeout=5) and exporter.inside.acquire(timeout=5)
        assert _get(srv.url())[0] == 503
        assert _get(srv.url("/-/healthy"))[0] == 200  # only scrapes are limited
        exporter.gate.set()
        assert [f.result()[0] for f in held] == [200, 200]


def test_fifty_concurrent_clients_are_all_served(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = start_server(max_requests=64)
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: _get(srv.url())[0], range(50)))
    assert results == [200] * 50


def test_keep_alive_connections_serve_several_scrapes(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = start_server()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        for _ in range(3):
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            assert response.status == 200
            assert response.read()
    finally:
        conn.close()


# -- the request head, parsed by the server itself ---------------------------------------------


def _exchange(port: int, head: bytes, timeout: float = 5.0) -> Tuple[bytes, bool]:
    """Sends a raw request head; returns everything answered within the timeout and whether the
    server closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        sock.settimeout(0.5)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                if received:
                    return received, False  # an answer, and the connection left open
                continue
            if not chunk:
                return received, True
            received += chunk
        return received, False


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("head, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /metrics\r\n\r\n", 400),
    (b"GET /metrics HTTP/x.y\r\n\r\n", 400),
    (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
    (b"GET /metrics HTTP/1.1\r\nHost: a\r\n folded: line\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n", 431),
    (b"GET /metrics HTTP/1.1\r\nX-Long: " + b"y" * 70000 + b"\r\n\r\n", 431),
    (b"BREW /metrics HTTP/1.1\r\n\r\n", 501),
], ids=["no-words", "no-version", "bad-version", "http2", "folded", "space-before-colon", "no-colon",
        "too-many-headers", "line-too-long", "unknown-method"])
def test_malformed_request_heads_get_a_status_and_the_connection_closed(start_server, head, status) -> None:  # type: ignore[no-untyped-def]
    srv = start_server()
    answer, closed = _exchange(srv.port, head)
    assert answer.startswith(b"HTTP/1."), answer[:80]
    assert _status(answer) == status
    assert closed


def test_http_1_0_closes_unless_kept_alive_and_1_1_stays_open_unless_closed(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = start_server()
    cases = [
        (b"GET /-/healthy HTTP/1.0\r\n\r\n", True),
        (b"GET /-/healthy HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", False),
        (b"GET /-/healthy HTTP/1.1\r\nHost: a\r\n\r\n", False),
        (b"GET /-/healthy HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", True),
    ]
    for head, closes in cases:
        answer, closed = _exchange(srv.port, head, timeout=2.0)
        assert _status(answer) == 200 and answer.endswith(b"OK\n")
        assert closed == closes, head


def test_header_names_are_matched_whatever_their_case_and_the_first_of_a_repeat_counts(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = start_server()
    answer, _ = _exchange(srv.port, b"GET /metrics HTTP/1.1\r\nhost: a\r\naccept-ENCODING: gzip\r\n"
                                    b"Connection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Content-Encoding: gzip" in head
    assert gzip.decompress(body).startswith(b"# HELP")
    answer, _ = _exchange(srv.port, b"GET /metrics HTTP/1.1\r\nAccept-Encoding: identity\r\n"
                                    b"Accept-Encoding: gzip\r\nConnection: close\r\n\r\n")
    assert b"Content-Encoding" not in answer.partition(b"\r\n\r\n")[0]


def test_a_path_with_leading_slashes_is_the_local_path(start_server) -> None:  # type: ignore[no-untyped-def]
    srv = start_server()
    answer, _ = _exchange(srv.port, b"GET //-/healthy HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert _status(answer) == 200 and answer.endswith(b"OK\n")


def test_answers_carry_the_current_date(start_server) -> None:  # type: ignore[no-untyped-def]
    from email.utils import parsedate_to_datetime

    srv = start_server()
    for _ in range(2):
        _, headers, _ = _get(srv.url("/-/healthy"))
        assert abs(parsedate_to_datetime(headers["Date"]).timestamp() - time.time()) < 2.0
        time.sleep(1.1)  # the header is formatted once a second: the next one is formatted anew
