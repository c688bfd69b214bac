"""Shared helpers for the jtop source tests.

Pure tests (mapping, collector with scripted clients) run anywhere. The harness tests run the real
jetson-stats service (`../shared/jtop-harness`, as root) and the exporter from the venvs that hold
the jetson-stats client, which the project's own venv never does (AGPL, optional):

    python3 -m venv .venv-jtop  && .venv-jtop/bin/pip install 'jetson-stats==4.3.2'  && .venv-jtop/bin/pip install -e .
    python3 -m venv .venv-jtop7 && .venv-jtop7/bin/pip install 'jetson-stats==7.2.2' && .venv-jtop7/bin/pip install -e .
"""

from __future__ import annotations

import copy
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jetson_exporter.exposition import build_families
from jetson_exporter.sampler import Counters, Sample
from jetson_exporter.snapshot import Snapshot

PROJECT = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT / "tests" / "fixtures" / "jtop"
HARNESS = Path(os.environ.get("JTOP_HARNESS_DIR", PROJECT.parent / "shared" / "jtop-harness"))
SOCKET = "/run/jtop.sock"
# A harness root of its own, so that a developer's harness at the default root is never touched.
FAKE_ROOT = "/tmp/jetson-exporter-jtop-tests"

# client/service series tested, and the venv that holds each client
VENVS = {"4.3.2": PROJECT / ".venv-jtop", "7.2.2": PROJECT / ".venv-jtop7"}
SETUP = {
    version: f"python3 -m venv {venv.name} && {venv.name}/bin/pip install 'jetson-stats=={version}' "
    f"&& {venv.name}/bin/pip install -e ."
    for version, venv in VENVS.items()
}

Series = Dict[FrozenSet[Tuple[str, str]], float]  # labels -> value
Metrics = Dict[str, Series]


def parse_metrics(text: str) -> Metrics:
    """Exposition text -> {sample name: {labels: value}}."""
    metrics: Metrics = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            metrics.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return metrics


def labels_of(series: Series, label: str) -> List[str]:
    return sorted(dict(key)[label] for key in series)


def value(metrics: Metrics, name: str, **labels: str) -> Optional[float]:
    return metrics.get(name, {}).get(frozenset(labels.items()))


