"""End to end: exporters on three fixture boards (a full AGX Orin, a Nano 2GB without power monitor
and fan, a Thor without GPU load), scraped every second by a real Prometheus and a real
VictoriaMetrics. Every dashboard query returns data wherever a board has the metric, and
`jetson-exporter top` shows each board's own numbers, through Prometheus, through a stand-in for
KubeSphere's query endpoint, and through VictoriaMetrics."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import pytest

from jetson_exporter.deploy import dashboards
from jetson_exporter.deploy.options import Options
from jetson_exporter.view import top
from jetson_exporter.view.promapi import KUBESPHERE, Client
from testkit import promql
from testkit.promstack import Exporter, FakeApi, QueryServer, http_json, kubesphere_app

pytestmark = pytest.mark.e2e

TOKEN = "e2e-token-0123456789"
SCRAPE_INTERVAL_S = 1
RATE_WINDOW = f"{4 * SCRAPE_INTERVAL_S}s"  # what $__rate_interval is with a 1s scrape interval
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


# -- what each board serves ----------------------------------------------------------------------------------

Scrape = Dict[str, List[Tuple[Dict[str, str], float]]]


def scrape(exporter: Exporter) -> Scrape:
    samples: Scrape = {}
    for line in exporter.metrics().splitlines():
        match = SAMPLE.match(line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            samples.setdefault(match.group(1), []).append((labels, float(match.group(3))))
    return samples


def _one(samples: Scrape, name: str, **labels: str) -> Optional[float]:
    values = [v for found, v in samples.get(name, []) if all(found.get(k) == want for k, want in labels.items())]
    return max(values) if values else None


def expected_row(samples: Scrape) -> Dict[str, Any]:
    """The row top should show for a board, from the board's own /metrics."""
    temps = [v for _, v in samples.get("jetson_temperature_celsius", [])]
    return {
        "model": samples["jetson_info"][0][0]["model"],
        "power_mode": samples["jetson_power_mode_info"][0][0]["name"],
        "memory_total_bytes": _one(samples, "jetson_memory_total_bytes"),
        "memory_used_bytes": _one(samples, "jetson_memory_used_bytes"),
        "gpu_temperature_celsius": _one(samples, "jetson_temperature_celsius", zone="gpu"),
        "hottest_temperature_celsius": max(temps) if temps else None,
        "fan_speed_ratio": _one(samples, "jetson_fan_speed_ratio"),
    }


@pytest.fixture(scope="module")
def scrapes(fleet: Any) -> Dict[str, Scrape]:
    return {node: scrape(exporter) for node, exporter in fleet.exporters.items()}


# -- dashboards -----------------------------------------------------------------------------------------------

def grafana_expand(expr: str) -> str:
    """What Grafana sends with every job and instance selected and a 1s scrape interval."""
    return expr.replace("$job", ".+").replace("$instance", ".+").replace("$__rate_interval", RATE_WINDOW)


def boards_with(expr: str, scrapes: Dict[str, Scrape]) -> Set[str]:
    names = promql.metric_names(expr) - promql.BUILTIN_METRICS
    return {node for node, samples in scrapes.items() if names <= set(samples)}


def _grafana_targets() -> List[Tuple[str, str, str, str]]:
    return [(p["title"], p["type"], t["expr"], t.get("legendFormat", ""))
            for p in dashboards.grafana_dashboard()["panels"] for t in p.get("targets", [])]


def _kubesphere_targets() -> List[Tuple[str, str, str, str]]:
    return [(p["title"], p["type"], t["expr"], t.get("legendFormat", ""))
            for p in dashboards.cluster_dashboard(Options())["spec"]["panels"] for t in p.get("targets", [])]


