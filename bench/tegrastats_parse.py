"""tegrastats benchmark: lines parsed per second, and lines converted per second for backfill.

    .venv/bin/python bench/tegrastats_parse.py [--lines 20000] [--runs 5]

- parse, sample line: the AGX Orin JetPack 6.2.1 sample line (tests/fixtures/tegrastats), parsed
  over and over. Its tokens repeat, as an idle board's do, so the parser's token caches hit.
- parse, every value new: the same line with every CPU load and clock, temperature, rail and RAM
  value changed on every line, so that no cached token helps (the worst case).
- convert: `jetson-exporter tegrastats` on a log of realistic lines (random loads, clocks among a
  few steps, drifting temperatures and rails), OpenMetrics written to /dev/null: parser, sampler
  (counter integration), build_families and the encoder together.

Each figure is the median of `--runs` runs, in one process, on this machine.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from datetime import timezone
from typing import Callable, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

from jetson_exporter.sources import tegrastats_parser  # noqa: E402
from jetson_exporter.sources.tegrastats_cli import Converter, OpenMetricsSpool, WarningPrinter, convert  # noqa: E402
from jetson_exporter.sources.tegrastats_parser import parse_line  # noqa: E402

SAMPLES = os.path.join(ROOT, "tests", "fixtures", "tegrastats", "tegrastats-samples.txt")
MONTH_LINES = 31 * 24 * 3600


def sample_line() -> str:
    with open(SAMPLES) as fh:
        lines = fh.read().splitlines()
    for comment, line in zip(lines, lines[1:]):
        if "AGX Orin 64GB" in comment and "JetPack 6.2.1" in comment:
            return line
    raise SystemExit("AGX Orin JP6 sample line not found in " + SAMPLES)


def varied_lines(count: int, seed: int, unique: bool) -> List[str]:
    """The sample line with changing values: `unique` makes every value of every line new."""
    rng = random.Random(seed)
    base = sample_line().split()
    cpu_at = base.index("CPU") + 1
    out = []
    for i in range(count):
        tokens = list(base)
        t = 1778352126 + i
        tokens[0] = time.strftime("%m-%d-%Y", time.gmtime(t))
        tokens[1] = time.strftime("%H:%M:%S", time.gmtime(t))
        tokens[3] = f"{18000 + rng.randint(0, 400)}/62841MB"
        if unique:
            tokens[cpu_at] = "[" + ",".join(f"{(i + c) % 101}%@{700 + (i * 12 + c) % 1500}" for c in range(12)) + "]"
        else:
            tokens[cpu_at] = "[" + ",".join(f"{rng.randint(0, 60)}%@{rng.choice((729, 1036, 1267, 2201))}"
                                            for _ in range(12)) + "]"
        for j, token in enumerate(tokens):
            if "@" in token and token.endswith("C"):
                name = token.split("@")[0]
                temp = 40 + (i % 20000) / 1000 + j if unique else 45 + rng.randint(0, 8000) / 1000
                tokens[j] = f"{name}@{temp:.3f}C"
            elif token.endswith("mW") and "/" in token:
                power = 1000 + (i * 7 + j) % 50000 if unique else rng.randint(1500, 5000)
                tokens[j] = f"{power}mW/{power}mW"
        out.append(" ".join(tokens))
    return out


def median_rate(runs: int, lines: int, work: Callable[[], None]) -> float:
    rates = []
    for _ in range(runs):
        tegrastats_parser.clear_caches()
        start = time.perf_counter()
        work()
        rates.append(lines / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000, help="lines per run (default %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="runs; the median is reported (default %(default)s)")
    args = parser.parse_args()
    n = args.lines

    line = sample_line()
    fresh = varied_lines(n, seed=1, unique=True)

    def parse_sample() -> None:
        for _ in range(n):
            parse_line(line)

    def parse_fresh() -> None:
        for text in fresh:
            parse_line(text)

    hot = median_rate(args.runs, n, parse_sample)
    cold = median_rate(args.runs, n, parse_fresh)
    log = ("\n".join(varied_lines(n, seed=2, unique=False)) + "\n").encode()

    def run_convert() -> None:
        with open(os.devnull, "wb") as sink:
            spool = OpenMetricsSpool()
            converter = Converter(spool, tz=timezone.utc, interval_s=1.0, start=None,
                                  warn=WarningPrinter("bench", 0, sys.stderr))
            convert(io.BytesIO(log), sink, converter)
            spool.close()

    converted = median_rate(max(1, args.runs // 2), n, run_convert)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {n} lines per run, median of {args.runs} runs")
    print()
    print("| what | lines/s | a month of 1 s lines |")
    print("|---|---:|---:|")
    for label, rate in (("parse, AGX Orin JP6 sample line", hot), ("parse, every value new", cold),
                        ("convert to OpenMetrics (parse + sampler + families + encode)", converted)):
        print(f"| {label} | {rate:,.0f} | {MONTH_LINES / rate / 60:,.1f} min |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
