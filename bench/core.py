"""Exporter core benchmark: whole-process CPU, scrape latency, memory, start-up, sampler tick cost.

    .venv/bin/python bench/core.py --root tests/fixtures/agx-orin-jp6 [--duration 60] [--runs 3]

Every figure comes from the running exporter process as users run it (`python -m jetson_exporter
--root ...`): CPU from /proc/PID/stat (utime + stime), RSS from /proc/PID/status. Latency is
measured by a client on a kept-alive connection, as Prometheus scrapes. Each figure is the median
over `--runs` runs; the sampler tick and its floor (the same files read in a tight loop) are
measured side by side in one process. Each run also measures, side by side, the fixture as it is
(regular files: a kept descriptor is link-checked before each read, since a regular file can be
replaced under it) and the same files taken for kernel files, as /sys and /proc are on a board
(no check: a removed sysfs file fails its reads instead).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

CLK_TCK = os.sysconf("SC_CLK_TCK")
# A good scrape has the board identity (any fixture); `--marker` changes it for other roots.
MARKER = b"jetson_info{"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def thread_ns(pid: int) -> dict:  # type: ignore[type-arg]
    """On-CPU nanoseconds per live thread (schedstat: exact, where stat counts 10 ms ticks)."""
    result = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as fh:
                result[task] = int(fh.read().split()[0])
        except OSError:
            pass
    return result


def thread_cpu_s(pid: int, since: Dict[str, int]) -> float:
    """On-CPU seconds of the process's threads since a `thread_ns` reading."""
    return sum(ns - since.get(task, 0) for task, ns in thread_ns(pid).items()) / 1e9


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


# The exporter as `python -m jetson_exporter` runs it, but with the files under the given root taken
# for kernel files (as /sys is on a board): kept descriptors are read without a link-count check.
AS_KERNEL_FILES = """
import os, runpy, sys
from jetson_exporter.readers import files
files.kernel_devices = lambda: frozenset({os.stat(sys.argv[sys.argv.index("--root") + 1]).st_dev})
runpy.run_module("jetson_exporter", run_name="__main__", alter_sys=True)
"""


class Exporter:
    """The exporter of the source tree `tree` (this checkout by default) as a process, started
    and waited for until it serves a good scrape."""

    def __init__(self, root: str, interval: str = "1s", as_kernel_files: bool = False, tree: str = ROOT) -> None:
        self.port = free_port()
        self.started = time.perf_counter()
        launch = ["-c", AS_KERNEL_FILES] if as_kernel_files else ["-m", "jetson_exporter"]
        self.proc = subprocess.Popen(
            [sys.executable, *launch, "--root", root, "--sampler.interval", interval,
             "--web.listen-address", f"127.0.0.1:{self.port}", "--log.level", "warn"],
            env={**os.environ, "PYTHONPATH": os.path.join(tree, "src")},
        )
        self.startup_s = self._wait_first_good_scrape()

    def _wait_first_good_scrape(self) -> float:
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/metrics")
                body = conn.getresponse().read()
                conn.close()
                if MARKER in body:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError("exporter did not serve a good scrape within 30 s")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def scrape(conn: http.client.HTTPConnection, path: str = "/metrics",
           headers: Optional[Dict[str, str]] = None) -> Tuple[float, int]:
    start = time.perf_counter()
    conn.request("GET", path, headers=headers or {"Accept-Encoding": "gzip"})
    response = conn.getresponse()
    response.read()
    return time.perf_counter() - start, response.status


