"""Two versions of the exporter side by side: whole-process and per-thread CPU, in one loop.

    .venv/bin/python bench/compare.py --base REV [--duration 60] [--runs 4]

The working tree's exporter and the one at git revision REV (checked out in a temporary
worktree) run on the same fixture, sample at 1 Hz and are scraped once a second on kept-alive
connections, as Prometheus scrapes (gzip, its Accept header). CPU is the exact on-CPU time of each
thread from /proc/PID/task/*/schedstat. Two exporters running at once share the interpreter's code
in the CPU caches, and the one that ticks second finds it warm, so the runs alternate which one
starts first; the ratio is the median of the per-run ratios.

Threads are named by the order the exporter starts them: main, sampler, http (the accept loop),
connection (the scrape's kept-alive connection).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, Iterator, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from core import free_port, thread_ns  # noqa: E402

THREADS = ("main", "sampler", "http", "connection")
# What Prometheus 2.x sends with every scrape.
SCRAPE_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
    "User-Agent": "Prometheus/2.42.0",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="jetson-exporter-compare-") as parent:
        path = os.path.join(parent, "tree")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--quiet", "--detach", path, rev], check=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", path], check=False)


def start(tree: str, root: str) -> Tuple[subprocess.Popen, int]:  # type: ignore[type-arg]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jetson_exporter", "--root", root, "--web.listen-address", f"127.0.0.1:{port}",
         "--log.level", "warn"],
        env={**os.environ, "PYTHONPATH": os.path.join(tree, "src")},
    )
    return proc, port


def scrape(conn: http.client.HTTPConnection) -> None:
    conn.request("GET", "/metrics", headers=SCRAPE_HEADERS)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200 or not body:
        raise RuntimeError(f"scrape answered {response.status}")


def wait_ready(port: int) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            scrape(conn)
            return conn
        except (OSError, RuntimeError):
            time.sleep(0.05)
    raise RuntimeError(f"the exporter on port {port} did not answer within 30 s")


def one_run(trees: List[str], root: str, duration: float) -> List[Dict[str, float]]:
    """Per tree, in the order given (which is also the order they start): ms of CPU per 60 s."""
    procs = [start(tree, root) for tree in trees]
    try:
        conns = [wait_ready(port) for _, port in procs]
        time.sleep(1.0)
        before = [thread_ns(proc.pid) for proc, _ in procs]
        began = time.monotonic()
        n = 0
        while time.monotonic() - began < duration:
            for conn in conns if n % 2 == 0 else conns[::-1]:
                scrape(conn)
            n += 1
            time.sleep(max(0.0, began + n - time.monotonic()))
        elapsed = time.monotonic() - began
        results = []
        for (proc, _), since in zip(procs, before):
            now = thread_ns(proc.pid)
            tids = sorted(now, key=int)  # in the order the threads started
            per_thread = [(now[tid] - since.get(tid, 0)) / 1e6 * 60 / elapsed for tid in tids]
            figures = dict(zip(THREADS, per_thread))
            figures["other threads"] = sum(per_thread[len(THREADS):])
            figures["total"] = sum(per_thread)
            results.append(figures)
        return results
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="git revision to compare the working tree with")
    parser.add_argument("--root", default=os.path.join(ROOT, "tests", "fixtures", "agx-orin-jp6"))
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    figures: Dict[str, Dict[str, List[float]]] = {"base": {}, "working tree": {}}
    ratios: List[float] = []
    with worktree(args.base) as base_tree:
        trees = {"base": base_tree, "working tree": ROOT}
        for run in range(args.runs):
            order = ["base", "working tree"] if run % 2 == 0 else ["working tree", "base"]
            results = dict(zip(order, one_run([trees[name] for name in order], args.root, args.duration)))
            for name, values in results.items():
                for key, value in values.items():
                    figures[name].setdefault(key, []).append(value)
            ratios.append(results["working tree"]["total"] / results["base"]["total"])
            print(f"run {run + 1} ({order[0]} first): base {results['base']['total']:.1f} ms, "
                  f"working tree {results['working tree']['total']:.1f} ms per 60 s", file=sys.stderr)
    print(f"CPU ms per 60 s (schedstat), median of {args.runs} runs; base = {args.base}")
    print()
    print("| thread | base | working tree |")
    print("|---|---|---|")
    for key in (*THREADS, "other threads", "total"):
        base, ours = (statistics.median(figures[name].get(key, [0.0])) for name in ("base", "working tree"))
        print(f"| {key} | {base:.1f} | {ours:.1f} |")
    print()
    print(f"working tree / base, whole process: {statistics.median(ratios):.2f} (runs: "
          + ", ".join(f"{r:.2f}" for r in ratios) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