def _check_series(title: str, kind: str, legend: str, series_labels: List[Dict[str, str]], expected: Set[str]) -> None:
    assert series_labels, f"{title}: no data"
    if kind in ("stat", "singlestat"):
        assert len(series_labels) == 1, f"{title}: a single stat needs one series, got {series_labels}"
        return
    for labels in series_labels:
        missing = [name for name in LEGEND_LABEL.findall(legend) if name not in labels]
        assert not missing, f"{title}: legend label(s) {missing} absent from {labels}"
    assert {labels["instance"] for labels in series_labels} == expected, title


@pytest.mark.parametrize("title, kind, expr, legend", _grafana_targets(), ids=[t[0] for t in _grafana_targets()])
def test_every_grafana_query_returns_data_where_the_boards_have_the_metric(
        title: str, kind: str, expr: str, legend: str, prometheus: QueryServer, scrapes: Dict[str, Scrape]) -> None:
    query = grafana_expand(expr)
    instant = prometheus.query(query)
    _check_series(title, kind, legend, [s["metric"] for s in instant], boards_with(query, scrapes))
    end = time.time()
    ranged = prometheus.query_range(query, end - 5, end, "1s")
    assert ranged and all(s["values"] for s in ranged), title


@pytest.mark.parametrize("title, kind, expr, legend", _kubesphere_targets(), ids=[t[0] for t in _kubesphere_targets()])
def test_every_kubesphere_query_runs_as_written_through_its_query_endpoint(
        title: str, kind: str, expr: str, legend: str, kubesphere: FakeApi, scrapes: Dict[str, Scrape]) -> None:
    client = Client(kubesphere.url, dialect=KUBESPHERE, token=TOKEN)
    end = time.time()
    series = client.query_range(expr, end - 120, end, 60)  # the console's step: 1m
    _check_series(title, kind, legend, [dict(s.labels) for s in series], boards_with(expr, scrapes))


def test_the_single_stats_count_the_fleet(prometheus: QueryServer) -> None:
    stats = {p.title: p.expr for p in dashboards.PANELS if isinstance(p, dashboards.Panel) and p.kind == "stat"}
    selector, window = 'job=~".+", instance=~".+"', RATE_WINDOW

    def value(title: str) -> float:
        return float(prometheus.query(dashboards.expand(stats[title], selector, window))[0]["value"][1])
    assert value("Boards up") == 3 and value("Boards down") == 1  # the ghost target
    assert 0 < value("Fleet RAM used") < 1 and value("Hottest zone") > 40


def test_the_grafana_variables_list_the_job_and_the_nodes(prometheus: QueryServer, fleet: Any) -> None:
    def label_values(match: str, label: str) -> List[str]:
        url = f"{prometheus.url}/api/v1/label/{label}/values?{urllib.parse.urlencode({'match[]': match})}"
        values: List[str] = http_json(url)["data"]
        return values
    assert label_values("jetson_info", "job") == ["jetson-exporter"]
    assert set(label_values('jetson_info{job=~"jetson-exporter"}', "instance")) == set(fleet.exporters)


# -- top ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kubesphere(prometheus: QueryServer) -> Iterator[FakeApi]:
    api = FakeApi(kubesphere_app(prometheus.url, TOKEN))
    yield api
    api.close()


def run_top(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jetson_exporter", "top", "--rate-window", RATE_WINDOW,
                           "--trend-range", "12s", "--once", *args], capture_output=True, text=True, timeout=60,
                          check=False)


def top_json(*args: str) -> Dict[str, Dict[str, Any]]:
    result = run_top("--output", "json", *args)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["stale"] is False and document["queries"] == 16
    return {n["node"]: n for n in document["nodes"]}


