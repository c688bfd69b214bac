"""Many simulated boards in one process, stepped by one scheduler thread.

Each board has its own device tree, exporter and HTTP port (consecutive ports from the first),
but no sampling thread of its own: the fleet's scheduler steps every board once per tick, with
the boards' steps spread evenly over the tick so that the work is smooth rather than bursty.
Stepping a board runs its physics, rewrites its changed files and runs one sampler tick over
them, so the whole fleet costs one thread plus the HTTP threads Prometheus keeps busy.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from jetson_exporter.simulate.board import SimulatedBoard
from jetson_exporter.simulate.models import MODELS
from jetson_exporter.simulate.scenarios import scenario

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "sim"


def board_name(prefix: str, model: str, index: int) -> str:
    """`sim-agx-orin-jp6-007`: distinct per board, and says what the board is."""
    return f"{prefix}-{model}-{index:03d}"


class Fleet:
    """Simulated boards sharing one scheduler thread."""

    def __init__(self, boards: Sequence[SimulatedBoard], tick_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        names = [b.name for b in boards]
        if len(set(names)) != len(names):
            raise ValueError("board names must be distinct")
        self.boards = list(boards)
        self.tick_s = tick_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.steps = 0
        self.step_errors = 0
        self.late_steps = 0  # steps taken more than a tick after they were due

    @classmethod
    def create(
        cls,
        root: str,
        nodes: int,
        models: Sequence[str] = (),
        scenarios: Sequence[str] = ("waves",),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tick_s: Optional[float] = None,
        seed: int = 1,
        prefix: str = DEFAULT_PREFIX,
        history: Optional[int] = None,
        clock: Callable[[], float] = time.time,
    ) -> Fleet:
        """`nodes` boards taking models and scenarios in turn; ports consecutive from `port` (0: any).

        Every model is used when none is named. The tick defaults to 1 s for one board and 5 s
        for a fleet (a scrape every 15 s or more sees at most every third tick anyway).
        """
        if nodes < 1:
            raise ValueError("a fleet needs at least one board")
        names = list(models) or list(MODELS)
        unknown = [m for m in names if m not in MODELS]
        if unknown:
            raise KeyError(f"unknown model {unknown[0]!r} (known: {', '.join(MODELS)})")
        chosen = [scenario(s) for s in scenarios] or [scenario("waves")]
        tick = tick_s if tick_s is not None else (1.0 if nodes == 1 else 5.0)
        boards = []
        for i in range(nodes):
            model = MODELS[names[i % len(names)]]
            name = board_name(prefix, model.spec.name, i)
            boards.append(SimulatedBoard(
                name, model, os.path.join(root, name), chosen[i % len(chosen)],
                seed=seed * 100003 + i, tick_s=tick, host=host, port=port + i if port else 0,
                history=history, clock=clock,
            ))
        return cls(boards, tick, clock)

    def board(self, name: str) -> SimulatedBoard:
        for b in self.boards:
            if b.name == name:
                return b
        raise KeyError(name)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, schedule: bool = True) -> None:
        """Lay out and serve every board; with `schedule`, step them from a background thread."""
        started: List[SimulatedBoard] = []
        try:
            for b in self.boards:
                b.start()
                started.append(b)
        except Exception:
            _stop_all(started)
            raise
        if schedule:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the scheduler, then every board (in parallel: each waits for its server loop)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None
        _stop_all(self.boards)

    def step(self, now: Optional[float] = None) -> None:
        """Step every board once (for callers that drive the time themselves)."""
        for b in self.boards:
            b.step(self.clock() if now is None else now)

    def _run(self) -> None:
        n = len(self.boards)
        start = self.clock()
        due: List[Tuple[float, int]] = [(start + self.tick_s * (i + 1) / n, i) for i in range(n)]
        heapq.heapify(due)
        while not self._stop.is_set():
            at, i = due[0]
            delay = at - self.clock()
            if delay > 0:
                self._stop.wait(min(delay, 1.0))
                continue
            heapq.heappop(due)
            now = self.clock()
            if now - at > self.tick_s:
                self.late_steps += 1
            try:
                self.boards[i].step(now)
                self.steps += 1
            except Exception:
                self.step_errors += 1
                log.exception("stepping %s failed", self.boards[i].name)
            following = at + self.tick_s
            if following < now:  # fell behind by more than a tick: keep the phase, skip the missed steps
                following += self.tick_s * ((now - following) // self.tick_s + 1)
            heapq.heappush(due, (following, i))

    # -- for Prometheus -----------------------------------------------------------------------

    def targets(self) -> List[Dict[str, object]]:
        """Prometheus file_sd target groups: one per board, `instance` = the board's name (as the
        ServiceMonitor's relabeling gives it for real nodes), `node`, and `sim_model`/`sim_scenario`
        (not `model`: that label belongs to `jetson_info`)."""
        return [
            {"targets": [b.address],
             "labels": {"instance": b.name, "node": b.name, "sim_model": b.model.spec.name,
                        "sim_scenario": b.scenario.name}}
            for b in self.boards
        ]

    def write_targets(self, path: str) -> None:
        """Write `targets()` as a file_sd JSON file (atomically: Prometheus may be reading it)."""
        tmp = f"{path}.tmp"
        with open(tmp, "w") as fh:
            json.dump(self.targets(), fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)


def _stop_all(boards: Sequence[SimulatedBoard]) -> None:
    if not boards:
        return
    with ThreadPoolExecutor(max_workers=min(32, len(boards))) as pool:
        list(pool.map(lambda b: b.stop(), boards))
