"""Push mode through an outage: a Prometheus agent scrapes a simulated board and remote-writes
(with the project's agent config) to two receivers, a Prometheus with the remote-write receiver
on and a VictoriaMetrics single-node. Both receivers go down for over a minute and come back on
the same data; after catch-up, every scrape the agent made has exactly one sample in each, with
the value the board served, and the console's queries read the whole window from both."""

from __future__ import annotations

import math
import threading
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from jetson_exporter.deploy import agent
from jetson_exporter.simulate.board import SimulatedBoard
from jetson_exporter.simulate.models import MODELS
from jetson_exporter.simulate.scenarios import scenario
from testkit.e2e import PROMETHEUS, VICTORIA_METRICS, Api, Server, have, poll, prometheus, victoria_metrics
from testkit.simtruth import mismatches, points_within

pytestmark = pytest.mark.e2e

SCRAPE_S = 1.0
OUTAGE_S = 62.0  # at least a minute, as the issue asks
MATCH_S = 0.25  # an agent scrape and the board's note of serving it are this close
# Catch-up: the shipped queue config backs off up to a minute between retries, then sends.
CATCH_UP_S = 150.0
CONSOLE_STEP = 14


@pytest.fixture
def board(tmp_path: Path) -> Iterator[SimulatedBoard]:
    b = SimulatedBoard("sim-agx-orin-jp6-000", MODELS["agx-orin-jp6"], str(tmp_path / "board"), scenario("waves"),
                       seed=5, tick_s=1.0)
    b.start()
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(b.tick_s):
            b.step()

    stepper = threading.Thread(target=run, name="board", daemon=True)
    stepper.start()
    yield b
    stop.set()
    stepper.join(5)
    b.stop()


@pytest.fixture
def servers() -> Iterator[List[Server]]:
    """Servers a test starts; all are stopped at the end, the agent first (it is started last)."""
    started: List[Server] = []
    yield started
    for server in reversed(started):
        server.stop()


def _samples_prometheus(api: Api, start: float, end: float) -> List[float]:
    series = api.raw('jetson_info{job="jetson-exporter"}', start, end)
    assert len(series) <= 1, list(series)
    return [t for t, _ in next(iter(series.values()), [])]


def _samples_victoria(api: Api, start: float, end: float) -> List[float]:
    rows = list(api.export('jetson_info{job="jetson-exporter"}', start, end))
    assert len(rows) <= 1, rows
    return [ms / 1000 for ms in rows[0]["timestamps"]] if rows else []


def _match(scrapes: List[float], samples: List[float]) -> Tuple[List[float], List[float], List[float]]:
    """Scrapes without a sample, samples without a scrape, and samples stored more than once."""
    duplicates = [t for i, t in enumerate(samples) if i and math.isclose(t, samples[i - 1], rel_tol=0.0, abs_tol=1e-3)]
    unique = sorted(set(round(t, 3) for t in samples))
    missing, extra = [], list(unique)
    for s in scrapes:
        near = [t for t in extra if abs(t - s) <= MATCH_S]
        if near:
            extra.remove(near[0])
        else:
            missing.append(s)
    return missing, extra, duplicates


def _metrics(url: str) -> Dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    values: Dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