def poll(predicate: Callable[[], object], timeout_s: float, what: str, step_s: float = 0.05) -> object:
    """Wait for `predicate()` to return something truthy, checking until a deadline."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        pause.wait(step_s)


@pytest.fixture(scope="session")
def tools() -> SimpleNamespace:
    """The helpers of this conftest for test modules (which cannot import it)."""
    return SimpleNamespace(parse_metrics=parse_metrics, labels_of=labels_of, value=value, poll=poll,
                           run_once=run_once, build_sysfs_view=build_sysfs_view, venvs=VENVS)


@pytest.fixture(name="poll")
def poll_fixture() -> Callable[[Callable[[], object], float, str], object]:
    """`poll(predicate, timeout_s, what)`: wait for a truthy result until a deadline."""
    return poll


@pytest.fixture
def load_frame() -> Callable[[str], Dict[str, object]]:
    """A recorded (or hand-built) jtop frame from tests/fixtures/jtop, fresh for each call."""

    def load(name: str) -> Dict[str, object]:
        with open(FIXTURES / f"{name}.json") as f:
            frame: Dict[str, object] = json.load(f)
        return copy.deepcopy(frame)

    return load


@pytest.fixture
def exposition() -> Callable[[Snapshot], Metrics]:
    """The metrics the exporter would serve for a Snapshot from the jtop source."""

    def render(snapshot: Snapshot) -> Metrics:
        from prometheus_client.exposition import generate_latest

        sample = Sample(snapshot, Counters(), (), 0.0, 1)

        class _Registry:
            def collect(self) -> Iterator[object]:
                return iter(build_families(sample, source="jtop", detected=None))

        return parse_metrics(generate_latest(_Registry()).decode())  # type: ignore[arg-type]

    return render


# ------------------------------------------------------------------------------------------------
# The real jtop service on a fake Jetson
# ------------------------------------------------------------------------------------------------


def _socket_answers() -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(SOCKET)
        return True
    except OSError:
        return False
    finally:
        s.close()


@dataclass
class Harness:
    """One running jtop service (jetson-stats `version`, fake `profile`) serving /run/jtop.sock."""

    version: str
    profile: str
    venv: Path
    log: List[str] = field(default_factory=list)

    def _env(self) -> Dict[str, str]:
        return {**os.environ, "VENV": str(self.venv), "PROFILE": self.profile, "FAKE_JETSON_ROOT": FAKE_ROOT}

    def start(self) -> None:
        run = subprocess.run([str(HARNESS / "start_fake_jtop.sh")], env=self._env(), capture_output=True,
                             text=True, timeout=60)
        self.log.append(run.stderr)
        if run.returncode != 0:
            raise AssertionError(f"start_fake_jtop.sh failed ({run.returncode}):\n{run.stderr}")

    def stop(self) -> None:
        run = subprocess.run([str(HARNESS / "stop_fake_jtop.sh")], env=self._env(), capture_output=True,
                             text=True, timeout=60)
        self.log.append(run.stderr)

    @property
    def fake_root(self) -> Path:
        return Path(FAKE_ROOT)


def _harness_skip_reason(version: str) -> Optional[str]:
    if platform.system() != "Linux" or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the jtop harness runs the real jtop service and needs root"
    if platform.machine() in ("aarch64", "arm64") or platform.machine().startswith("arm"):
        return "the jtop harness fakes a Jetson and refuses to run on an ARM board"
    if not (HARNESS / "start_fake_jtop.sh").is_file():
        return f"the jtop harness is missing: {HARNESS} (set JTOP_HARNESS_DIR)"
    venv = VENVS[version]
    if not (venv / "bin" / "jetson-exporter").exists() or not (venv / "bin" / "jtop").exists():
        return f"no client venv for jetson-stats {version}: {SETUP[version]}"
    return None


@pytest.fixture(scope="session", params=[("4.3.2", "agx-orin"), ("7.2.2", "agx-orin"), ("4.3.2", "xavier-nx"),
                                         ("7.2.2", "xavier-nx")],
                ids=lambda p: f"jetson-stats-{p[0]}-{p[1]}")
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The real jtop service of one jetson-stats release on one fake board, for the session."""
    version, profile = request.param
    reason = _harness_skip_reason(version)
    if reason:
        pytest.skip(reason)
    service = Harness(version, profile, VENVS[version])
    if os.path.exists(SOCKET) and not _harness_alive() and _socket_answers():
        pytest.skip(f"{SOCKET} belongs to a jtop service these tests did not start")
    request.addfinalizer(service.stop)
    service.stop()  # a leftover of an interrupted run, or a previous param's service
    service.start()
    yield service


def _harness_alive() -> bool:
    pid_file = Path(FAKE_ROOT) / "run" / "jtop.pid"
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def run_once(venv: Optional[Path], *args: str, timeout_s: float = 60.0) -> Tuple[int, str, str]:
    """`jetson-exporter --once ARGS` from a venv, or from this interpreter when `venv` is None:
    (exit code, stdout, stderr)."""
    command = [str(venv / "bin" / "jetson-exporter")] if venv else [sys.executable, "-m", "jetson_exporter"]
    run = subprocess.run([*command, "--once", *args], capture_output=True, text=True, timeout=timeout_s,
                         stdin=subprocess.DEVNULL)
    return run.returncode, run.stdout, run.stderr


