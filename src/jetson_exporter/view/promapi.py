"""A small client for the Prometheus HTTP query API, over urllib.

Two dialects: Prometheus itself (and compatible servers such as VictoriaMetrics) at
`/api/v1/query[_range]`, and KubeSphere's authenticated ad-hoc endpoint
`/kapis/monitoring.kubesphere.io/v1alpha3/targets/query`, which takes integer times and a Go
duration step and reports Prometheus errors as HTTP 200 with `error` set. Every failure becomes a
`PromError` whose message is one line; the bearer token is sent, never printed.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

KUBESPHERE_QUERY = "/kapis/monitoring.kubesphere.io/v1alpha3/targets/query"
PROMETHEUS = "prometheus"
KUBESPHERE = "kubesphere"

# Prometheus errorType -> what it means for the user (prometheus web/api/v1/api.go).
_ERROR_TYPES = {
    "bad_data": "the query was refused",
    "execution": "the query failed",
    "timeout": "the query timed out on the server",
    "canceled": "the query was canceled",
    "internal": "the server failed internally",
    "unavailable": "the server is not ready",
    "not_found": "not found",
}


class PromError(Exception):
    """A query that produced no usable answer. `kind` is a short machine-readable cause."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Sample:
    """One series of an instant query; `value` is None when not finite (NaN, ±Inf)."""

    labels: Mapping[str, str]
    value: Optional[float]


@dataclass(frozen=True)
class Series:
    """One series of a range query: (unix time, value or None) points in time order."""

    labels: Mapping[str, str]
    points: Tuple[Tuple[float, Optional[float]], ...]


def _number(text: Any) -> Optional[float]:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def go_duration(seconds: float) -> str:
    """A step as both Prometheus and KubeSphere (Go time.ParseDuration) accept it: `90s`, `1500ms`."""
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


def _split_credentials(url: str) -> Tuple[str, Optional[str]]:
    """(URL without user:password@, Basic auth header value or None)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url.rstrip("/"), None
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")
    raw = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return clean, "Basic " + base64.b64encode(raw.encode()).decode()


def check_base_url(url: str) -> str:
    """The URL if it is usable as a base (http(s), a host); else ValueError with a one-line reason."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid URL {url!r}: expected http(s)://HOST[:PORT][/PATH]")
    if parts.query or parts.fragment:
        raise ValueError(f"invalid URL {url!r}: give the base URL, without ?query or #fragment")
    return url


