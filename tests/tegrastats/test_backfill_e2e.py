"""End to end: a tegrastats log -> `jetson-exporter tegrastats` -> `promtool tsdb create-blocks-from
openmetrics` -> a real Prometheus -> `/api/v1/query_range` gives the log's values back."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

pytestmark = pytest.mark.e2e

LINES = 90
Sample = Callable[..., str]


def log_lines(sample: Sample, t0: int) -> List[str]:
    """An AGX Orin JP6 log, one line a second, with a GPU load and a rail that change every line."""
    base = sample("AGX Orin 64GB", "JetPack 6.2.1")
    lines = []
    for i in range(LINES):
        stamp = datetime.fromtimestamp(t0 + i, timezone.utc).strftime("%m-%d-%Y %H:%M:%S")
        lines.append(base.replace("05-09-2026 18:42:06", stamp)
                     .replace("GR3D_FREQ 0%@[0,0]", f"GR3D_FREQ {i % 101}%@[918,918]")
                     .replace("VDD_GPU_SOC 2412mW/2412mW", f"VDD_GPU_SOC {1000 + 10 * i}mW/2412mW"))
    return lines


def test_backfilled_log_reads_back_from_prometheus(
        sample: Sample, tmp_path: Path, convert: Callable[..., subprocess.CompletedProcess[bytes]],
        prometheus_over: Callable[[Path], Any]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    t0 = int(time.time()) // 60 * 60 - 3 * 3600  # recent, so that no retention applies
    log = tmp_path / "tegrastats.log"
    log.write_text("\n".join(log_lines(sample, t0)) + "\n")

    result = convert([str(log)])
    assert result.returncode == 0, result.stderr
    openmetrics = tmp_path / "backfill.om"
    openmetrics.write_bytes(result.stdout)
    tsdb = tmp_path / "data"
    blocks = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(tsdb)],
                            capture_output=True, timeout=120)
    assert blocks.returncode == 0, blocks.stderr

    prometheus = prometheus_over(tsdb)
    end = t0 + LINES - 1

    def points(query: str) -> Dict[Tuple[Tuple[str, str], ...], List[Tuple[int, float]]]:
        rows = prometheus.query_range(query, t0, end, 1)
        return {tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__")):
                [(int(t), float(v)) for t, v in r["values"]] for r in rows}

    # Gauges: every line's value at every line's time.
    power = points('jetson_power_watts{rail="VDD_GPU_SOC"}')
    assert power == {(("rail", "VDD_GPU_SOC"),): [(t0 + i, (1000 + 10 * i) / 1000) for i in range(LINES)]}
    load = points("jetson_gpu_utilization_ratio")[()]
    assert [v for _, v in load] == pytest.approx([(i % 101) / 100 for i in range(LINES)])
    assert len(points("jetson_cpu_utilization_ratio")) == 12
    assert points('jetson_engine_active{engine="NVDEC"}')[(("engine", "NVDEC"),)][-1] == (end, 0.0)

    # Counters: integrated along the log with trapezoids, and rate() over them is the average.
    energy = [v for _, v in points('jetson_energy_joules_total{rail="VDD_GPU_SOC"}')[(("rail", "VDD_GPU_SOC"),)]]
    expected, total = [0.0], 0.0
    for i in range(1, LINES):
        total += ((1000 + 10 * (i - 1)) + (1000 + 10 * i)) / 2 / 1000
        expected.append(total)
    assert energy == pytest.approx(expected)
    busy = [v for _, v in points("jetson_gpu_busy_seconds_total")[()]]
    assert busy[-1] == pytest.approx(sum(((i - 1) % 101 + i % 101) / 200 for i in range(1, LINES)))
    nvenc = points('jetson_engine_active_seconds_total{engine="NVENC"}')[(("engine", "NVENC"),)]
    assert nvenc[-1] == (end, float(LINES - 1))
    rate = prometheus.query_range('rate(jetson_energy_joules_total{rail="VDD_GPU_SOC"}[30s])', end, end, 1)
    # Over the last 30 s the rail drew (1000 + 10 i) mW for i = 59..89: its average is the rate.
    assert float(rate[0]["values"][0][1]) == pytest.approx((1000 + 10 * 89 + 1000 + 10 * 60) / 2 / 1000, rel=0.05)