def side_by_side(exporters: List[Exporter], duration: float,
                 headers: Optional[Dict[str, str]] = None) -> Tuple[List[Dict[str, int]], float]:
    """Scrape every exporter once a second for `duration`, on a kept-alive connection each and in
    alternating order. Returns each one's on-CPU nanoseconds per thread over the window (read while
    the connections, and so their threads, are still open) and the window's length in seconds."""
    conns = [exp.connection() for exp in exporters]
    try:
        for conn in conns:
            scrape(conn, headers=headers)
        start = [thread_ns(exp.proc.pid) for exp in exporters]
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < duration:
            for conn in conns if n % 2 == 0 else conns[::-1]:
                _, status = scrape(conn, headers=headers)
                assert status == 200, f"scrape: HTTP {status}"
            n += 1
            time.sleep(max(0.0, t0 + n - time.perf_counter()))
        elapsed = time.perf_counter() - t0
        used = []
        for exp, since in zip(exporters, start):
            used.append({tid: ns - since.get(tid, 0) for tid, ns in thread_ns(exp.proc.pid).items()})
        return used, elapsed
    finally:
        for conn in conns:
            conn.close()


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run_spaced(root: str, duration: float) -> Dict[str, float]:
    """1 Hz sampling and one scrape per second for `duration`: CPU, latency, RSS.

    Then the same spacing on the live page's JSON endpoint (the page polls it once a second),
    after the CPU figure is taken so that it stays the scrape-only figure the targets name.
    """
    exp = Exporter(root)
    try:
        conn = exp.connection()
        scrape(conn)  # warm the connection
        cpu0 = cpu_seconds(exp.proc.pid)
        threads0 = thread_ns(exp.proc.pid)
        t0 = time.perf_counter()
        latencies = spaced(conn, "/metrics", duration)
        cpu = cpu_seconds(exp.proc.pid) - cpu0
        exact = thread_cpu_s(exp.proc.pid, threads0)
        elapsed = time.perf_counter() - t0
        return {
            "startup_s": exp.startup_s,
            "cpu_s_per_60s": cpu * 60.0 / elapsed,
            "cpu_s_per_60s_schedstat": exact * 60.0 / elapsed,
            "scrape_median_ms": statistics.median(latencies) * 1000,
            "scrape_p99_ms": percentile(latencies, 0.99) * 1000,
            "scrapes": float(len(latencies)),
            "rss_mb": rss_mb(exp.proc.pid),
            "snapshot_json_median_ms": statistics.median(spaced(conn, "/api/v1/snapshot", min(duration, 20.0))) * 1000,
        }
    finally:
        exp.stop()


def spaced(conn: http.client.HTTPConnection, path: str, duration: float) -> List[float]:
    """GET `path` once a second for `duration` seconds; the latencies."""
    t0 = time.perf_counter()
    latencies: List[float] = []
    while time.perf_counter() - t0 < duration:
        latency, status = scrape(conn, path)
        assert status == 200, f"{path}: HTTP {status}"
        latencies.append(latency)
        time.sleep(max(0.0, t0 + len(latencies) - time.perf_counter()))
    return latencies


def run_kernel_files(root: str, duration: float, kernel_first: bool = False) -> Dict[str, float]:
    """Side by side for `duration`: the fixture as it is (regular files, whose kept descriptors
    are link-checked before each read) and the same files taken for kernel files.

    Two exporters share the interpreter's code in the CPU caches, and the one that ticks second
    finds it warm: runs should alternate `kernel_first`."""
    order = ("kernel", "regular") if kernel_first else ("regular", "kernel")
    exporters: Dict[str, Exporter] = {}
    try:
        for name in order:
            exporters[name] = Exporter(root, as_kernel_files=name == "kernel")
        used, elapsed = side_by_side(list(exporters.values()), duration)
        cpu = {name: sum(threads.values()) / 1e9 * 60.0 / elapsed for name, threads in zip(exporters, used)}
        return {"side_by_side_regular_files_cpu_s_per_60s": cpu["regular"],
                "side_by_side_kernel_files_cpu_s_per_60s": cpu["kernel"]}
    finally:
        for exp in exporters.values():
            exp.stop()


