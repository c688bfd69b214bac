"""`jetson-exporter top` against a Prometheus holding N boards: refresh time and queries per refresh.

    .venv/bin/python bench/top.py --nodes 200 [--refreshes 20] [--scrape-interval 5s]
    .venv/bin/python bench/top.py --nodes 6 --fixtures      # exporters on the fixture trees instead

Starts `jetson-exporter simulate --nodes N` (every model in turn, one process, consecutive ports)
or, with --fixtures, N exporters on tests/fixtures/*; a Prometheus on loopback (temporary
storage) discovers them through a file_sd file; once every board has been scraped a few times,
top's refresh runs in-process `--refreshes` times (the queries of one refresh go out in parallel,
as in `top`) and `top --once` runs as a user runs it. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from jetson_exporter.view import fleet, top  # noqa: E402 (after the path set-up)
from jetson_exporter.view.promapi import Client  # noqa: E402

FIXTURES = ("agx-orin-jp6", "orin-nano-jp6", "xavier-nx-jp5", "agx-xavier-jp5", "thor-jp7", "nano-jp4", "nano-2gb-jp4")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def wait(check: Any, deadline_s: float, what: str, procs: List[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"{what}: a process exited with {proc.returncode}")
        try:
            if check():
                return
        except (OSError, ValueError, KeyError, IndexError):
            pass  # not up yet, or no answer yet
        time.sleep(0.5)  # polling live processes
    raise SystemExit(f"{what}: not reached within {deadline_s:.0f}s")


def start_boards(args: argparse.Namespace, work: Path, procs: List[subprocess.Popen[bytes]]) -> Path:
    targets = work / "targets.json"
    log = open(work / "boards.log", "wb")  # noqa: SIM115 (kept open for the processes' lifetime)
    if not args.fixtures:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "jetson_exporter", "simulate", "--nodes", str(args.nodes), "--port", "0",
             "--targets-file", str(targets), "--log.level", "warn"], stdout=log, stderr=subprocess.STDOUT))
        wait(lambda: targets.exists() and len(json.loads(targets.read_text())) == args.nodes, 300,
             "simulated boards", procs)
        return targets
    groups = []
    for i in range(args.nodes):
        port = free_port()
        fixture = FIXTURES[i % len(FIXTURES)]
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "jetson_exporter", "--root", str(ROOT / "tests" / "fixtures" / fixture),
             "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "warn"], stdout=log,
            stderr=subprocess.STDOUT))
        name = f"fx-{fixture}-{i:03d}"
        groups.append({"targets": [f"127.0.0.1:{port}"], "labels": {"node": name, "instance": name}})
    targets.write_text(json.dumps(groups))
    return targets


def start_prometheus(args: argparse.Namespace, work: Path, targets: Path,
                     procs: List[subprocess.Popen[bytes]]) -> str:
    port = free_port()
    config = {"global": {"scrape_interval": args.scrape_interval, "scrape_timeout": args.scrape_interval},
              "scrape_configs": [{"job_name": "jetson-exporter", "file_sd_configs": [{"files": [str(targets)]}]}]}
    (work / "prometheus.yml").write_text(json.dumps(config))
    procs.append(subprocess.Popen(
        [PROMETHEUS, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=open(work / "prometheus.log", "wb"), stderr=subprocess.STDOUT))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    scraped = urllib.parse.quote("count(count_over_time(jetson_info[10m]) >= 4)")
    wait(lambda: int(get_json(f"{url}/api/v1/query?query={scraped}")["data"]["result"][0]["value"][1]) >= args.nodes,
         600, "every board scraped four times", procs)
    return url


def measure(url: str, refreshes: int, trends: bool) -> Dict[str, float]:
    client = Client(url, timeout_s=30)
    fetcher = top.Fetcher(client, fleet.build_queries(), trend_range_s=1800.0 if trends else None)
    times, queries, rows = [], 0, 0
    try:
        fetcher.refresh()  # warm-up: Prometheus's caches, the connection path
        for _ in range(refreshes):
            result = fetcher.refresh()
            times.append(result.duration_s)
            queries, rows = result.queries, len(result.rows)
            started = time.perf_counter()
            top.table(fleet.sort_rows(result.rows), width=None)
            render_s = time.perf_counter() - started
    finally:
        fetcher.close()
    times.sort()
    return {"rows": rows, "queries": queries, "median_s": statistics.median(times),
            "p90_s": times[int(0.9 * (len(times) - 1))], "render_s": render_s}


def once_wall_s(url: str) -> float:
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jetson_exporter", "top", "--prometheus", url, "--once"],
                       stdout=subprocess.DEVNULL, check=True, timeout=120)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--refreshes", type=int, default=20)
    parser.add_argument("--scrape-interval", default="5s")
    parser.add_argument("--fixtures", action="store_true", help="exporters on the fixture trees, not the simulator")
    args = parser.parse_args()
    if not args.fixtures and not (ROOT / "src" / "jetson_exporter" / "simulate" / "cli.py").exists():
        raise SystemExit("the simulator is not there yet: use --fixtures")
    procs: List[subprocess.Popen[bytes]] = []
    work = Path(tempfile.mkdtemp(prefix="bench-top-"))
    try:
        url = start_prometheus(args, work, start_boards(args, work, procs), procs)
        series = int(get_json(f"{url}/api/v1/query?query=" + urllib.parse.quote('count({__name__=~"jetson_.+"})'))
                     ["data"]["result"][0]["value"][1])
        with_trends = measure(url, args.refreshes, trends=True)
        without = measure(url, args.refreshes, trends=False)
        once = once_wall_s(url)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    source = "fixture exporters" if args.fixtures else "simulated boards"
    print(f"{args.nodes} {source}, {series} jetson_ series, scrape every {args.scrape_interval}, "
          f"Prometheus {subprocess.run([PROMETHEUS, '--version'], capture_output=True, text=True).stdout.split()[2]}, "
          f"{os.cpu_count()} CPUs; {args.refreshes} refreshes each\n")
    print("| refresh | rows | queries per refresh | median | p90 | table render |")
    print("|---|---|---|---|---|---|")
    for name, r in (("with sparklines", with_trends), ("--no-trends", without)):
        print(f"| {name} | {r['rows']:.0f} | {r['queries']:.0f} | {r['median_s'] * 1000:.0f} ms | "
              f"{r['p90_s'] * 1000:.0f} ms | {r['render_s'] * 1000:.1f} ms |")
    print(f"\n`top --once` as a process (start-up, one refresh, print): {once * 1000:.0f} ms (median of 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
