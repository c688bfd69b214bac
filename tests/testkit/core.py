"""Fake collectors and clocks, a server harness, certificates and exposition parsing for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from jetson_exporter.exporter import Exporter
from jetson_exporter.server import ExporterServer
from jetson_exporter.snapshot import Gpu, PowerRail, Snapshot, ThermalZone
from jetson_exporter.webconfig import WebConfigWatcher


@dataclass
class FakeCollector:
    """A collector whose next reading the test decides."""

    name: str
    snapshot: Snapshot = field(default_factory=Snapshot)
    raise_error: Optional[Exception] = None
    soft_errors: List[str] = field(default_factory=list)
    gate: Optional[threading.Event] = None  # when set, read() blocks until the gate opens
    entered: threading.Event = field(default_factory=threading.Event)
    reads: int = 0

    @property
    def errors(self) -> List[str]:
        return self.soft_errors

    def read(self) -> Snapshot:
        self.reads += 1
        self.entered.set()
        if self.gate is not None:
            self.gate.wait()
        if self.raise_error is not None:
            raise self.raise_error
        return self.snapshot


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def board_snapshot(gpu_util: float = 0.5, vdd_in_w: float = 5.0, cpu_temp: float = 45.0) -> Snapshot:
    return Snapshot(
        gpu=Gpu(name="gpu", utilization=gpu_util, freq_hz=918e6),
        thermal=(ThermalZone("cpu", cpu_temp),),
        rails=(PowerRail("VDD_IN", power_w=vdd_in_w, voltage_v=5.0, current_a=vdd_in_w / 5.0),),
    )


@dataclass
class RunningServer:
    server: ExporterServer
    exporter: Exporter
    web: WebConfigWatcher

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, path: str = "/metrics", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@dataclass
class Certs:
    directory: str
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d: str) -> Certs:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl in `d`."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=test-ca", cwd=d)
    extensions = (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"), ("client", "extendedKeyUsage=clientAuth"))
    for name, ext in extensions:
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        with open(os.path.join(d, f"{name}.ext"), "w") as fh:
            fh.write(ext + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    j = lambda n: os.path.join(d, n)  # noqa: E731
    return Certs(d, j("ca.crt"), j("server.crt"), j("server.key"), j("client.crt"), j("client.key"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_exposition(text: str) -> Dict[str, float]:
    """`name{labels}` -> value for every sample line of a text exposition."""
    samples: Dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        samples[key] = float(value)
    return samples