def run_concurrency(root: str, clients: int = 50) -> Dict[str, float]:
    exp = Exporter(root)
    try:
        barrier = threading.Barrier(clients)
        statuses: List[int] = []
        latencies: List[float] = []
        lock = threading.Lock()

        def one() -> None:
            conn = exp.connection()
            barrier.wait()
            latency, status = scrape(conn)
            with lock:
                statuses.append(status)
                latencies.append(latency)
            conn.close()

        threads = [threading.Thread(target=one) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {"concurrent_ok": float(statuses.count(200)), "concurrent_max_ms": max(latencies) * 1000}
    finally:
        exp.stop()


def run_memory(root: str, scrapes: int = 10_000) -> Dict[str, float]:
    """Back-to-back scrapes with 1 Hz sampling: RSS must stay flat."""
    exp = Exporter(root)
    try:
        conn = exp.connection()
        for _ in range(100):
            scrape(conn)
        rss_start = rss_mb(exp.proc.pid)
        checkpoints = []
        latencies = []
        for i in range(scrapes):
            latency, _ = scrape(conn)
            latencies.append(latency)
            if (i + 1) % 2000 == 0:
                checkpoints.append(rss_mb(exp.proc.pid))
        return {
            "rss_start_mb": rss_start,
            "rss_end_mb": checkpoints[-1],
            "rss_max_mb": max(checkpoints),
            "back_to_back_median_ms": statistics.median(latencies) * 1000,
        }
    finally:
        exp.stop()


def run_tick(root: str, ticks: int = 2000) -> Dict[str, float]:
    """In-process: a sampler tick over all readers, and the floor of reading the same files."""
    from jetson_exporter.cli import READERS
    from jetson_exporter.paths import Paths
    from jetson_exporter.sampler import Sampler
    from jetson_exporter.sources.sysfs import make_readers

    # The files one tick reads: recorded on readers that open every file each time.
    recorder = Sampler(make_readers(Paths.under(root), list(READERS)))
    recorder.tick()
    opened: List[str] = []
    real_open = os.open

    def recording_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(path)
        return real_open(path, flags, *args, **kwargs)

    os.open = recording_open  # type: ignore[assignment]
    try:
        recorder.tick()
    finally:
        os.open = real_open  # type: ignore[assignment]
    files = list(opened)
    sampler = Sampler(make_readers(Paths.under(root), list(READERS), keep_open=True))  # as the exporter runs
    sampler.tick()

    def floor_once() -> None:
        for path in files:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.read(fd, 65536)
            finally:
                os.close(fd)

    tick_times, floor_times = [], []
    for _ in range(ticks):  # interleaved, so both see the same machine state
        t = time.process_time()
        sampler.tick()
        tick_times.append(time.process_time() - t)
        t = time.process_time()
        floor_once()
        floor_times.append(time.process_time() - t)
    tick = statistics.median(tick_times)
    floor = statistics.median(floor_times)
    # Once a second, as the exporter runs, a tick finds cold caches: the same tick with pauses.
    cold = []
    for _ in range(20):
        time.sleep(0.5)
        t = time.thread_time()
        sampler.tick()
        cold.append(time.thread_time() - t)
    # What a rediscovery (every Reader.rediscover_every reads, for hot-plugged sensors) costs.
    discovery = []
    for _ in range(10):
        total = 0.0
        for reader in sampler.collectors:
            time.sleep(0.05)
            t = time.thread_time()
            reader.files.close()  # as Reader.read() does before discovering again
            reader.discover()
            total += time.thread_time() - t
        discovery.append(total)
    result = {"files_per_tick": float(len(files)), "tick_ms": tick * 1000, "floor_ms": floor * 1000,
              "tick_over_floor": tick / floor if floor else float("nan"),
              "cold_tick_ms": statistics.median(cold) * 1000,
              "rediscovery_all_collectors_ms": statistics.median(discovery) * 1000}
    result.update(run_compress(sampler.latest))
    return result


def run_compress(sample: object) -> Dict[str, float]:
    """What a new tick costs the scrape path: the series built and encoded as text, then
    gzip-compressed (level 1, as the exporter serves it). Back to back, and with pauses as a
    scrape once a second finds its caches."""
    import gzip

    from jetson_exporter.exposition import Encoder, build_series

    encoder = Encoder()

    def encode() -> bytes:
        return encoder.encode(build_series(sample, source="sysfs", detected=True), openmetrics=False)  # type: ignore[arg-type]

    body = encode()
    steps = (("encode", encode), ("gzip", lambda: gzip.compress(body, compresslevel=1)))
    timings: Dict[str, List[float]] = {}
    for spacing, runs in (("hot", 500), ("cold", 40)):
        for _ in range(runs):
            for label, step in steps:
                if spacing == "cold":
                    time.sleep(0.05)
                t = time.thread_time()
                step()
                timings.setdefault(f"{label}_{spacing}_ms", []).append(time.thread_time() - t)
    result = {key: statistics.median(values) * 1000 for key, values in timings.items()}
    result["body_bytes"] = float(len(body))
    result["gzip_bytes"] = float(len(gzip.compress(body, compresslevel=1)))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.join(ROOT, "tests", "fixtures", "agx-orin-jp6"))
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scrapes", type=int, default=10_000)
    parser.add_argument("--marker", default="jetson_info{", help="text a good scrape contains")
    parser.add_argument("--tick-only", action="store_true", help="only the in-process sampler tick figures")
    args = parser.parse_args()
    global MARKER
    MARKER = args.marker.encode()
    results: Dict[str, List[float]] = {}

    def record(values: Dict[str, float]) -> None:
        for key, value in values.items():
            results.setdefault(key, []).append(value)

    if not args.tick_only:
        for run in range(args.runs):
            record(run_spaced(args.root, args.duration))
            record(run_concurrency(args.root))
            record(run_kernel_files(args.root, args.duration, kernel_first=run % 2 == 1))
        record(run_memory(args.root, args.scrapes))
    record(run_tick(args.root))
    medians = {key: statistics.median(values) for key, values in results.items()}
    print("| figure | median | runs |")
    print("|---|---|---|")
    for key, value in medians.items():
        print(f"| {key} | {value:.3f} | {len(results[key])} |")
    print(json.dumps({"medians": medians, "all": results}, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
