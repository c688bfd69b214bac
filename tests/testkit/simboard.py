"""A simulated board driven by a clock the test advances, read through its real exporter."""

from __future__ import annotations

from typing import Dict, Optional

from jetson_exporter.simulate.board import SimulatedBoard, Truth
from testkit.core import FakeClock, parse_exposition


class Driven:
    """A started board whose steps the test times, and what its exporter serves after each."""

    def __init__(self, board: SimulatedBoard, clock: FakeClock) -> None:
        self.board = board
        self.clock = clock

    def step(self, seconds: float = 1.0) -> Truth:
        self.clock.advance(seconds)
        return self.board.step()

    def scrape(self) -> Dict[str, float]:
        """The exposition the board's exporter serves now, as `name{labels}` -> value."""
        exporter = self.board.exporter
        assert exporter is not None
        return parse_exposition(exporter.exposition_text().decode())

    def value(self, key: str) -> Optional[float]:
        return self.scrape().get(key)
