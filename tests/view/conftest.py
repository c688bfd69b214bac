"""Fixtures for the fleet view and dashboard tests: a fake query API, and (e2e) exporters on three
fixture boards scraped by a real Prometheus and a real VictoriaMetrics on loopback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List

import pytest

from testkit.core import free_port
from testkit.promstack import (
    Answer,
    Exporter,
    FakeApi,
    Processes,
    QueryServer,
    Request,
    poll,
    scrape_config,
    start_exporter,
    start_prometheus,
    start_victoria_metrics,
    wait_ready,
)

# node name -> fixture tree: a full board, one without power monitor and fan, one without GPU load.
BOARDS = {"orin-agx-01": "agx-orin-jp6", "nano-2gb-02": "nano-2gb-jp4", "thor-03": "thor-jp7"}
GHOST = "xavier-ghost-04"  # a target nothing listens on: Prometheus scrapes it and fails
SAMPLES_BEFORE_TESTS = 6  # scrapes of every board before the tests query (rates need a few)


@pytest.fixture
def fake_api() -> Iterator[Callable[[Callable[[Request], Answer]], FakeApi]]:
    """Start fake query servers for a test; all are shut down at its end."""
    started: List[FakeApi] = []

    def make(app: Callable[[Request], Answer]) -> FakeApi:
        api = FakeApi(app)
        started.append(api)
        return api

    yield make
    for api in started:
        api.close()


@dataclass
class Fleet:
    """Three exporters and the two servers that scrape them (both started together, at once)."""

    exporters: Dict[str, Exporter]  # by node name
    ghost: str  # the node name of a target nothing listens on
    prometheus: QueryServer
    victoria_metrics: QueryServer


def _samples_everywhere(server: QueryServer) -> bool:
    per_target = server.query("count_over_time(jetson_info[1m])")
    return len(per_target) == len(BOARDS) and all(float(s["value"][1]) >= SAMPLES_BEFORE_TESTS for s in per_target)


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    workdir = tmp_path_factory.mktemp("fleet")
    processes = Processes(workdir)
    try:
        exporters = {node: start_exporter(processes, fixture, node) for node, fixture in BOARDS.items()}
        for exporter in exporters.values():
            wait_ready(exporter)
        # Prometheus names targets by node as the ServiceMonitor does, and also scrapes a target
        # nothing listens on; VictoriaMetrics keeps plain host:port instances.
        (workdir / "prometheus").mkdir()
        (workdir / "victoria-metrics").mkdir()
        prometheus = start_prometheus(processes, workdir / "prometheus", scrape_config(
            list(exporters.values()), node_labels=True, extra_targets=[(f"127.0.0.1:{free_port()}", GHOST)]))
        victoria_metrics = start_victoria_metrics(processes, workdir / "victoria-metrics", scrape_config(
            list(exporters.values()), node_labels=False))
        yield Fleet(exporters, GHOST, prometheus, victoria_metrics)
    finally:
        processes.stop_all()


@pytest.fixture(scope="session")
def prometheus(fleet: Fleet) -> QueryServer:
    """Prometheus 2.x scraping the boards every second, once it holds a few samples of each."""
    poll(lambda: _samples_everywhere(fleet.prometheus), 60, "prometheus: samples of every board",
         fleet.prometheus.proc)
    return fleet.prometheus


@pytest.fixture(scope="session")
def victoria_metrics(fleet: Fleet) -> QueryServer:
    """VictoriaMetrics single-node scraping the same boards, once it holds a few samples of each."""
    poll(lambda: _samples_everywhere(fleet.victoria_metrics), 60, "victoria-metrics: samples of every board",
         fleet.victoria_metrics.proc)
    return fleet.victoria_metrics
