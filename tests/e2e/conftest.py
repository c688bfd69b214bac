"""End-to-end fixtures: simulated boards served in this process, a real Prometheus scraping them."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, List, Sequence, Tuple

import pytest

from jetson_exporter.simulate.board import SimulatedBoard
from jetson_exporter.simulate.fleet import Fleet
from jetson_exporter.simulate.models import MODELS
from jetson_exporter.simulate.scenarios import Scenario
from testkit.e2e import PROMETHEUS, Server, have, poll, prometheus
from testkit.simstack import Stack, scrape_config


@pytest.fixture(scope="module")
def start_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Stack]]:
    """`start_stack(boards, tick_s, rules=None)`: the boards (model, scenario) in a fleet and a Prometheus
    scraping them every second through the fleet's file_sd targets; everything stops with the module."""
    if not have(PROMETHEUS):
        pytest.skip("Prometheus is not installed (apt-get install prometheus; see scripts/test)")
    started: List[Tuple[Fleet, Server]] = []

    def start(boards: Sequence[Tuple[str, Scenario]], tick_s: float,
              rules: Any = None) -> Stack:
        tmp = tmp_path_factory.mktemp("stack")
        fleet = Fleet([SimulatedBoard(f"sim-{model}-{i:03d}", MODELS[model], str(tmp / f"board{i}"), s,
                                      seed=i + 1, tick_s=tick_s) for i, (model, s) in enumerate(boards)], tick_s)
        fleet.start()
        fleet.write_targets(str(tmp / "targets.json"))
        server = prometheus(tmp / "prometheus", scrape_config(tmp / "targets.json"), rules=rules)
        started.append((fleet, server))
        server.start()
        api = server.api()
        poll(lambda: len([t for t in api.targets() if t["health"] == "up"]) == len(boards), 60,
             "every board scraped", [server])
        return Stack(fleet, server, api, time.time())

    yield start
    for fleet, server in reversed(started):
        server.stop()
        fleet.stop()
