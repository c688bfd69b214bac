"""Many boards in one process: distinct names and models, consecutive ports, file_sd targets, one
scheduler thread stepping them all."""

from __future__ import annotations

import json
import time
from pathlib import Path

from jetson_exporter.simulate.fleet import Fleet
from jetson_exporter.simulate.models import MODELS
from testkit.e2e import poll


def test_a_fleet_takes_models_and_scenarios_in_turn_on_consecutive_ports(tmp_path: Path) -> None:
    fleet = Fleet.create(str(tmp_path), 9, scenarios=["waves", "idle"], port=31000)
    assert [b.name for b in fleet.boards][:2] == ["sim-nano-jp4-000", "sim-nano-2gb-jp4-001"]
    assert len({b.name for b in fleet.boards}) == 9
    assert {b.model.spec.name for b in fleet.boards} == set(MODELS)
    assert [b.port for b in fleet.boards] == list(range(31000, 31009))
    assert [b.scenario.name for b in fleet.boards][:3] == ["waves", "idle", "waves"]
    assert fleet.tick_s == 5.0  # a fleet reads its boards every 5 s unless told otherwise
    assert Fleet.create(str(tmp_path), 1).tick_s == 1.0


def test_the_targets_file_names_every_board_for_prometheus(tmp_path: Path) -> None:
    fleet = Fleet.create(str(tmp_path), 3, ["agx-orin-jp6", "thor-jp7"], ["fan-failure"], port=32000)
    fleet.write_targets(str(tmp_path / "targets.json"))
    groups = json.loads((tmp_path / "targets.json").read_text())
    assert groups[1] == {"targets": ["127.0.0.1:32001"], "labels": {
        "instance": "sim-thor-jp7-001", "node": "sim-thor-jp7-001", "sim_model": "thor-jp7",
        "sim_scenario": "fan-failure"}}
    assert [g["labels"]["sim_model"] for g in groups] == ["agx-orin-jp6", "thor-jp7", "agx-orin-jp6"]


def test_one_scheduler_thread_steps_every_board_spread_over_the_tick(tmp_path: Path) -> None:
    fleet = Fleet.create(str(tmp_path), 4, ["orin-nano-jp6"], tick_s=0.2)
    fleet.start()
    try:
        poll(lambda: all(len(b.truth()) >= 6 for b in fleet.boards), 30, "six readings of every board")
    finally:
        fleet.stop()
    assert fleet.step_errors == 0
    # Each board every tick, the boards a quarter of a tick apart from one another.
    for board in fleet.boards:
        times = [t.time for t in board.truth()][1:]
        assert all(0.1 < b - a < 0.4 for a, b in zip(times, times[1:])), times
    offsets = sorted(b.truth()[2].time % 0.2 for b in fleet.boards)
    assert max(b - a for a, b in zip(offsets, offsets[1:])) < 0.15
    assert not any(b.online for b in fleet.boards)
    assert time.time() - fleet.boards[0].latest.time < 10
