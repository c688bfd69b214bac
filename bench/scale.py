"""Scale benchmark: one Prometheus scraping a fleet of simulated boards, as on a real cluster.

    .venv/bin/python bench/scale.py [--nodes 200] [--scrape-interval 15s] [--tick 5s] [--duration 1800]

Starts `jetson-exporter simulate --nodes N` (one process, one port per board, every model in
turn) and a Prometheus (Debian's /usr/bin/prometheus) scraping it through the simulator's file_sd
targets. After every board has been scraped twice it measures for `--duration` seconds:

- series per board: `count by (instance) ({job="jetson-exporter"})` (the jetson_ metrics, and all
  series a scrape adds, `up` and friends included);
- samples/s ingested: growth of `prometheus_tsdb_head_samples_appended_total` over the window;
- Prometheus CPU (utime + stime from /proc/PID/stat over the window), RSS (/proc/PID/status, the
  largest seen), and the RSS it had before any target was added;
- scrape duration per board as Prometheus measured it (`scrape_duration_seconds`);
- the simulator's CPU and RSS the same way;
- storage: the WAL's growth over the window (what Prometheus writes while data is in its head
  block), and the long-term size, from a TSDB snapshot (admin API) that writes the head out as a
  compacted block: its chunk bytes per sample and its index bytes per series.

A 30-minute run fills Prometheus' chunks (120 samples at 15 s), so that the snapshot's bytes per
sample are the steady-state figure. Results are printed as a Markdown table and, with --json,
written to a file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def du(path: str) -> int:
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # a WAL segment may go while we walk
                total += os.path.getsize(os.path.join(directory, name))
    return total


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prom:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=60) as response:
            return json.load(response)

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=5) as response:
            return bool(response.status == 200)

    def query(self, expr: str) -> List[Dict[str, Any]]:
        body = self.get("/api/v1/query", query=expr)
        assert body["status"] == "success", body
        result: List[Dict[str, Any]] = body["data"]["result"]
        return result

    def scalar(self, expr: str) -> float:
        rows = self.query(expr)
        return float(rows[0]["value"][1]) if rows else float("nan")

    def own(self, name: str) -> float:
        """One of Prometheus' own metrics (summed over its labels), read from its /metrics: it does
        not scrape itself here, so that the TSDB holds the boards' series only."""
        total, found = 0.0, False
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as response:
            for line in response.read().decode().splitlines():
                if line.startswith((name + " ", name + "{")):
                    total += float(line.rsplit(" ", 1)[1])
                    found = True
        if not found:
            raise KeyError(name)
        return total

    def snapshot(self) -> str:
        request = urllib.request.Request(f"{self.url}/api/v1/admin/tsdb/snapshot", method="POST")
        with urllib.request.urlopen(request, timeout=600) as response:
            return str(json.load(response)["data"]["name"])


def wait(check: Any, deadline_s: float, what: str) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(1.0)
    raise SystemExit(f"bench: {what} not reached within {deadline_s:.0f}s")


