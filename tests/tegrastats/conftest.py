"""Shared helpers for the tegrastats tests: the real sample lines, a fake `tegrastats` executable,
polling with a deadline, and a real Prometheus for the backfill round trip."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

import pytest

from testkit.core import free_port

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tegrastats"
T = TypeVar("T")


def _load_samples() -> Dict[str, str]:
    """Provenance comment -> the line after it."""
    samples: Dict[str, str] = {}
    comment = None
    for line in (FIXTURES / "tegrastats-samples.txt").read_text().splitlines():
        if line.startswith("#"):
            comment = line[1:].strip()
        elif line.strip() and comment is not None:
            samples[comment] = line
            comment = None
    return samples


SAMPLES = _load_samples()


@pytest.fixture
def sample() -> Callable[[str], str]:
    """The one sample line whose provenance comment contains every given fragment."""

    def find(*fragments: str) -> str:
        hits = [line for comment, line in SAMPLES.items() if all(f in comment for f in fragments)]
        assert len(hits) == 1, f"{fragments} matches {len(hits)} samples"
        return hits[0]

    return find


@pytest.fixture
def all_samples() -> Dict[str, str]:
    return dict(SAMPLES)


@pytest.fixture
def fixture_path() -> Callable[[str], Path]:
    return lambda name: FIXTURES / name


def _wait_for(predicate: Callable[[], Optional[T]], timeout_s: float = 10.0, what: str = "condition") -> T:
    """Poll until `predicate` returns something truthy; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def wait_for() -> Callable[..., object]:
    return _wait_for


@pytest.fixture
def fake_tegrastats(tmp_path: Path) -> Callable[..., Path]:
    """Write an executable that stands in for tegrastats: it records its arguments in `starts.log`
    at each start, prints the given lines (then `raw` bytes), and exits with `exit_code` (with
    `hold`, it stays until it is terminated instead)."""

    def make(lines: Sequence[str], exit_code: int = 0, hold: bool = False, name: str = "tegrastats",
             raw: bytes = b"") -> Path:
        script = tmp_path / name
        starts = tmp_path / "starts.log"
        body = [
            f"#!{sys.executable}",
            "import sys, time",
            f"with open({str(starts)!r}, 'a') as fh:",
            "    fh.write(' '.join(sys.argv[1:]) + '\\n')",
            f"for line in {list(lines)!r}:",
            "    sys.stdout.write(line + '\\n')",
            "    sys.stdout.flush()",
            f"sys.stdout.buffer.write({raw!r})",
            "sys.stdout.flush()",
        ]
        if hold:
            body += ["while True:", "    time.sleep(3600)"]
        body.append(f"sys.exit({exit_code})")
        script.write_text("\n".join(body) + "\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return script

    return make


@pytest.fixture
def starts(tmp_path: Path) -> Callable[[], List[str]]:
    """The argument lines the fake tegrastats recorded, one per start."""

    def read() -> List[str]:
        path = tmp_path / "starts.log"
        return path.read_text().splitlines() if path.exists() else []

    return read


def run_converter(args: Sequence[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """`jetson-exporter tegrastats ARGS` as users run it."""
    return subprocess.run([sys.executable, "-m", "jetson_exporter", "tegrastats", *args], input=stdin,
                          capture_output=True, timeout=120)


@pytest.fixture
def convert() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    return run_converter


# -- a real Prometheus over backfilled blocks ------------------------------------------------------

@dataclass
class PrometheusServer:
    url: str

    def query_range(self, query: str, start: float, end: float, step: float) -> List[Dict[str, object]]:
        import json

        params = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": step})
        with urllib.request.urlopen(f"{self.url}/api/v1/query_range?{params}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        result: List[Dict[str, object]] = body["data"]["result"]
        return result


@pytest.fixture
def prometheus_over() -> Iterator[Callable[[Path], PrometheusServer]]:
    """Start /usr/bin/prometheus on a TSDB directory; stopped at the end of the test."""
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not os.path.exists(binary):
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    procs: List[subprocess.Popen[bytes]] = []

    def start(tsdb: Path) -> PrometheusServer:
        port = free_port()
        config = Path(tempfile.mkdtemp(prefix="prom-config-")) / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\n")
        log = tsdb.parent / "prometheus.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
                 f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        _wait_for(ready, timeout_s=60, what="prometheus /-/ready")
        return PrometheusServer(url)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