@pytest.mark.timeout(420)  # a minute of outage, up to the agent's one-minute retry backoff, and the checks
def test_nothing_is_lost_or_duplicated_when_the_receivers_are_down_for_a_minute(
        tmp_path: Path, board: SimulatedBoard, servers: List[Server]) -> None:
    if not (have(PROMETHEUS) and have(VICTORIA_METRICS)):
        pytest.skip("Prometheus and VictoriaMetrics are needed (apt-get install prometheus victoria-metrics)")
    receiver = prometheus(tmp_path / "receiver", {"global": {}}, "--web.enable-remote-write-receiver",
                          name="receiver Prometheus")
    # By default VictoriaMetrics leaves the last 30 s out of query results (-search.latencyOffset, so
    # that late samples can still arrive); the window the console queries check here ends seconds ago.
    victoria = victoria_metrics(tmp_path / "victoria", "-search.latencyOffset=1s", name="VictoriaMetrics")
    servers.extend([receiver, victoria])
    receiver.start()
    victoria.start()
    config = agent.agent_config(
        {"jetson-exporter": [board.address]},
        [f"{receiver.url}/api/v1/write", f"{victoria.url}/api/v1/write"],
        {"node": board.name},
        scrape_interval=f"{SCRAPE_S:g}s",
    )
    for entry in config["remote_write"]:
        entry["queue_config"]["batch_send_deadline"] = "1s"  # send at once; the retry policy stays the shipped one
    sender = prometheus(tmp_path / "agent", config, "--enable-feature=agent", name="agent")
    servers.append(sender)
    sender.start()
    receivers = {"Prometheus": (receiver, _samples_prometheus), "VictoriaMetrics": (victoria, _samples_victoria)}

    def arrived_since(at: float, count: int) -> bool:
        return all(len(samples(server.api(), at, time.time() + 1)) >= count
                   for server, samples in receivers.values())

    first = poll(lambda: board.scrapes()[0] if board.scrapes() else None, 60, "the agent's first scrape", servers)
    poll(lambda: arrived_since(first - 1, 10), 60, "samples at both receivers", servers)

    # The outage: both receivers go down; the agent keeps scraping into its write-ahead log.
    receiver.stop()
    victoria.stop()
    down_at = time.time()
    outage_over = threading.Event()
    while not outage_over.wait(1.0):  # the outage must last; meanwhile, the agent must not stop
        sender.assert_running()
        if time.time() - down_at >= OUTAGE_S:
            outage_over.set()
    failed = _metrics(sender.url)
    assert sum(v for k, v in failed.items() if k.startswith("prometheus_remote_storage_samples_failed_total")
               or k.startswith("prometheus_remote_storage_samples_retried_total")) > 0 or any(
        v > 0 for k, v in failed.items() if k.startswith("prometheus_remote_storage_samples_pending")), \
        "the agent never noticed the outage"
    receiver.start()
    victoria.start()
    up_at = time.time()
    assert up_at - down_at >= 60

    # Catch-up: wait until both receivers hold the scrapes made a few seconds after they returned.
    poll(lambda: [s for s in board.scrapes() if s > up_at + 3], 30, "scrapes after the outage", servers)
    until = next(s for s in board.scrapes() if s > up_at + 3)
    poll(lambda: all(any(t >= until - MATCH_S for t in samples(server.api(), until - 10, until + 10))
                     for server, samples in receivers.values()), CATCH_UP_S, "catch-up at both receivers", servers)

    scrapes = [s for s in board.scrapes() if s <= until + MATCH_S]
    assert max(b - a for a, b in zip(scrapes, scrapes[1:])) < 1.5 * SCRAPE_S, "the agent missed scrapes"
    assert len(scrapes) > (until - first) / SCRAPE_S * 0.95
    for name, (server, samples) in receivers.items():
        stored = samples(server.api(), first - 1, until + MATCH_S)
        missing, extra, duplicates = _match(scrapes, stored)
        assert (missing, extra, duplicates) == ([], [], []), (
            f"{name}: {len(missing)} scrapes lost (e.g. {missing[:3]}), {len(extra)} samples that no scrape made, "
            f"{len(duplicates)} duplicates, out of {len(scrapes)} scrapes from {first:.1f} to {until:.1f}")

    # The values in the backlog are the board's, and the console's queries see the whole outage.
    window = (max(down_at - 10, first + 1), up_at + 2)
    for name, (server, _) in receivers.items():
        api = server.api()
        busy = api.query_range('jetson_gpu_busy_seconds_total{job="jetson-exporter"}', *window, SCRAPE_S)
        assert len(busy) == 1, (name, busy)
        points = [(float(t), float(v)) for t, v in busy[0]["values"]]
        assert len(points) >= window[1] - window[0] - 1, f"{name}: gaps in the outage window"
        problems = mismatches(board, points, lambda r: r.gpu_busy_s, SCRAPE_S + 0.3, rel=1e-6)
        console = api.query_range("jetson_gpu_utilization_ratio", *window, CONSOLE_STEP)
        assert len(console) == 1 and console[0]["metric"]["instance"] == board.name, (name, console)
        problems += mismatches(board, [(float(t), float(v)) for t, v in console[0]["values"]], lambda r: r.gpu_load,
                               SCRAPE_S + 0.3)
        middle = (down_at + up_at) / 2
        info = api.query("jetson_info", middle)
        assert [row["metric"]["model"] for row in info] == [board.model.spec.board.model], (name, info)
        assert points_within(points, down_at, up_at), name
        assert problems == [], name