def duration_s(text: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def run(args: argparse.Namespace) -> Dict[str, Any]:
    work = tempfile.mkdtemp(prefix="jetson-scale-")
    targets = os.path.join(work, "targets.json")
    with open(targets, "w") as fh:
        fh.write("[]\n")
    interval = args.scrape_interval
    config = os.path.join(work, "prometheus.yml")
    with open(config, "w") as fh:
        fh.write(f"global:\n  scrape_interval: {interval}\n  scrape_timeout: 10s\n  evaluation_interval: {interval}\n"
                 f"scrape_configs:\n  - job_name: jetson-exporter\n    file_sd_configs:\n"
                 f"      - files: [{targets}]\n        refresh_interval: 5s\n")
    data = os.path.join(work, "data")
    prom_port = free_port()
    procs: List[subprocess.Popen[bytes]] = []
    logs = contextlib.ExitStack()
    try:
        prom_log = logs.enter_context(open(os.path.join(work, "prometheus.log"), "wb"))  # noqa: SIM115
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--web.enable-admin-api"],
            stdout=prom_log, stderr=subprocess.STDOUT)
        procs.append(prometheus)
        prom = Prom(prom_port)
        wait(prom.ready, 60, "Prometheus ready")
        time.sleep(10)  # an idle Prometheus settles: its memory before any target
        rss_idle = rss_bytes(prometheus.pid)

        sim_log = logs.enter_context(open(os.path.join(work, "simulate.log"), "wb"))  # noqa: SIM115
        simulator = subprocess.Popen(
            [sys.executable, "-m", "jetson_exporter", "simulate", "--nodes", str(args.nodes), "--port", "0",
             "--tick", args.tick, "--targets-file", targets, "--root", os.path.join(work, "trees"),
             "--history", "60", "--log.level", "warn"],
            stdout=subprocess.DEVNULL, stderr=sim_log, cwd=ROOT)
        procs.append(simulator)
        started = time.monotonic()
        wait(lambda: len(_load(targets)) == args.nodes, 600, "the simulator's targets")
        simulator_start_s = time.monotonic() - started
        up = f'count(up{{job="jetson-exporter"}} == 1) == {args.nodes}'
        wait(lambda: prom.query(up), 300, "every board scraped")
        # Two full rounds of scrapes before measuring: every series exists and has a rate.
        time.sleep(2 * duration_s(interval) + 5)

        t0 = time.monotonic()
        cpu0 = {p.pid: cpu_seconds(p.pid) for p in procs}
        appended0 = prom.own("prometheus_tsdb_head_samples_appended_total")
        wal0 = du(os.path.join(data, "wal"))
        peak = {p.pid: rss_bytes(p.pid) for p in procs}
        while time.monotonic() - t0 < args.duration:
            time.sleep(5.0)
            for p in procs:
                if p.poll() is not None:
                    raise SystemExit(f"bench: {p.args[0]} exited with {p.returncode}; see {work}")
                peak[p.pid] = max(peak[p.pid], rss_bytes(p.pid))
        elapsed = time.monotonic() - t0
        cpu1 = {p.pid: cpu_seconds(p.pid) for p in procs}
        appended1 = prom.own("prometheus_tsdb_head_samples_appended_total")
        wal1 = du(os.path.join(data, "wal"))

        per_board = [float(r["value"][1]) for r in prom.query('count by (instance) ({job="jetson-exporter"})')]
        jetson_per_board = [float(r["value"][1]) for r in
                            prom.query('count by (instance) ({job="jetson-exporter", __name__=~"jetson_.+"})')]
        by_model = {r["metric"]["sim_model"]: float(r["value"][1]) for r in prom.query(
            'avg by (sim_model) (count by (instance, sim_model) ({job="jetson-exporter"}))')}
        scrape_avg = prom.scalar('avg(avg_over_time(scrape_duration_seconds{job="jetson-exporter"}[5m]))')
        scrape_max = prom.scalar('max(max_over_time(scrape_duration_seconds{job="jetson-exporter"}[5m]))')
        head_series = prom.own("prometheus_tsdb_head_series")
        heap = prom.own("go_memstats_heap_inuse_bytes")
        failed = prom.scalar('count(up{job="jetson-exporter"} == 0)')

        name = prom.snapshot()
        snap_dir = os.path.join(data, "snapshots", name)
        blocks = [d for d in os.listdir(snap_dir) if os.path.isdir(os.path.join(snap_dir, d))]
        stats = {"numSamples": 0, "numSeries": 0, "numChunks": 0}
        chunk_bytes = index_bytes = 0
        for block in blocks:
            with open(os.path.join(snap_dir, block, "meta.json")) as fh:
                meta = json.load(fh)
            for key in stats:
                stats[key] += int(meta["stats"][key])
            chunk_bytes += du(os.path.join(snap_dir, block, "chunks"))
            index_bytes += os.path.getsize(os.path.join(snap_dir, block, "index"))
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        logs.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    sim, prm = simulator.pid, prometheus.pid
    samples_per_s = (appended1 - appended0) / elapsed
    interval_s = duration_s(interval)
    series = sum(per_board) / len(per_board)
    bytes_per_sample = chunk_bytes / stats["numSamples"]
    index_per_series = index_bytes / stats["numSeries"]
    per_day = series * 86400 / interval_s * bytes_per_sample
    return {
        "machine": {"cpus": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
                    "prometheus": _prometheus_version()},
        "nodes": args.nodes, "scrape_interval_s": interval_s, "tick": args.tick, "window_s": round(elapsed, 1),
        "series_per_board": {"mean": series, "min": min(per_board), "max": max(per_board),
                             "jetson_mean": sum(jetson_per_board) / len(jetson_per_board), "by_model": by_model},
        "targets_down": failed if failed == failed else 0.0,
        "samples_per_s": samples_per_s,
        "samples_per_s_expected": series * args.nodes / interval_s,
        "prometheus": {"cpu_cores": (cpu1[prm] - cpu0[prm]) / elapsed, "rss_bytes_peak": peak[prm],
                       "rss_bytes_idle": rss_idle, "heap_inuse_bytes": heap, "head_series": head_series,
                       "scrape_duration_avg_s": scrape_avg, "scrape_duration_max_s": scrape_max},
        "simulator": {"cpu_cores": (cpu1[sim] - cpu0[sim]) / elapsed, "rss_bytes_peak": peak[sim],
                      "start_s": simulator_start_s},
        "storage": {"wal_bytes_per_s": (wal1 - wal0) / elapsed,
                    "wal_bytes_per_sample": (wal1 - wal0) / elapsed / samples_per_s,
                    "snapshot": {**stats, "chunk_bytes": chunk_bytes, "index_bytes": index_bytes},
                    "chunk_bytes_per_sample": bytes_per_sample, "index_bytes_per_series": index_per_series,
                    "bytes_per_board_per_day": per_day},
    }


