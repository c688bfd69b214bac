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
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, Iterator, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from core import Exporter, side_by_side  # noqa: E402

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


def one_run(trees: List[str], root: str, duration: float) -> List[Dict[str, float]]:
    """Per tree, in the order given (which is also the order they start): ms of CPU per 60 s."""
    exporters: List[Exporter] = []
    try:
        for tree in trees:
            exporters.append(Exporter(root, tree=tree))
        used, elapsed = side_by_side(exporters, duration, SCRAPE_HEADERS)
        results = []
        for threads in used:
            tids = sorted(threads, key=int)  # in the order the threads started
            per_thread = [threads[tid] / 1e6 * 60 / elapsed for tid in tids]
            figures = dict(zip(THREADS, per_thread))
            figures["other threads"] = sum(per_thread[len(THREADS):])
            figures["total"] = sum(per_thread)
            results.append(figures)
        return results
    finally:
        for exp in exporters:
            exp.stop()


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
