"""Simulated boards driven by a clock the test advances, read through their real exporter."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, List, Union

import pytest

from jetson_exporter.simulate.board import SimulatedBoard
from jetson_exporter.simulate.models import MODELS
from jetson_exporter.simulate.scenarios import Scenario, scenario
from testkit.core import FakeClock
from testkit.simboard import Driven


@pytest.fixture
def driven(tmp_path: Path) -> Iterator[Callable[..., Driven]]:
    """`driven(model, scenario, tick_s=1.0)`: a started board on a fake clock; stopped after the test."""
    boards: List[SimulatedBoard] = []

    def make(model: str = "agx-orin-jp6", situation: Union[str, Scenario] = "waves", tick_s: float = 1.0,
             seed: int = 1) -> Driven:
        clock = FakeClock(1.75e9)
        s = scenario(situation) if isinstance(situation, str) else situation
        board = SimulatedBoard(f"sim-{model}-{len(boards):03d}", MODELS[model], str(tmp_path / f"b{len(boards)}"), s,
                               seed=seed, tick_s=tick_s, clock=clock)
        boards.append(board)
        board.start()
        return Driven(board, clock)

    yield make
    for board in boards:
        board.stop()
