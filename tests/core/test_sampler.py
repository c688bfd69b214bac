"""The sampler: counters integrate exactly, collectors fail alone, a hung collector is isolated."""

from __future__ import annotations

import threading
import time

import pytest

from jetson_exporter.readers.cpu import cpu_utilization
from jetson_exporter.sampler import Sampler
from jetson_exporter.snapshot import CpuCore, Gpu, PowerRail, Snapshot
from testkit.core import FakeClock, FakeCollector, board_snapshot


def _sampler(*collectors: FakeCollector, clock: FakeClock) -> Sampler:
    return Sampler(list(collectors), interval_s=1.0, clock=clock, wall_clock=lambda: 1.7e9)


def test_gpu_busy_seconds_integrate_the_load_over_time() -> None:
    clock = FakeClock()
    gpu = FakeCollector("gpu", Snapshot(gpu=Gpu(utilization=0.5)))
    sampler = _sampler(gpu, clock=clock)
    sampler.tick()
    assert sampler.latest.counters.gpu_busy_s == 0.0  # first reading: nothing to integrate yet
    for _ in range(10):
        clock.advance(1.0)
        sampler.tick()
    assert sampler.latest.counters.gpu_busy_s == pytest.approx(5.0)


def test_trapezoids_follow_a_changing_power() -> None:
    clock = FakeClock()
    rails = FakeCollector("power", Snapshot(rails=(PowerRail("VDD_IN", power_w=4.0),)))
    sampler = _sampler(rails, clock=clock)
    sampler.tick()
    clock.advance(2.0)
    rails.snapshot = Snapshot(rails=(PowerRail("VDD_IN", power_w=6.0),))
    sampler.tick()
    # (4 W + 6 W) / 2 over 2 s
    assert sampler.latest.counters.energy_j["VDD_IN"] == pytest.approx(10.0)
    assert sampler.latest.counters.board_energy_j == pytest.approx(10.0)


def test_a_vanished_rail_has_no_energy_counter_and_resumes_without_guessing_the_gap() -> None:
    clock = FakeClock()
    rails = FakeCollector("power", Snapshot(rails=(PowerRail("VDD_IN", power_w=5.0),)))
    sampler = _sampler(rails, clock=clock)
    sampler.tick()
    clock.advance(1.0)
    sampler.tick()
    assert sampler.latest.counters.energy_j == {"VDD_IN": pytest.approx(5.0)}
    rails.snapshot = Snapshot()
    clock.advance(1.0)
    sampler.tick()
    assert sampler.latest.counters.energy_j == {}
    assert sampler.latest.counters.board_energy_j is None
    rails.snapshot = Snapshot(rails=(PowerRail("VDD_IN", power_w=5.0),))
    clock.advance(5.0)
    sampler.tick()
    # Back with its old total: the 6 s without a reading add nothing.
    assert sampler.latest.counters.energy_j == {"VDD_IN": pytest.approx(5.0)}
    clock.advance(1.0)
    sampler.tick()
    assert sampler.latest.counters.energy_j == {"VDD_IN": pytest.approx(10.0)}


def test_a_long_gap_between_ticks_is_not_integrated() -> None:
    clock = FakeClock()
    gpu = FakeCollector("gpu", Snapshot(gpu=Gpu(utilization=1.0)))
    sampler = _sampler(gpu, clock=clock)
    sampler.tick()
    clock.advance(3600.0)  # the machine was suspended
    sampler.tick()
    assert sampler.latest.counters.gpu_busy_s == 0.0


def test_cpu_utilization_comes_from_proc_stat_deltas() -> None:
    before = {"user": 10.0, "system": 5.0, "idle": 80.0, "iowait": 5.0}
    after = {"user": 13.0, "system": 6.0, "idle": 85.0, "iowait": 6.0}
    assert cpu_utilization(before, after) == pytest.approx(0.4)
    assert cpu_utilization(None, after) is None
    assert cpu_utilization(after, after) is None


def test_jetson_clocks_is_derived_from_pinned_limits() -> None:
    clock = FakeClock()
    pinned = Snapshot(
        cpus=(CpuCore(0, True, min_freq_hz=2.2e9, max_freq_hz=2.2e9), CpuCore(1, False)),
        gpu=Gpu(min_freq_hz=1.3e9, max_freq_hz=1.3e9),
    )
    collector = FakeCollector("all", pinned)
    sampler = _sampler(collector, clock=clock)
    sampler.tick()
    assert sampler.latest.snapshot.jetson_clocks is True
    collector.snapshot = Snapshot(cpus=pinned.cpus, gpu=Gpu(min_freq_hz=3e8, max_freq_hz=1.3e9))
    sampler.tick()
    assert sampler.latest.snapshot.jetson_clocks is False
    collector.snapshot = Snapshot(cpus=pinned.cpus)  # no GPU limits: unknown, not "off"
    sampler.tick()
    assert sampler.latest.snapshot.jetson_clocks is None


def test_a_failing_collector_is_reported_and_the_others_still_serve() -> None:
    clock = FakeClock()
    good = FakeCollector("gpu", board_snapshot())
    bad = FakeCollector("thermal", raise_error=OSError("boom"))
    sampler = _sampler(good, bad, clock=clock)
    sample = sampler.tick()
    assert sample is not None
    health = {h.name: h for h in sample.health}
    assert health["gpu"].success and not health["thermal"].success
    assert health["thermal"].last_error == "OSError: boom"
    assert health["thermal"].errors_total == 1
    assert sample.snapshot.gpu is not None and sample.snapshot.gpu.utilization == 0.5


def test_soft_read_errors_mark_the_collector_failed_but_keep_its_data() -> None:
    clock = FakeClock()
    partial = FakeCollector("power", board_snapshot(), soft_errors=["permission denied reading /x", "other"])
    sample = _sampler(partial, clock=clock).tick()
    assert sample is not None
    assert not sample.health[0].success
    assert sample.health[0].last_error == "permission denied reading /x (and 1 more)"
    assert sample.snapshot.rails  # what could be read is still there


def _wait_for(predicate, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_a_hung_collector_is_isolated_and_rejoins_when_it_returns() -> None:
    gate = threading.Event()
    hung = FakeCollector("fan", gate=gate)
    good = FakeCollector("gpu", board_snapshot())
    sampler = Sampler([hung, good], interval_s=0.02, timeout_s=0.1)
    sampler.start()
    try:
        assert hung.entered.wait(5.0)
        # Nothing is published while the first tick is stuck; supervision notices the hang...
        assert _wait_for(lambda: (sampler.supervise(), sampler.latest.generation > 3)[1])
        health = {h.name: h for h in sampler.latest.health}
        assert not health["fan"].success
        assert "timed out after 0.1s" in (health["fan"].last_error or "")
        assert health["gpu"].success
        reads_while_hung = hung.reads
        # ...and the other collectors keep being read without it.
        before = good.reads
        assert _wait_for(lambda: good.reads > before + 3)
        assert hung.reads == reads_while_hung
        gate.set()  # the stuck read returns: the collector is sampled again
        assert _wait_for(lambda: {h.name: h.success for h in sampler.latest.health}["fan"])
    finally:
        gate.set()
        sampler.stop()
