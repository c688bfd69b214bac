"""The fleet table's data: the PromQL it needs and the rows it makes of the answers (pure).

Every column is ONE query across the whole fleet, grouped `by (node, instance)`, so the number of
queries per refresh does not depend on the number of boards. A row is identified by its `node`
label where the series have one (the ServiceMonitor and the push agent set it) and by `instance`
otherwise (a plain Prometheus scrape config). A value the server did not return is None, shown as
an en dash: never zero.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from jetson_exporter.view.promapi import Sample, Series

BY = "by (node, instance)"

# One label matcher: name, operator, double-quoted value (PromQL escapes allowed).
_MATCHER = r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
_SELECTOR = re.compile(rf"^(?:{_MATCHER}(?:,{_MATCHER})*,?\s*)?$")
_DURATION = re.compile(r"^(?:\d+[ywdh])*(?:\d+m)?(?:\d+s)?(?:\d+ms)?$")
_DURATION_UNITS = {"y": 31536000.0, "w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

UP, DOWN, STALE = "up", "down", "stale"


def check_selector(text: str) -> str:
    """Extra label matchers for every selector, e.g. `job="jetson-exporter",cluster=~"eu.*"`."""
    if not _SELECTOR.match(text):
        raise ValueError(f'invalid selector {text!r}: expected label matchers such as job="jetson-exporter"')
    return text.strip().rstrip(",").strip()


def duration_seconds(text: str) -> float:
    """A Prometheus duration (`5m`, `1h30m`, `90s`) in seconds; ValueError if it is not one."""
    if not text or not _DURATION.match(text):
        raise ValueError(f"invalid duration {text!r}: use a Prometheus duration such as 30s, 5m or 1h")
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in re.findall(r"(\d+)(ms|[ywdhms])", text))
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be positive")
    return seconds


@dataclass(frozen=True)
class Query:
    key: str
    expr: str


@dataclass(frozen=True)
class QuerySet:
    """The instant queries of one refresh and the range queries behind the sparklines."""

    instant: Tuple[Query, ...]
    trends: Tuple[Query, ...]

    @property
    def count(self) -> int:
        return len(self.instant) + len(self.trends)


def build_queries(selector: str = "", rate_window: str = "5m", lookback: str = "15m") -> QuerySet:
    """One expression per column across the fleet.

    `rate_window` should hold at least four scrapes (5m for KubeSphere's 1m interval); `lookback`
    is how long a node that stopped reporting stays in the table, marked stale.
    """
    selector = check_selector(selector) if selector else ""
    duration_seconds(rate_window)
    duration_seconds(lookback)

    def sel(metric: str, *matchers: str) -> str:
        inner = ", ".join([*matchers, selector] if selector else matchers)
        return f"{metric}{{{inner}}}" if inner else metric

    info = f"last_over_time({sel('jetson_info')}[{lookback}])"
    # `up` has no jetson_ name: keep the targets that served jetson_info lately, unless the user
    # named the job (then a target that never came up shows as down too).
    if re.search(r"(^|,)\s*job\s*(=|=~)", selector):
        up = f"max {BY} ({sel('up')})"
    else:
        up = f"max {BY} ({sel('up')} and on (job, instance) {info})"
    gpu = (f"sum {BY} (rate({sel('jetson_gpu_busy_seconds_total')}[{rate_window}]))"
           f" or max {BY} ({sel('jetson_gpu_utilization_ratio')})")
    cpu_busy = sel("jetson_cpu_seconds_total", 'mode!~"idle|iowait"')
    cpu = (f"sum {BY} (rate({cpu_busy}[{rate_window}]))"
           f" / sum {BY} (rate({sel('jetson_cpu_seconds_total')}[{rate_window}]))"
           f" or avg {BY} ({sel('jetson_cpu_utilization_ratio')})")
    hottest = f"max {BY} ({sel('jetson_temperature_celsius')})"
    power = (f"sum {BY} (rate({sel('jetson_board_energy_joules_total')}[{rate_window}]))"
             f" or max {BY} ({sel('jetson_board_power_watts')})")
    gpu_zone = sel("jetson_temperature_celsius", 'zone="gpu"')
    instant = (
        Query("info", f"max by (node, instance, model, jetpack) ({info})"),
        Query("up", up),
        Query("age", f"time() - max {BY} ({sel('jetson_exporter_last_sample_timestamp_seconds')})"),
        Query("mode", f"max by (node, instance, name) ({sel('jetson_power_mode_info')})"),
        Query("gpu", gpu),
        Query("gpu_temp", f"max {BY} ({gpu_zone})"),
        Query("hottest", hottest),
        Query("cpu", cpu),
        Query("ram_used", f"max {BY} ({sel('jetson_memory_used_bytes')})"),
        Query("ram_total", f"max {BY} ({sel('jetson_memory_total_bytes')})"),
        Query("power", power),
        Query("fan", f"max {BY} ({sel('jetson_fan_speed_ratio')})"),
    )
    trends = (Query("gpu", gpu), Query("hottest", hottest), Query("cpu", cpu), Query("power", power))
    return QuerySet(instant, trends)


def node_key(labels: Mapping[str, str]) -> str:
    """The row a series belongs to: its node, else its instance."""
    return labels.get("node") or labels.get("instance") or "(no node label)"


@dataclass
class Row:
    """One board. Values are in SI units; None is absent (never zero)."""

    node: str
    instance: Optional[str] = None
    model: Optional[str] = None
    jetpack: Optional[str] = None
    power_mode: Optional[str] = None
    state: str = STALE
    sample_age_s: Optional[float] = None
    gpu_ratio: Optional[float] = None
    gpu_temp_c: Optional[float] = None
    hottest_c: Optional[float] = None
    cpu_ratio: Optional[float] = None
    ram_used_bytes: Optional[float] = None
    ram_total_bytes: Optional[float] = None
    power_w: Optional[float] = None
    fan_ratio: Optional[float] = None
    up: Optional[float] = None
    trends: Dict[str, Tuple[Optional[float], ...]] = field(default_factory=dict)

    @property
    def ram_ratio(self) -> Optional[float]:
        if self.ram_used_bytes is None or not self.ram_total_bytes:
            return None
        return self.ram_used_bytes / self.ram_total_bytes


# Instant query key -> Row attribute for the plain numeric columns.
_NUMERIC = {"gpu": "gpu_ratio", "gpu_temp": "gpu_temp_c", "hottest": "hottest_c", "cpu": "cpu_ratio",
            "ram_used": "ram_used_bytes", "ram_total": "ram_total_bytes", "power": "power_w", "fan": "fan_ratio",
            "age": "sample_age_s", "up": "up"}
_CURRENT = ("gpu", "gpu_temp", "hottest", "cpu", "ram_used", "ram_total", "power", "fan", "mode")


@dataclass(frozen=True)
class TrendGrid:
    """The times the sparkline points stand for: start, start + step, ... (`points` of them)."""

    start_s: float
    step_s: float
    points: int

    def index(self, time_s: float) -> Optional[int]:
        i = round((time_s - self.start_s) / self.step_s)
        return i if 0 <= i < self.points else None


def build_rows(instant: Mapping[str, Sequence[Sample]], trends: Mapping[str, Sequence[Series]],
               grid: Optional[TrendGrid] = None, stale_after_s: float = 180.0) -> List[Row]:
    """Rows from the answers of one refresh (keys as in `build_queries`), in no particular order."""
    rows: Dict[str, Row] = {}

    def row(labels: Mapping[str, str]) -> Row:
        key = node_key(labels)
        found = rows.get(key)
        if found is None:
            found = rows[key] = Row(node=key)
        if found.instance is None and labels.get("instance"):
            found.instance = labels["instance"]
        return found

    current: Dict[str, bool] = {}
    for sample in instant.get("info", ()):
        r = row(sample.labels)
        r.model = r.model or sample.labels.get("model") or None
        r.jetpack = r.jetpack or sample.labels.get("jetpack") or None
    for sample in instant.get("mode", ()):
        r = row(sample.labels)
        r.power_mode = sample.labels.get("name") or r.power_mode
        current[r.node] = True
    for key, attribute in _NUMERIC.items():
        for sample in instant.get(key, ()):
            r = row(sample.labels)
            if sample.value is not None:
                setattr(r, attribute, sample.value)
                if key in _CURRENT:
                    current[r.node] = True
    for r in rows.values():
        r.state = _state(r, current.get(r.node, False), stale_after_s)
    if grid is not None:
        for key, series_list in trends.items():
            for series in series_list:
                points: List[Optional[float]] = [None] * grid.points
                for time_s, value in series.points:
                    i = grid.index(time_s)
                    if i is not None:
                        points[i] = value
                owner = rows.get(node_key(series.labels))
                if owner is not None:  # trends alone never add a node
                    owner.trends[key] = tuple(points)
    return list(rows.values())


def _state(r: Row, has_current_data: bool, stale_after_s: float) -> str:
    if r.up is not None and r.up < 1:
        return DOWN  # Prometheus cannot scrape it
    if r.sample_age_s is not None and r.sample_age_s > stale_after_s:
        return STALE  # scraped, but the exporter's readings stopped
    if r.up is not None or r.sample_age_s is not None or has_current_data:
        return UP
    return STALE  # seen within the lookback, nothing now


# -- sorting and filtering -------------------------------------------------------------------------

def _natural(text: str) -> Tuple[object, ...]:
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text))


SORT_KEYS: Dict[str, Callable[[Row], object]] = {
    "node": lambda r: _natural(r.node),
    "model": lambda r: r.model.lower() if r.model else None,
    "mode": lambda r: r.power_mode.lower() if r.power_mode else None,
    "state": lambda r: {DOWN: 0, STALE: 1, UP: 2}.get(r.state, 3),
    "gpu": lambda r: r.gpu_ratio,
    "gpu-temp": lambda r: r.gpu_temp_c,
    "temp": lambda r: r.hottest_c,
    "cpu": lambda r: r.cpu_ratio,
    "ram": lambda r: r.ram_ratio,
    "power": lambda r: r.power_w,
    "fan": lambda r: r.fan_ratio,
}


def sort_rows(rows: Sequence[Row], key: str = "node", reverse: bool = False) -> List[Row]:
    """Sorted by `key` (a SORT_KEYS name); rows without the value go last either way, then by node."""
    value_of = SORT_KEYS[key]
    by_node = sorted(rows, key=lambda r: _natural(r.node))
    present = [r for r in by_node if value_of(r) is not None]
    absent = [r for r in by_node if value_of(r) is None]
    present.sort(key=value_of, reverse=reverse)  # type: ignore[arg-type]  # one key's values compare
    return present + absent


def filter_rows(rows: Sequence[Row], pattern: Optional[re.Pattern[str]]) -> List[Row]:
    return [r for r in rows if pattern is None or pattern.search(r.node)]


def row_document(r: Row) -> Dict[str, object]:
    """A row for `--output json`: SI units, null where absent."""
    def clean(value: Optional[float]) -> Optional[float]:
        return value if value is None or math.isfinite(value) else None

    return {
        "node": r.node, "instance": r.instance, "model": r.model, "jetpack": r.jetpack,
        "power_mode": r.power_mode, "state": r.state,
        "gpu_utilization_ratio": clean(r.gpu_ratio), "gpu_temperature_celsius": clean(r.gpu_temp_c),
        "hottest_temperature_celsius": clean(r.hottest_c), "cpu_utilization_ratio": clean(r.cpu_ratio),
        "memory_used_bytes": clean(r.ram_used_bytes), "memory_total_bytes": clean(r.ram_total_bytes),
        "board_power_watts": clean(r.power_w), "fan_speed_ratio": clean(r.fan_ratio),
        "sample_age_seconds": clean(r.sample_age_s),
        "trends": {k: list(v) for k, v in sorted(r.trends.items())},
    }
