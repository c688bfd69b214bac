"""Side by side, in one run: this exporter (sysfs source) against the jtop stack it replaces.

    sudo .venv/bin/python bench/versus_jtop.py [--duration 60] [--runs 3]

The jtop stack is the real jetson-stats 4.3.2 service on the fake AGX Orin of
../shared/jtop-harness (which needs root), plus a jtop-based collector: this project's own
`--source=jtop`, run from .venv-jtop (scripts/test creates it). The sysfs exporter reads the AGX
Orin JP6 fixture. Each is scraped once per second and samples at 1 Hz; CPU comes from
/proc/PID/stat (utime + stime, every process of the jtop service included), RSS from
/proc/PID/status. Figures are medians over --runs.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from core import cpu_seconds, free_port, rss_mb  # noqa: E402

HARNESS = os.path.join(os.path.dirname(ROOT), "shared", "jtop-harness")
JTOP_VENV = os.path.join(ROOT, ".venv-jtop")
HARNESS_ROOT = "/tmp/jetson-exporter-bench-jtop"


def _tree(pid: int) -> List[int]:
    pids = [pid]
    for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split():
        pids.extend(_tree(int(child)))
    return pids


def _tree_cpu(pid: int) -> float:
    total = 0.0
    for p in _tree(pid):
        with contextlib.suppress(OSError):  # a child that just exited
            total += cpu_seconds(p)
    return total


def _tree_rss(pid: int) -> float:
    return sum(rss_mb(p) for p in _tree(pid) if os.path.exists(f"/proc/{p}"))


def _start_harness() -> int:
    env = {**os.environ, "VENV": JTOP_VENV, "FAKE_JETSON_ROOT": HARNESS_ROOT}
    out = subprocess.run([os.path.join(HARNESS, "start_fake_jtop.sh")], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return int(out.strip().splitlines()[-1])


def _stop_harness() -> None:
    env = {**os.environ, "FAKE_JETSON_ROOT": HARNESS_ROOT}
    subprocess.run([os.path.join(HARNESS, "stop_fake_jtop.sh")], env=env, capture_output=True, timeout=60)


def _exporter(python: str, port: int, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([python, "-m", "jetson_exporter", "--web.listen-address", f"127.0.0.1:{port}",
                             "--log.level", "error", *args])


def _wait(port: int, marker: bytes) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/metrics")
            if marker in conn.getresponse().read():
                return conn
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"no good scrape from port {port}")


def run(duration: float) -> Dict[str, float]:
    service = _start_harness()
    jtop_port, sysfs_port = free_port(), free_port()
    jtop_exporter = _exporter(os.path.join(JTOP_VENV, "bin", "python"), jtop_port, "--source", "jtop")
    sysfs_exporter = _exporter(sys.executable, sysfs_port, "--root",
                               os.path.join(ROOT, "tests", "fixtures", "agx-orin-jp6"))
    try:
        conns = {"jtop": _wait(jtop_port, b"jetson_gpu_utilization_ratio"),
                 "sysfs": _wait(sysfs_port, b"jetson_info{")}
        time.sleep(2.0)  # let both settle into their 1 s rhythm
        start = {"service": _tree_cpu(service), "jtop": cpu_seconds(jtop_exporter.pid),
                 "sysfs": cpu_seconds(sysfs_exporter.pid)}
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < duration:
            n += 1
            for conn in conns.values():
                conn.request("GET", "/metrics")
                conn.getresponse().read()
            time.sleep(max(0.0, t0 + n - time.monotonic()))
        scale = 60.0 / (time.monotonic() - t0)
        service_cpu = (_tree_cpu(service) - start["service"]) * scale
        jtop_cpu = (cpu_seconds(jtop_exporter.pid) - start["jtop"]) * scale
        sysfs_cpu = (cpu_seconds(sysfs_exporter.pid) - start["sysfs"]) * scale
        return {
            "jtop_service_cpu_s_per_60s": service_cpu,
            "jtop_collector_cpu_s_per_60s": jtop_cpu,
            "sysfs_exporter_cpu_s_per_60s": sysfs_cpu,
            "ratio_jtop_stack_over_sysfs": (service_cpu + jtop_cpu) / sysfs_cpu if sysfs_cpu else float("inf"),
            "jtop_stack_rss_mb": _tree_rss(service) + rss_mb(jtop_exporter.pid),
            "sysfs_exporter_rss_mb": rss_mb(sysfs_exporter.pid),
        }
    finally:
        for proc in (jtop_exporter, sysfs_exporter):
            proc.terminate()
            proc.wait(10)
        _stop_harness()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("versus_jtop.py: the jtop harness needs root", file=sys.stderr)
        return 2
    results: Dict[str, List[float]] = {}
    for _ in range(args.runs):
        for key, value in run(args.duration).items():
            results.setdefault(key, []).append(value)
    print("| figure | median | runs |")
    print("|---|---|---|")
    for key, values in results.items():
        print(f"| {key} | {statistics.median(values):.3f} | {', '.join(f'{v:.3f}' for v in values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
