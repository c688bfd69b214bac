"""Gather what Prometheus sees, through its HTTP API or KubeSphere's query endpoint (urllib only).

Read-only except for one probe: an empty POST to /api/v1/write, which stores nothing and answers
404 when the remote-write receiver is off.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import AbstractSet, Any, Callable, Dict, List, Optional, Sequence, Tuple

from jetson_exporter.deploy.conventions import JOB
from jetson_exporter.doctor.checks_cluster import NODE_EXPORTER_JOB, console_queries
from jetson_exporter.doctor.facts import Obj, PrometheusFacts
from jetson_exporter.doctor.kube import as_dict, as_list

KS_QUERY = "/kapis/monitoring.kubesphere.io/v1alpha3/targets/query"
_TARGET_FIELDS = ("labels", "scrapePool", "scrapeUrl", "lastError", "lastScrape", "health")


class HttpAnswer:
    def __init__(self, status: Optional[int], body: bytes, error: Optional[str]) -> None:
        self.status = status
        self.body = body
        self.error = error  # set when there was no HTTP answer, or a non-2xx one

    def json(self) -> Tuple[Optional[Any], Optional[str]]:
        try:
            return json.loads(self.body), None
        except ValueError:
            head = self.body[:80].decode("utf-8", "replace").strip().splitlines()
            return None, f"HTTP {self.status}: not a JSON API answer ({head[0] if head else 'empty body'})"


def split_credentials(url: str) -> Tuple[str, Optional[str]]:
    """(URL without user:password, Basic auth header value or None)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url.rstrip("/"), None
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)).rstrip("/")
    raw = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return clean, "Basic " + base64.b64encode(raw.encode()).decode()


class HttpClient:
    def __init__(self, url: str, token: Optional[str] = None, insecure: bool = False, timeout_s: float = 10.0) -> None:
        self.base, basic = split_credentials(url)
        self.auth = f"Bearer {token}" if token else basic
        self.timeout = timeout_s
        self.context: Optional[ssl.SSLContext] = None
        if insecure:
            self.context = ssl.create_default_context()
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE

    def request(self, path: str, params: Optional[Dict[str, str]] = None, data: Optional[bytes] = None,
                headers: Optional[Dict[str, str]] = None) -> HttpAnswer:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        if self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:
                return HttpAnswer(resp.status, resp.read(), None)
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            first = body[:200].decode("utf-8", "replace").strip().splitlines()
            detail = _api_error_text(body) or (first[0] if first else exc.reason)
            return HttpAnswer(exc.code, body, f"HTTP {exc.code}: {detail}")
        except urllib.error.URLError as exc:
            reason = exc.reason
            text = getattr(reason, "strerror", None) or str(reason)
            return HttpAnswer(None, b"", f"cannot connect to {self.base}: {text}")
        except (socket.timeout, TimeoutError):
            return HttpAnswer(None, b"", f"no answer from {self.base} within {self.timeout:g}s")
        except OSError as exc:
            return HttpAnswer(None, b"", f"cannot connect to {self.base}: {exc.strerror or exc}")


def _api_error_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def _slim_target(target: Any) -> Obj:
    return {k: v for k, v in as_dict(target).items() if k in _TARGET_FIELDS}


def gather_prometheus(client: HttpClient, via: str, nodes: Sequence[Tuple[str, bool]],
                      node_exporter_ds: str = NODE_EXPORTER_JOB,
                      clock: Callable[[], float] = time.time) -> PrometheusFacts:
    """Facts for the C9/C10/C12/C13 checks. `nodes` are (name, is_jetson) of the edge nodes."""
    facts = PrometheusFacts(url=client.base, via=via)
    queries: List[str] = []
    for name, jetson in nodes:
        queries.extend(console_queries(name, jetson, node_exporter_ds).values())
    if via == "kubesphere":
        _gather_kubesphere(client, facts, queries, clock)
    else:
        _gather_prometheus(client, facts, queries, {n for n, _ in nodes})
    return facts


def _gather_prometheus(client: HttpClient, facts: PrometheusFacts, queries: List[str],
                       nodes: AbstractSet[str]) -> None:
    ready = client.request("/-/ready")
    facts.ready = ready.status == 200
    if not facts.ready:
        facts.errors["ready"] = ready.error or f"HTTP {ready.status}"
        return
    info, _ = client.request("/api/v1/status/buildinfo").json()
    version = as_dict(as_dict(info).get("data")).get("version")
    facts.version = str(version) if version else None

    answer = client.request("/api/v1/targets", {"state": "active"})
    data, problem = answer.json() if answer.error is None else (None, answer.error)
    if problem or not isinstance(data, dict) or data.get("status") != "success":
        facts.errors["targets"] = problem or str(as_dict(data).get("error") or "unexpected answer")
    else:
        active = as_list(as_dict(data.get("data")).get("activeTargets"))
        facts.targets = [_slim_target(t) for t in active
                         if as_dict(as_dict(t).get("labels")).get("job") in (NODE_EXPORTER_JOB, JOB)
                         or as_dict(as_dict(t).get("labels")).get("instance") in nodes]

    for query in queries:
        answer = client.request("/api/v1/query", {"query": query})
        data, problem = answer.json() if answer.error is None else (None, answer.error)
        if problem or not isinstance(data, dict) or data.get("status") != "success":
            facts.errors[f"query:{query}"] = problem or str(as_dict(data).get("error") or "unexpected answer")
            continue
        facts.queries[query] = [as_dict(r) for r in as_list(as_dict(data.get("data")).get("result"))]

    probe = client.request("/api/v1/write", data=b"", headers={
        "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0"})
    facts.remote_write_status = probe.status


def _gather_kubesphere(client: HttpClient, facts: PrometheusFacts, queries: List[str],
                       clock: Callable[[], float]) -> None:
    def query(expr: str) -> Tuple[Optional[List[Obj]], Optional[str]]:
        answer = client.request(KS_QUERY, {"expr": expr, "time": str(int(clock()))})
        data, problem = answer.json() if answer.error is None else (None, answer.error)
        if problem:
            return None, problem
        if not isinstance(data, dict):
            return None, "unexpected answer"
        if data.get("error"):  # a Prometheus error comes back as HTTP 200 with `error` set
            return None, str(data["error"])
        return [as_dict(r) for r in as_list(as_dict(data.get("data")).get("result"))], None

    result, problem = query("vector(1)")
    facts.ready = result is not None
    if problem:
        facts.errors["ready"] = problem
        return
    facts.errors["targets"] = "KubeSphere's query endpoint has no targets API (C9 uses `up` instead)"
    for expr in queries:
        result, problem = query(expr)
        if problem:
            facts.errors[f"query:{expr}"] = problem
        else:
            facts.queries[expr] = result or []
