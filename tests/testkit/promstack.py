"""Real and fake query servers for the view tests: exporters on fixture trees, Prometheus and
VictoriaMetrics on loopback scraping them, a scriptable fake HTTP API, and a stand-in for
KubeSphere's query endpoint in front of a real Prometheus."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import yaml

from testkit.core import free_port

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
VICTORIA_METRICS = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"

# (status, content type, body)
Answer = Tuple[int, str, bytes]


def json_answer(document: Any, status: int = 200) -> Answer:
    return status, "application/json", json.dumps(document).encode()


def vector(samples: Sequence[Tuple[Dict[str, str], str]], t: float = 1.7e9) -> Answer:
    return json_answer({"status": "success", "data": {"resultType": "vector",
                                                      "result": [{"metric": m, "value": [t, v]} for m, v in samples]}})


# -- a fake HTTP API ----------------------------------------------------------------------------------

@dataclass
class Request:
    path: str
    params: Dict[str, str]
    headers: Dict[str, str]


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # top sends its queries in parallel; the default backlog of 5 drops SYNs

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that timed out and left
            super().handle_error(request, client_address)


class FakeApi:
    """An HTTP server whose answers a test decides: `app(request) -> (status, content type, body)`."""

    def __init__(self, app: Callable[[Request], Answer]) -> None:
        self.app = app
        self.requests: List[Request] = []
        self.release = threading.Event()  # handlers that hold their answer wait for this
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                request = Request(parts.path, dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
                                  {k.lower(): v for k, v in self.headers.items()})
                fake.requests.append(request)
                status, content_type, body = fake.app(request)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def hold(self) -> None:
        """For the calling handler: answer only once the test releases (or after 30 s)."""
        self.release.wait(30)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# -- processes ----------------------------------------------------------------------------------------

@dataclass
class Processes:
    """Every process a fixture starts; `stop_all` terminates them, last started first."""

    logs: Path
    started: List[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "wb") as out:
            proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT)
        self.started.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            self.stop(proc)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def poll(check: Callable[[], Any], deadline_s: float, what: str,
         proc: Optional[subprocess.Popen[bytes]] = None) -> Any:
    """Call `check` until it returns something truthy; fail after the deadline or if `proc` exits."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        try:
            last = check()
            if last:
                return last
        except (OSError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(0.1)  # polling a live process, not waiting for time to pass
    raise AssertionError(f"{what}: not reached within {deadline_s:.0f}s (last: {last!r})")


def http_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class Exporter:
    fixture: str
    port: int
    node: str
    proc: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://{self.address}/metrics", timeout=5) as response:
            return str(response.read().decode())


def start_exporter(processes: Processes, fixture: str, node: str) -> Exporter:
    port = free_port()
    proc = processes.start(f"exporter-{node}", [
        sys.executable, "-m", "jetson_exporter", "--root", str(FIXTURES / fixture), "--sampler.interval", "1s",
        "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "warn"])
    return Exporter(fixture, port, node, proc)


def wait_ready(exporter: Exporter) -> None:
    poll(lambda: urllib.request.urlopen(f"http://{exporter.address}/-/ready", timeout=2).status == 200, 30,
         f"exporter on {exporter.fixture}", exporter.proc)


# -- Prometheus and VictoriaMetrics -------------------------------------------------------------------

JOB = "jetson-exporter"


def scrape_config(exporters: Sequence[Exporter], *, node_labels: bool, extra_targets: Sequence[Tuple[str, str]] = (),
                  interval: str = "1s") -> Dict[str, Any]:
    """A scrape job for the exporters. With `node_labels`, each target gets `node` and `instance` set to
    its node name, as the project's ServiceMonitor does; else instance stays host:port."""
    targets = [(e.address, e.node) for e in exporters] + list(extra_targets)
    job: Dict[str, Any] = {"job_name": JOB, "scrape_interval": interval, "scrape_timeout": interval}
    if node_labels:
        job["static_configs"] = [{"targets": [address], "labels": {"node": node}} for address, node in targets]
        job["relabel_configs"] = [{"source_labels": ["node"], "target_label": "instance", "action": "replace"}]
    else:
        job["static_configs"] = [{"targets": [address for address, _ in targets]}]
    return {"global": {"scrape_interval": interval}, "scrape_configs": [job]}


@dataclass
class QueryServer:
    name: str
    url: str
    proc: subprocess.Popen[bytes]

    def query(self, expr: str) -> List[Dict[str, Any]]:
        document = http_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        assert document["status"] == "success", document
        result: List[Dict[str, Any]] = document["data"]["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: str) -> List[Dict[str, Any]]:
        params = urllib.parse.urlencode({"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step})
        document = http_json(f"{self.url}/api/v1/query_range?{params}")
        assert document["status"] == "success", document
        result: List[Dict[str, Any]] = document["data"]["result"]
        return result


def start_prometheus(processes: Processes, workdir: Path, config: Dict[str, Any]) -> QueryServer:
    port = free_port()
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = processes.start("prometheus", [
        PROMETHEUS, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])
    server = QueryServer("prometheus", f"http://127.0.0.1:{port}", proc)
    poll(lambda: urllib.request.urlopen(f"{server.url}/-/ready", timeout=2).status == 200, 30, "prometheus", proc)
    return server


def start_victoria_metrics(processes: Processes, workdir: Path, config: Dict[str, Any]) -> QueryServer:
    port = free_port()
    (workdir / "scrape.yml").write_text(yaml.safe_dump(config))
    proc = processes.start("victoria-metrics", [
        VICTORIA_METRICS, f"-storageDataPath={workdir / 'vmdata'}", f"-httpListenAddr=127.0.0.1:{port}",
        f"-promscrape.config={workdir / 'scrape.yml'}", "-search.latencyOffset=1s", "-search.disableCache",
        "-loggerLevel=ERROR"])
    server = QueryServer("victoria-metrics", f"http://127.0.0.1:{port}", proc)
    poll(lambda: urllib.request.urlopen(f"{server.url}/health", timeout=2).status == 200, 30, "victoria-metrics", proc)
    return server


# -- KubeSphere's ad-hoc query endpoint, in front of a real Prometheus -----------------------------------

KS_PATH = "/kapis/monitoring.kubesphere.io/v1alpha3/targets/query"


def kubesphere_app(prometheus_url: str, token: str) -> Callable[[Request], Answer]:
    """What ks-apiserver 3.4 does with `targets/query`: bearer token required, integer times, a Go
    duration step, and Prometheus's answer reshaped ({data, error}, HTTP 200 even on a query error)."""

    def app(request: Request) -> Answer:
        if request.headers.get("authorization") != f"Bearer {token}":
            return 401, "text/plain", b"Unauthorized\n"
        if request.path != KS_PATH:
            return 404, "text/plain", b"404 page not found\n"
        params = request.params
        expr = params.get("expr", "")
        for name in ("time", "start", "end"):
            if name in params and not params[name].isdigit():
                return json_answer({"message": f"invalid {name} {params[name]!r}"}, 400)
        if "start" in params:
            step = params.get("step", "10m")
            if not step[:-1].isdigit() or step[-1] not in "smh":
                return json_answer({"message": f"invalid step {step!r}"}, 400)
            query = {"query": expr, "start": params["start"], "end": params["end"], "step": step}
            path = "/api/v1/query_range"
        else:
            query = {"query": expr, **({"time": params["time"]} if "time" in params else {})}
            path = "/api/v1/query"
        try:
            document = http_json(f"{prometheus_url}{path}?{urllib.parse.urlencode(query)}")
        except urllib.error.HTTPError as exc:
            document = json.loads(exc.read())
        if document.get("status") != "success":
            return json_answer({"error": f"{document.get('errorType')}: {document.get('error')}"})
        data = document["data"]
        shaped: Dict[str, Any] = {"resultType": data["resultType"]}
        if data["result"]:  # omitempty
            shaped["result"] = data["result"]
        return json_answer({"data": shaped})

    return app
