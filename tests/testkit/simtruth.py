"""Comparing what a query server answers with a simulated board's ground truth."""

from __future__ import annotations

import math
import re
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from jetson_exporter.simulate.board import SimulatedBoard, Truth
from jetson_exporter.simulate.models import BoardSpec

Points = Sequence[Tuple[float, float]]


def mismatches(board: SimulatedBoard, points: Points, value: Callable[[Truth], Optional[float]],
               before_s: float, after_s: float = 0.3, rel: float = 1e-9, abs_: float = 1e-9) -> List[str]:
    """Points whose value is not what the board served around their time.

    A sample scraped at `t` holds the record the exporter was serving then; an evaluation at
    `t` (query_range) holds the last sample scraped up to one scrape interval before it. So the
    value must equal the truth of a record served between `t - before_s` and `t + after_s`
    (the slack covers the request's latency and the order of two clocks read on one machine).
    """
    bad = []
    for t, v in points:
        candidates = [c for c in (value(r) for r in board.served_near(t, before_s, after_s)) if c is not None]
        if not any(math.isclose(v, c, rel_tol=rel, abs_tol=abs_) for c in candidates):
            bad.append(f"{board.name} at {t:.3f}: {v!r} is none of the served values {candidates[:4]!r}")
    return bad


def points_within(points: Points, start: float, end: float) -> List[Tuple[float, float]]:
    return [(t, v) for t, v in points if start <= t <= end]


def l4t(spec: BoardSpec) -> str:
    """`# R36 (release), REVISION: 4.4, ...` -> `36.4.4`."""
    m = re.match(r"# R(\d+) \(release\), REVISION: (\d+)\.(\d+)", spec.release)
    assert m, spec.release
    return ".".join(m.groups())


def soc(spec: BoardSpec) -> str:
    return next(re.search(r"tegra\d+", c).group(0) for c in spec.compatible if re.search(r"tegra\d+", c))  # type: ignore[union-attr]


def gaps(truth: Iterable[Truth], absent: Callable[[Truth], bool]) -> List[Tuple[float, float]]:
    """(first time absent, first time present again) for each stretch of records where `absent` holds."""
    found: List[Tuple[float, float]] = []
    begin: Optional[float] = None
    for record in truth:
        if absent(record) and begin is None:
            begin = record.time
        elif not absent(record) and begin is not None:
            found.append((begin, record.time))
            begin = None
    if begin is not None:
        found.append((begin, math.inf))
    return found