class ServingExporter:
    """A serving `jetson-exporter` on a free loopback port; its stderr is collected line by line."""

    def __init__(self, venv: Path, *args: str) -> None:
        self.lines: List[str] = []
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "jetson-exporter"), "--web.listen-address=127.0.0.1:0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        found = poll(self._port, 30.0, "the exporter to listen")
        self.port = int(str(found))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _port(self) -> Optional[str]:
        if self.proc.poll() is not None:
            raise AssertionError("the exporter exited:\n" + "\n".join(self.lines))
        for line in list(self.lines):
            m = re.search(r"listening on https?://[^ ]*:(\d+)/", line)
            if m:
                return m.group(1)
        return None

    def scrape(self) -> Metrics:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            return parse_metrics(response.read().decode())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[..., ServingExporter]]:
    """Start serving exporters; each is stopped when the test ends."""
    started: List[ServingExporter] = []

    def start(venv: Path, *args: str) -> ServingExporter:
        exporter = ServingExporter(venv, *args)
        started.append(exporter)
        return exporter

    yield start
    for exporter in started:
        exporter.stop()


def build_sysfs_view(fake_root: Path, view: Path, profile: Dict[str, object]) -> Path:
    """A host root for the sysfs source over the harness's fake device files (symlinks only).

    The harness lays its files out for jtop's JTOP_TESTING paths; this view puts the same files where
    the sysfs readers look (sys/, proc/, etc/, var/), so both sources read one device.
    """
    fs = fake_root / "fake_sys"

    def link(target: Path, at: str) -> None:
        path = view / at
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    link(fs / "devices" / "system", "sys/devices/system")
    for entry in sorted((fs / "devices" / "platform").iterdir()):
        link(entry, f"sys/devices/platform/{entry.name}")
    link(fake_root / "sys" / "devices" / "virtual", "sys/devices/virtual")
    link(fake_root / "sys" / "devices" / "virtual" / "thermal", "sys/class/thermal")
    link(fake_root / "sys" / "firmware", "sys/firmware")
    for cls in ("devfreq", "power_supply"):
        link(fs / "class" / cls, f"sys/class/{cls}")
    link(fs / "bus" / "i2c" / "devices", "sys/bus/i2c/devices")
    link(fs / "kernel" / "debug", "sys/kernel/debug")
    link(fs / "kernel" / "actmon_avg_activity", "sys/kernel/actmon_avg_activity")
    # The fan's hwmon nodes hang off their platform devices, as on a board (the harness's have no
    # `device` link, and the sysfs fan reader names a fan after its device).
    devices = {"pwmfan": "pwm-fan", "pwm_tach": "39c0000.tachometer"}
    for hwmon in sorted((fs / "class" / "hwmon").iterdir()):
        device = devices.get((hwmon / "name").read_text().strip())
        if device is None:
            continue
        node = f"sys/devices/platform/{device}/hwmon/{hwmon.name}"
        for file in sorted(hwmon.iterdir()):
            link(file, f"{node}/{file.name}")
        (view / node / "device").symlink_to("../..")
        (view / "sys/class/hwmon").mkdir(parents=True, exist_ok=True)
        (view / "sys/class/hwmon" / hwmon.name).symlink_to(view / node)
    link(fake_root / "proc" / "meminfo", "proc/meminfo")
    link(fake_root / "proc" / "cpuinfo", "proc/cpuinfo")
    link(fs / "stat", "proc/stat")
    link(Path("/proc/buddyinfo"), "proc/buddyinfo")  # jtop reads the host's too (harness caveat)
    link(fake_root / "etc" / "nv_tegra_release", "etc/nv_tegra_release")
    nvp = profile["nvpmodel"]
    assert isinstance(nvp, dict)
    (view / "var/lib/nvpmodel").mkdir(parents=True)
    (view / "var/lib/nvpmodel/status").write_text(f"pmode:{int(nvp['current']):04d}\n")
    conf = "".join(f"< POWER_MODEL ID={mode_id} NAME={name} >\n" for mode_id, name in nvp["modes"])
    (view / "etc/nvpmodel.conf").write_text(conf + f"< PM_CONFIG DEFAULT={nvp['default']} >\n")
    return view