def check_rows(rows: Dict[str, Dict[str, Any]], scrapes: Dict[str, Scrape], name_of: Dict[str, str]) -> None:
    """`rows` by top's node name; `name_of` maps a board's node name to how top names it."""
    assert set(rows) == {name_of[node] for node in scrapes}
    for node, samples in scrapes.items():
        row = rows[name_of[node]]
        for key, want in expected_row(samples).items():
            assert row[key] == (pytest.approx(want) if isinstance(want, float) else want), f"{node} {key}"
        assert row["state"] == "up" and 0 <= row["sample_age_seconds"] < 30
        assert row["cpu_utilization_ratio"] is None  # /proc/stat does not move in a fixture: 0/0, not 0
        has_gpu_load = "jetson_gpu_busy_seconds_total" in samples
        gpu = row["gpu_utilization_ratio"]
        assert (gpu is not None) == has_gpu_load, node
        if gpu is not None:
            load = _one(samples, "jetson_gpu_utilization_ratio")
            assert 0 <= gpu <= 1 and (gpu > 0) == bool(load), node
            assert any(v is not None for v in row["trends"]["gpu"]), node
        power = row["board_power_watts"]
        assert (power is not None) == ("jetson_board_power_watts" in samples), node
        if power is not None:
            assert 0 < power < 2 * float(_one(samples, "jetson_board_power_watts") or 0)


def test_top_shows_every_board_with_its_own_values_through_prometheus(
        prometheus: QueryServer, scrapes: Dict[str, Scrape]) -> None:
    rows = top_json("--prometheus", prometheus.url)
    check_rows(rows, scrapes, {node: node for node in scrapes})


def test_top_once_prints_the_table(prometheus: QueryServer, scrapes: Dict[str, Scrape], fleet: Any) -> None:
    result = run_top("--prometheus", prometheus.url, "--sort", "power", "--reverse")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert re.match(r"http://127\.0\.0\.1:\d+  3 nodes: 3 up, 0 down, 0 stale  ·  16 queries in \d\.\d\ds  ·  ",
                    lines[0])
    order = [line.split()[0] for line in lines[3:]]
    assert order == ["thor-03", "orin-agx-01", "nano-2gb-02"]  # the Nano 2GB has no power monitor: last
    nano = lines[3 + order.index("nano-2gb-02")]
    assert re.search(r"Nano 2GB devkit\s+5W\s+up\s+0%", nano) and nano.rstrip().endswith(top.ABSENT)
    thor = lines[3 + order.index("thor-03")]
    assert re.search(rf"AGX Thor devkit\s+120W\s+up\s+{top.ABSENT}", thor)
    (Path(__file__).resolve().parents[2] / "test-artifacts").mkdir(exist_ok=True)
    (Path(__file__).resolve().parents[2] / "test-artifacts" / "top-once.txt").write_text(result.stdout)


def test_naming_the_job_lists_a_target_that_cannot_be_scraped_as_down(prometheus: QueryServer, fleet: Any) -> None:
    rows = top_json("--prometheus", prometheus.url, "--selector", 'job="jetson-exporter"')
    ghost = rows[fleet.ghost]
    assert ghost["state"] == "down" and ghost["model"] is None
    readings = {k: v for k, v in ghost.items() if k.endswith(("_ratio", "_celsius", "_bytes", "_watts"))}
    assert readings and all(v is None for v in readings.values())
    assert {n for n, r in rows.items() if r["state"] == "up"} == set(fleet.exporters)


def test_top_through_the_kubesphere_query_endpoint_shows_the_same(
        kubesphere: FakeApi, scrapes: Dict[str, Scrape], tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    rows = top_json("--kubesphere", kubesphere.url, "--token-file", str(token))
    check_rows(rows, scrapes, {node: node for node in scrapes})
    token.write_text("expired\n")
    refused = run_top("--kubesphere", kubesphere.url, "--token-file", str(token))
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1 and "HTTP 401" in refused.stderr
    assert "expired" not in refused.stderr


def test_top_against_victoria_metrics_shows_the_same(victoria_metrics: QueryServer, scrapes: Dict[str, Scrape],
                                                     fleet: Any) -> None:
    # VictoriaMetrics scrapes with plain host:port instances: rows are named by instance.
    rows = top_json("--prometheus", victoria_metrics.url)
    check_rows(rows, scrapes, {node: exporter.address for node, exporter in fleet.exporters.items()})