def _load(path: str) -> Any:
    with open(path) as fh:
        return json.load(fh)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _prometheus_version() -> str:
    out = subprocess.run([PROMETHEUS, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "unknown"


def table(r: Dict[str, Any]) -> str:
    mib = 1024 * 1024
    p, s, st = r["prometheus"], r["simulator"], r["storage"]
    per_board = r["series_per_board"]
    rows = [
        ("boards", f"{r['nodes']} (scrape every {r['scrape_interval_s']:g} s, simulator tick {r['tick']})"),
        ("measured window", f"{r['window_s']:.0f} s"),
        ("series per board", f"{per_board['mean']:.0f} (min {per_board['min']:.0f}, max {per_board['max']:.0f}; "
                             f"jetson_* {per_board['jetson_mean']:.0f})"),
        ("series per board by model", ", ".join(f"{m} {v:.0f}" for m, v in sorted(per_board["by_model"].items()))),
        ("samples/s ingested", f"{r['samples_per_s']:.0f} (expected {r['samples_per_s_expected']:.0f})"),
        ("Prometheus CPU", f"{100 * p['cpu_cores']:.1f}% of one core"),
        ("Prometheus RSS", f"{p['rss_bytes_peak'] / mib:.0f} MiB peak ({p['rss_bytes_idle'] / mib:.0f} MiB before "
                           f"any target; Go heap in use {p['heap_inuse_bytes'] / mib:.0f} MiB; "
                           f"{p['head_series']:.0f} head series)"),
        ("scrape duration", f"{1000 * p['scrape_duration_avg_s']:.1f} ms mean, {1000 * p['scrape_duration_max_s']:.1f} "
                            "ms max"),
        ("simulator CPU", f"{100 * s['cpu_cores']:.1f}% of one core"),
        ("simulator RSS", f"{s['rss_bytes_peak'] / mib:.0f} MiB peak (started in {s['start_s']:.0f} s)"),
        ("WAL written", f"{st['wal_bytes_per_s'] / 1024:.1f} KiB/s ({st['wal_bytes_per_sample']:.2f} bytes/sample)"),
        ("block storage", f"{st['chunk_bytes_per_sample']:.2f} bytes/sample in chunks, "
                          f"{st['index_bytes_per_series']:.0f} bytes/series of index "
                          f"(snapshot: {st['snapshot']['numSamples']} samples, {st['snapshot']['numSeries']} series, "
                          f"{st['snapshot']['numChunks']} chunks)"),
        ("storage per board per day", f"{st['bytes_per_board_per_day'] / mib:.2f} MiB of chunks"),
    ]
    lines = ["| figure | value |", "|---|---|"]
    lines.extend(f"| {k} | {v} |" for k, v in rows)
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--scrape-interval", default="15s")
    parser.add_argument("--tick", default="5s", help="the simulator's fleet tick")
    parser.add_argument("--duration", type=float, default=300.0, help="measured window in seconds")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, TSDB)")
    args = parser.parse_args(argv)
    results = run(args)
    print(table(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