class Client:
    """Instant and range queries against one server; safe to use from several threads."""

    def __init__(self, url: str, *, dialect: str = PROMETHEUS, cluster: Optional[str] = None,
                 token: Optional[str] = None, timeout_s: float = 10.0, insecure: bool = False,
                 ca_file: Optional[str] = None) -> None:
        self.base, basic = _split_credentials(check_base_url(url))
        self.dialect = dialect
        self._auth = f"Bearer {token}" if token else basic
        self.timeout_s = timeout_s
        self._context: Optional[ssl.SSLContext] = None
        if self.base.startswith("https:"):
            self._context = ssl.create_default_context(cafile=ca_file)
            if insecure:
                self._context.check_hostname = False
                self._context.verify_mode = ssl.CERT_NONE
        if dialect == KUBESPHERE:
            # Multicluster: the host cluster proxies /kapis/clusters/<name>/... to the member.
            prefix = f"/kapis/clusters/{urllib.parse.quote(cluster, safe='')}" if cluster else "/kapis"
            self._instant_path = self._range_path = prefix + KUBESPHERE_QUERY[len("/kapis"):]
        else:
            self._instant_path, self._range_path = "/api/v1/query", "/api/v1/query_range"
        self._lock = threading.Lock()
        self.requests = 0  # HTTP requests sent, for the "queries per refresh" figure

    @property
    def where(self) -> str:
        """The server as named in messages (no credentials, no token)."""
        return self.base

    # -- queries ------------------------------------------------------------------------------------

    def query(self, expr: str, time_s: Optional[float] = None) -> List[Sample]:
        """Instant query at `time_s` (default: the server's now)."""
        params: Dict[str, str] = {}
        if self.dialect == KUBESPHERE:
            params["expr"] = expr
            if time_s is not None:
                params["time"] = str(int(time_s))
        else:
            params["query"] = expr
            if time_s is not None:
                params["time"] = f"{time_s:.3f}"
        data = self._get(self._instant_path, params)
        result_type, result = self._result(data)
        if result_type == "scalar" and isinstance(result, list) and len(result) == 2:
            return [Sample({}, _number(result[1]))]
        if result_type not in ("vector", None) or not isinstance(result, list):
            raise PromError(f"{self.where}: expected a vector from an instant query, got {result_type}",
                            "bad_response")
        samples = []
        for item in result:
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, list) or len(value) != 2:
                raise PromError(f"{self.where}: malformed vector sample in the answer", "bad_response")
            samples.append(Sample(_labels(item), _number(value[1])))
        return samples

    def query_range(self, expr: str, start_s: float, end_s: float, step_s: float) -> List[Series]:
        """Range query; the points of each series are in time order."""
        if self.dialect == KUBESPHERE:
            params = {"expr": expr, "start": str(int(start_s)), "end": str(int(end_s)), "step": go_duration(step_s)}
        else:
            params = {"query": expr, "start": f"{start_s:.3f}", "end": f"{end_s:.3f}", "step": go_duration(step_s)}
        data = self._get(self._range_path, params)
        result_type, result = self._result(data)
        if result_type not in ("matrix", None) or not isinstance(result, list):
            raise PromError(f"{self.where}: expected a matrix from a range query, got {result_type}", "bad_response")
        series = []
        for item in result:
            values = item.get("values", []) if isinstance(item, dict) else None
            if not isinstance(values, list):
                raise PromError(f"{self.where}: malformed matrix series in the answer", "bad_response")
            try:
                points = tuple((float(p[0]), _number(p[1])) for p in values if isinstance(p, list) and len(p) == 2)
            except (TypeError, ValueError):
                raise PromError(f"{self.where}: malformed matrix series in the answer", "bad_response") from None
            series.append(Series(_labels(item), points))
        return series

    # -- transport ----------------------------------------------------------------------------------

    def _get(self, path: str, params: Dict[str, str]) -> Dict[str, Any]:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers={"Accept": "application/json", "Accept-Encoding": "gzip",
                                                       "User-Agent": "jetson-exporter-top"})
        if self._auth:
            request.add_header("Authorization", self._auth)
        with self._lock:
            self.requests += 1
        status: Optional[int]
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self._context) as response:
                status, body, encoding = response.status, response.read(), response.headers.get("Content-Encoding")
        except urllib.error.HTTPError as exc:
            status, encoding = exc.code, exc.headers.get("Content-Encoding") if exc.headers else None
            try:
                body = exc.read() if exc.fp is not None else b""
            except OSError:
                body = b""
        except (socket.timeout, TimeoutError):
            raise PromError(f"{self.where} did not answer within {self.timeout_s:g}s (--timeout)", "timeout") from None
        except urllib.error.URLError as exc:
            raise PromError(f"cannot reach {self.where}: {_reason(exc.reason)}", "unreachable") from None
        except (OSError, ValueError) as exc:  # connection reset mid-answer, malformed status line ...
            raise PromError(f"cannot reach {self.where}: {_reason(exc)}", "unreachable") from None
        if encoding == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                raise PromError(f"{self.where}: corrupt gzip answer (HTTP {status})", "bad_response") from None
        return self._decode(status, body)

    def _decode(self, status: Optional[int], body: bytes) -> Dict[str, Any]:
        if status in (401, 403):
            hint = ("the token was refused: get a fresh one (POST /oauth/token) and pass it with --token-file"
                    if self._auth else "it needs credentials: pass a bearer token with --token-file")
            raise PromError(f"{self.where} answered HTTP {status} {'Unauthorized' if status == 401 else 'Forbidden'}:"
                            f" {hint}", "auth")
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            what = "a Prometheus API" if self.dialect == PROMETHEUS else "KubeSphere's monitoring API"
            raise PromError(f"{self.where} did not answer like {what} (HTTP {status}, {_first_line(body)}): "
                            f"check the URL", "not_prometheus")
        error = data.get("error")
        if data.get("status") == "error" or error:
            error_type = str(data.get("errorType") or "")
            message = _one_line(str(error or "no error message"))
            if not error_type and ":" in message.split(" ", 1)[0]:
                # KubeSphere passes client_golang's "bad_data: ..." text through.
                head = message.split(":", 1)[0]
                if head in _ERROR_TYPES:
                    error_type, message = head, message.split(":", 1)[1].strip()
            meaning = _ERROR_TYPES.get(error_type, "the query failed")
            label = f" ({error_type})" if error_type else ""
            raise PromError(f"{self.where}: {meaning}{label}: {message}", error_type or "error")
        if status is not None and status >= 400:
            raise PromError(f"{self.where} answered HTTP {status}: {_first_line(body)}", "http")
        if self.dialect == PROMETHEUS and data.get("status") != "success":
            raise PromError(f"{self.where} did not answer like a Prometheus API (no status in the JSON): "
                            "check the URL", "not_prometheus")
        return data

    def _result(self, data: Dict[str, Any]) -> Tuple[Optional[str], Any]:
        inner = data.get("data")
        if inner is None and self.dialect == KUBESPHERE:
            return None, []  # KubeSphere omits empty fields: no data is an empty result
        if not isinstance(inner, dict):
            raise PromError(f"{self.where}: the answer has no data object", "bad_response")
        result_type = inner.get("resultType")
        return (str(result_type) if result_type is not None else None), inner.get("result", [])


def _labels(item: Dict[str, Any]) -> Dict[str, str]:
    metric = item.get("metric") or {}
    return {str(k): str(v) for k, v in metric.items()} if isinstance(metric, dict) else {}


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _first_line(body: bytes) -> str:
    text = body[:300].decode("utf-8", "replace").strip()
    if not text:
        return "empty body"
    return _one_line(text.splitlines()[0], 80)


def _reason(reason: object) -> str:
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the URL and port right?)"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({reason.verify_message}); use --ca-file or --insecure-skip-tls-verify"
    if isinstance(reason, OSError) and reason.strerror:
        return str(reason.strerror).lower()
    return _one_line(str(reason) or type(reason).__name__, 120)
