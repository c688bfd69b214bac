"""Pull mode end to end: simulated boards -> the exporter -> a real Prometheus -> the queries
KubeSphere's console made (`/api/v1/query?query=..&time=<float>`, `/api/v1/query_range?..&step=14`),
compared with what the boards measured; and the project's alert rules firing for real."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

import pytest

from jetson_exporter.deploy import rules
from jetson_exporter.readers.thermal import is_placeholder, zone_name
from jetson_exporter.simulate.board import SimulatedBoard, Truth
from testkit.e2e import poll
from testkit.simstack import SCRAPE_S, Stack, boards_of
from testkit.simtruth import l4t, mismatches, soc

pytestmark = pytest.mark.e2e

CONSOLE_STEP = 14  # the modified console's query_range step
WINDOW_S = 28
RAW_SLACK_S = 0.3  # a sample scraped at t holds what was served within this of t
NEAR_THROTTLING = "JetsonTemperatureNearThrottling"
FAN_STALLED = "JetsonFanStalled"


@pytest.fixture(scope="module")
def stack(start_stack: Callable[..., Stack]) -> Iterator[Stack]:
    yield start_stack(
        boards_of(("agx-orin-jp6", "waves"), ("xavier-nx-jp5", "fan-failure"), ("orin-nano-jp6", "overheating"),
                  ("agx-xavier-jp5", "idle")),
        tick_s=1.0,
        # The shipped rules, with `for` shortened so that a test need not wait minutes.
        rules={"groups": rules.groups(for_override="3s")},
    )


def _one(series: Dict[Tuple[Tuple[str, str], ...], List[Tuple[float, float]]]) -> List[Tuple[float, float]]:
    assert len(series) == 1, list(series)
    return next(iter(series.values()))


def _by(series: Dict[Tuple[Tuple[str, str], ...], List[Tuple[float, float]]], label: str
        ) -> Dict[str, List[Tuple[float, float]]]:
    return {dict(key)[label]: points for key, points in series.items()}


def _check_board(stack: Stack, board: SimulatedBoard, start: float, end: float) -> List[str]:
    api = stack.api
    sel = f'instance="{board.name}"'
    problems: List[str] = []

    def raw(metric: str) -> Dict[Tuple[Tuple[str, str], ...], List[Tuple[float, float]]]:
        return api.raw(f"{metric}{{{sel}}}", start, end)

    def same(points: List[Tuple[float, float]], value: Callable[[Truth], Optional[float]],
             before_s: float = RAW_SLACK_S, rel: float = 1e-9, abs_: float = 1e-9) -> None:
        if before_s == RAW_SLACK_S and len(points) < WINDOW_S - 3:  # one sample per scrape
            problems.append(f"{board.name}: only {len(points)} samples in {WINDOW_S}s")
        problems.extend(mismatches(board, points, value, before_s, rel=rel, abs_=abs_))

    # Board identity, as the console's `gpu_info_board_info` query: an instant query at a float time.
    spec = board.model.spec.board
    info = api.query(f"jetson_info{{{sel}}}", end)
    assert len(info) == 1, info
    assert {k: info[0]["metric"][k] for k in ("model", "soc", "l4t", "node")} == {
        "model": spec.model, "soc": soc(spec), "l4t": l4t(spec), "node": board.name}

    # GPU utilization: every stored sample, and the console's query_range with step=14.
    gpu = _one(raw("jetson_gpu_utilization_ratio"))
    same(gpu, lambda r: r.gpu_load)
    ranged = api.query_range(f"jetson_gpu_utilization_ratio{{{sel}}}", start, end, CONSOLE_STEP)
    assert len(ranged) == 1
    console = [(float(t), float(v)) for t, v in ranged[0]["values"]]
    assert len(console) >= WINDOW_S // CONSOLE_STEP  # float times: the last step may fall a millisecond short
    same(console, lambda r: r.gpu_load, before_s=SCRAPE_S + RAW_SLACK_S)

    # The busy counter: exactly the integral of the load, and its rate is the load's average.
    busy = _one(raw("jetson_gpu_busy_seconds_total"))
    same(busy, lambda r: r.gpu_busy_s)
    window = 25
    rate = api.query(f"rate(jetson_gpu_busy_seconds_total{{{sel}}}[{window}s])", end)
    first, last = (board.served_near(t, RAW_SLACK_S)[-1] for t, _ in
                   (next(p for p in busy if p[0] > end - window), busy[-1]))
    assert first.gpu_busy_s is not None and last.gpu_busy_s is not None
    average = (last.gpu_busy_s - first.gpu_busy_s) / (last.time - first.time)
    # rate() divides by the scrape times' span, the truth by the ticks' span: they differ by at
    # most one tick out of the window.
    assert float(rate[0]["value"][1]) == pytest.approx(average, rel=1.2 * board.tick_s / (window - 2), abs=1e-3)

    # Per-zone temperatures: every zone that measures, none that doesn't.
    zone_types = {zone_name(z.type): z.type for z in board.model.spec.thermal}
    temps = _by(raw("jetson_temperature_celsius"), "zone")
    measuring = {zone_name(z) for z in board.latest.temps_c if not is_placeholder(z)}
    assert set(temps) == measuring, (board.name, sorted(temps), sorted(measuring))
    for zone, points in temps.items():
        same(points, lambda r, z=zone_types[zone]: r.temps_c.get(z))

    # Per-rail power and energy, and the module's input.
    power = _by(raw("jetson_power_watts"), "rail")
    energy = _by(raw("jetson_energy_joules_total"), "rail")
    assert set(power) == set(energy) == set(board.latest.power_w)
    for rail in power:
        same(power[rail], lambda r, x=rail: r.power_w.get(x), abs_=1e-6)
        same(energy[rail], lambda r, x=rail: r.energy_j.get(x), rel=1e-6, abs_=1e-6)
    same(_one(raw("jetson_board_power_watts")), lambda r: r.board_power_w, abs_=1e-6)
    same(_one(raw("jetson_board_energy_joules_total")), lambda r: r.board_energy_j, rel=1e-6, abs_=1e-6)

    # CPU load per core (from /proc/stat deltas) and the fan.
    for cpu, points in _by(raw("jetson_cpu_utilization_ratio"), "cpu").items():
        same(points, lambda r, c=int(cpu): r.cpu_util.get(c))
    for fan, points in _by(raw("jetson_fan_rpm"), "fan").items():
        same(points, lambda r, f=fan: r.fans[f][1] if f in r.fans else None)
    for fan, points in _by(raw("jetson_fan_speed_ratio"), "fan").items():
        same(points, lambda r, f=fan: r.fans[f][0] if f in r.fans else None)
    return problems


def test_the_consoles_queries_return_what_each_board_measured(stack: Stack) -> None:
    stack.wait_for_history(WINDOW_S + 2)
    end = round(time.time() - 1.0, 3)  # float times, as the console sent them (to the millisecond)
    start = round(end - WINDOW_S, 3)
    problems = [p for board in stack.fleet.boards for p in _check_board(stack, board, start, end)]
    assert problems == []


def _alerts(stack: Stack) -> Dict[str, Dict[str, Set[str]]]:
    """instance -> state -> alert names."""
    found: Dict[str, Dict[str, Set[str]]] = defaultdict(lambda: defaultdict(set))
    for alert in stack.api.alerts():
        found[alert["labels"]["instance"]][alert["state"]].add(alert["labels"]["alertname"])
    return found


def test_alerts_fire_when_overheating_and_when_the_fan_fails_and_never_when_idle(stack: Stack) -> None:
    hot, stalled = stack.board("overheating"), stack.board("fan-failure")
    quiet = [stack.board("idle"), stack.board("waves")]

    def firing() -> Optional[Dict[str, Dict[str, Set[str]]]]:
        alerts = _alerts(stack)
        ok = NEAR_THROTTLING in alerts[hot.name]["firing"] and FAN_STALLED in alerts[stalled.name]["firing"]
        return alerts if ok else None

    alerts = poll(firing, 120, "the overheating and fan-failure alerts firing", [stack.prometheus])
    assert {name for names in alerts[hot.name].values() for name in names} == {NEAR_THROTTLING}
    assert {name for names in alerts[stalled.name].values() for name in names} == {FAN_STALLED}

    # The conditions are true on the boards, not just in the rules' eyes.
    passive = min(t for z in hot.model.spec.thermal for kind, t in z.trips if kind == "passive")
    assert max(hot.latest.temps_c.values()) >= passive - rules.THROTTLE_MARGIN_C
    assert all(math.isclose(rpm, 0.0) and ratio > rules.FAN_MIN_COMMANDED_RATIO
               for ratio, rpm in stalled.latest.fans.values())

    # The idle and busy-but-healthy boards never had an alert, not even pending, the whole run.
    history = stack.api.query_range(
        'ALERTS{instance=~"' + "|".join(b.name for b in quiet) + '"}', stack.started, time.time(), 1)
    assert history == []
    assert not any(alerts[b.name] for b in quiet)
