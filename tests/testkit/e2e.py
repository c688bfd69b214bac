"""Real query servers for end-to-end tests: Prometheus (server, receiver, agent) and
VictoriaMetrics single-node on loopback, started with generated configs and always stopped;
a client for the HTTP API that asks exactly as KubeSphere's console did; polling with deadlines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar

import yaml

from testkit.core import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
VICTORIA_METRICS = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
T = TypeVar("T")


def poll(check: Callable[[], Optional[T]], deadline_s: float, what: str,
         processes: Sequence[Server] = (), interval_s: float = 0.2) -> T:
    """Call `check` until it returns something truthy; fail at the deadline or if a server died."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while True:
        for server in processes:
            server.assert_running()
        try:
            last = check()
            if last:
                return last
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {deadline_s:.0f}s (last: {last!r})")
        time.sleep(interval_s)  # polling live processes, not waiting for time to pass


class Server:
    """A server process on a loopback port; `stop()` and `start()` again on the same data."""

    def __init__(self, name: str, argv: Sequence[str], port: int, log: Path, ready_path: str) -> None:
        self.name = name
        self.argv = list(argv)
        self.port = port
        self.log = log
        self.ready_path = ready_path
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within_s: float = 60.0) -> Server:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        poll(self._ready, ready_within_s, f"{self.name} ready", [self])
        return self

    def _ready(self) -> bool:
        with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
            return bool(response.status == 200)

    def assert_running(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def stop(self) -> None:
        """Terminate and wait (a clean shutdown flushes what the server holds in memory)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def api(self) -> Api:
        return Api(self.url)


def prometheus(directory: Path, config: Dict[str, Any], *flags: str, name: str = "prometheus",
               rules: Optional[Dict[str, Any]] = None) -> Server:
    """A Prometheus (not started) with `config`, its own data directory and port under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    if rules is not None:
        (directory / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
        config = {**config, "rule_files": [str(directory / "rules.yml")]}
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    agent = any(f.startswith("--enable-feature=agent") for f in flags)
    storage = f"--storage.agent.path={directory / 'wal'}" if agent else f"--storage.tsdb.path={directory / 'data'}"
    argv = [PROMETHEUS, f"--config.file={directory / 'prometheus.yml'}", storage,
            f"--web.listen-address=127.0.0.1:{port}", *flags]
    return Server(name, argv, port, directory / "server.log", "/-/ready")


def victoria_metrics(directory: Path, *flags: str, name: str = "victoria-metrics") -> Server:
    """A VictoriaMetrics single-node (not started) with its data directory and port under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [VICTORIA_METRICS, f"-storageDataPath={directory / 'data'}", f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=1y", *flags]
    return Server(name, argv, port, directory / "server.log", "/health")


def have(binary: str) -> bool:
    return os.path.exists(binary) and os.access(binary, os.X_OK)


class Api:
    """The Prometheus HTTP API, asked the way KubeSphere's console asked it: Unix float times
    (`time=1751270400.123`) and a plain number of seconds as the step (`step=14`)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as response:
            body = json.load(response)
        assert body.get("status") == "success", body
        return body["data"]

    def query(self, expr: str, at: float) -> List[Dict[str, Any]]:
        """/api/v1/query?query=EXPR&time=<unix float>: a vector, or a matrix for a range selector."""
        result: List[Dict[str, Any]] = self.get("/api/v1/query", query=expr, time=f"{at:.3f}")["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> List[Dict[str, Any]]:
        """/api/v1/query_range?query=EXPR&start=..&end=..&step=N."""
        result: List[Dict[str, Any]] = self.get("/api/v1/query_range", query=expr, start=f"{start:.3f}",
                                                end=f"{end:.3f}", step=f"{step:g}")["result"]
        return result

    def raw(self, expr: str, start: float, end: float) -> Dict[Tuple[Tuple[str, str], ...], List[Tuple[float, float]]]:
        """Every stored sample of the series `expr` selects, between two times: labels -> [(t, v)]."""
        window = max(int(end - start) + 1, 1)
        found: Dict[Tuple[Tuple[str, str], ...], List[Tuple[float, float]]] = {}
        for series in self.query(f"{expr}[{window}s]", end):
            key = tuple(sorted(series["metric"].items()))
            found[key] = [(float(t), float(v)) for t, v in series["values"] if float(t) >= start]
        return found

    def alerts(self) -> List[Dict[str, Any]]:
        alerts: List[Dict[str, Any]] = self.get("/api/v1/alerts")["alerts"]
        return alerts

    def targets(self) -> List[Dict[str, Any]]:
        targets: List[Dict[str, Any]] = self.get("/api/v1/targets")["activeTargets"]
        return targets

    def export(self, match: str, start: float, end: float) -> Iterator[Dict[str, Any]]:
        """VictoriaMetrics' raw export: one JSON object per series with all its values and timestamps."""
        query = urllib.parse.urlencode({"match[]": match, "start": f"{start:.3f}", "end": f"{end:.3f}"})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as response:
            for line in response:
                if line.strip():
                    yield json.loads(line)


def labels(series: Dict[str, Any]) -> Dict[str, str]:
    return dict(series["metric"])
