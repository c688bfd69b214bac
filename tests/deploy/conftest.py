"""Helpers for the deployment tests: rendering, YAML, schemas, and the real Prometheus binaries."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import jsonschema
import pytest
import yaml

from jetson_exporter.deploy import cli, render

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SCHEMAS = SHARED / "schemas"
REFERENCE = SHARED / "reference" / "kubesphere-v3.4.1"
DEPLOY = REPO / "deploy"
OPERATOR_VERSIONS = ("prometheus-operator-v0.55.1", "prometheus-operator-v0.93")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# Flag sets covering every kind of document the renderer produces.
PUSH_URL = "https://prometheus.cloud.example/api/v1/write"
RENDERINGS: Dict[str, List[str]] = {
    "kubesphere": ["--preset", "kubesphere"],
    "kube-prometheus": ["--preset", "kube-prometheus"],
    "debugfs": ["--profile", "debugfs"],
    "push": ["--mode", "push", "--remote-write-url", PUSH_URL],
    "push-full": ["--preset", "kube-prometheus", "--mode", "push", "--profile", "debugfs",
                  "--remote-write-url", PUSH_URL, "--remote-write-url", PUSH_URL.replace("cloud", "cloud2"),
                  "--remote-write-username", "edge", "--remote-write-ca", "--remote-write-client-cert",
                  "--remote-write-server-name", "prometheus.cloud.example", "--external-label", "cluster=eu",
                  "--push-node-exporter"],
}


def files_of(argv: Sequence[str], output_dir: bool = True) -> Dict[str, str]:
    """Rendered file name -> text, as `--output-dir` would write them."""
    args = [*argv, "--output-dir", "out"] if output_dir else list(argv)
    _, _, files = cli.plan(args)
    return {f.filename: f.text for f in files}


def documents(text: str) -> List[Dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def objects_of(argv: Sequence[str]) -> List[Dict[str, Any]]:
    """Every Kubernetes object of a rendering (resource files only)."""
    _, _, files = cli.plan([*argv, "--output-dir", "out"])
    return [doc for f in files if f.kind == render.RESOURCE for doc in documents(f.text)]


def by_kind(objects: Sequence[Dict[str, Any]], kind: str) -> Dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def containers(daemonset: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    spec = daemonset["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def run_cli(argv: Sequence[str], cwd: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    """`jetson-exporter manifests ARGV` in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "jetson_exporter", "manifests", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=120, check=False)


# -- CRD schemas -------------------------------------------------------------------------------

def _strict(schema: Any) -> Any:
    """Reject unknown fields where the CRD defines properties, as `kubectl --validate=strict` does."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def crd_validator(operator: str, kind: str) -> jsonschema.protocols.Validator:
    """A validator for a monitoring.coreos.com/v1 kind from the shared CRD files."""
    path = SCHEMAS / operator / f"monitoring.coreos.com_{kind.lower()}s.yaml"
    assert path.exists(), f"missing reference schema {path} (the shared/ folder must sit beside the repository)"
    crd = next(d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "CustomResourceDefinition")
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


# -- processes and HTTP ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


def poll(check: Callable[[], Any], deadline_s: float, what: str, proc: Optional[subprocess.Popen[bytes]] = None,
         interval_s: float = 0.2) -> Any:
    """Call `check` until it returns something truthy, the deadline passes, or `proc` dies."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        try:
            last = check()
            if last:
                return last
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
        time.sleep(interval_s)  # polling a live process, not waiting for time to pass
    raise AssertionError(f"{what}: not reached within {deadline_s:.0f}s (last: {last!r})")


def ready(port: int) -> Callable[[], bool]:
    return lambda: http_get(f"http://127.0.0.1:{port}/-/ready") is not None


def query(port: int, expr: str) -> List[Dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.request.quote(expr)}"
    result: List[Dict[str, Any]] = json.loads(http_get(url))["data"]["result"]
    return result


@pytest.fixture
def processes() -> Iterator[List[subprocess.Popen[bytes]]]:
    """Processes a test starts; all are stopped (and waited for) at the end."""
    started: List[subprocess.Popen[bytes]] = []
    yield started
    for proc in reversed(started):  # last started first: an agent flushes to its receiver before it goes
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start(processes: List[subprocess.Popen[bytes]], argv: Sequence[str], log: Path,
          env: Optional[Dict[str, str]] = None) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    processes.append(proc)
    return proc
