"""Faults end to end: a sensor dropping out and coming back, a board dropping off the network and
returning, an exporter restarting. Prometheus must show clean absence (stale series, no points)
for the gaps, and only values the boards really had, never made-up ones."""

from __future__ import annotations

import math
import time
from typing import Callable, Iterator, List, Optional, Tuple

import pytest

from jetson_exporter.readers.thermal import zone_name
from jetson_exporter.simulate.board import SimulatedBoard
from jetson_exporter.simulate.scenarios import dropout, dropout_rail, dropout_zone, scenario
from testkit.e2e import poll
from testkit.simstack import SCRAPE_S, Stack
from testkit.simtruth import gaps, mismatches, points_within

pytestmark = pytest.mark.e2e

TICK_S = 0.5  # readers rediscover vanished sensors every 30 reads: 15 s at this tick
STEP_S = 0.5  # query_range resolution for looking at the gaps
# After a value stops being served, the next scrape sees its absence: one scrape interval plus slack.
NOTICE_S = SCRAPE_S + 0.5
ZONE_GAP = (2.0, 10.0)  # seconds into the dropout scenario
RAIL_GAP = (4.0, 12.0)


@pytest.fixture(scope="module")
def stack(start_stack: Callable[..., Stack]) -> Iterator[Stack]:
    yield start_stack([("orin-nano-jp6", scenario("waves")), ("xavier-nx-jp5", scenario("waves")),
                       ("agx-orin-jp6", scenario("waves"))], tick_s=TICK_S)


def _series(stack: Stack, expr: str, start: float, end: float) -> List[Tuple[float, float]]:
    rows = stack.api.query_range(expr, start, end, STEP_S)
    assert len(rows) <= 1, rows
    return [(float(t), float(v)) for t, v in rows[0]["values"]] if rows else []


def _failed_scrapes(stack: Stack, board: SimulatedBoard) -> int:
    rows = stack.api.query(f'count_over_time(up{{instance="{board.name}"}}[30s]) - '
                           f'sum_over_time(up{{instance="{board.name}"}}[30s])', time.time())
    return int(float(rows[0]["value"][1])) if rows else 0


def _up_for(stack: Stack, board: SimulatedBoard, since: float, scrapes: int) -> bool:
    rows = stack.api.query(f'sum_over_time(up{{instance="{board.name}"}}[{max(int(time.time() - since), 1)}s])',
                           time.time())
    return bool(rows) and float(rows[0]["value"][1]) >= scrapes


def _no_points_between(points: List[Tuple[float, float]], start: float, end: float, what: str) -> List[str]:
    inside = points_within(points, start, end)
    return [f"{what}: {len(inside)} points while it was gone ({start:.1f}..{end:.1f}): {inside[:3]}"] if inside else []


def test_gaps_show_as_absence_and_only_real_values_are_ever_shown(stack: Stack) -> None:
    sensors, unreachable, restarted = stack.fleet.boards
    stack.wait_for_history(5)
    began = time.time()

    # Three faults at once, one per board.
    sensors.set_scenario(dropout(period_s=1000.0, zone_gap=ZONE_GAP, rail_gap=RAIL_GAP))
    unreachable.disconnect()
    restarted.stop_exporter()
    # The link and the exporter stay down until Prometheus has recorded failed scrapes for them.
    poll(lambda: _failed_scrapes(stack, unreachable) >= 3 and _failed_scrapes(stack, restarted) >= 3, 30,
         "failed scrapes of the unreachable and stopped boards", [stack.prometheus])
    unreachable.reconnect()
    restarted.start_exporter()
    back = time.time()
    zone = dropout_zone(sensors.info)
    rail = dropout_rail(sensors.info)
    assert zone is not None and rail is not None
    zone_label = zone_name(zone)

    def recovered() -> bool:
        # The sensors are back in the files, and the readers have rediscovered them.
        zones = stack.api.query(f'jetson_temperature_celsius{{instance="{sensors.name}",zone="{zone_label}"}}',
                                time.time())
        rails = stack.api.query(f'jetson_power_watts{{instance="{sensors.name}",rail="{rail}"}}', time.time())
        return (time.time() - began > RAIL_GAP[1] and bool(zones) and bool(rails)
                and _up_for(stack, unreachable, back, 5) and _up_for(stack, restarted, back, 5))

    poll(recovered, 60, "every board and sensor back", [stack.prometheus])
    start = began - 3
    temps_expr = f'jetson_temperature_celsius{{instance="{sensors.name}",zone="{zone_label}"}}'
    power_expr = f'jetson_power_watts{{instance="{sensors.name}",rail="{rail}"}}'

    def settled() -> Optional[float]:
        # The range queries below evaluate every STEP_S up to `end`: an instant query can already see
        # the scrape that brought a sensor back while the last range step still falls before it.
        # Wait until the ranges hold two points of each sensor after its gap.
        now = time.time()
        history = sensors.truth(start, now)
        (_, z1), = gaps(history, lambda r: f"zone:{zone}" in r.absent) or [(0.0, math.inf)]
        (_, r1), = gaps(history, lambda r: f"rail:{rail}" in r.absent) or [(0.0, math.inf)]
        back_in_range = (len(points_within(_series(stack, temps_expr, start, now), z1, now)) >= 2
                         and len(points_within(_series(stack, power_expr, start, now), r1, now)) >= 2)
        return now if back_in_range else None

    end = poll(settled, 30, "the sensors back in range queries", [stack.prometheus])
    problems: List[str] = []

    # The sensor dropout: no temperature or power while their files were gone; the truth says when.
    history = sensors.truth(start, end)
    zone_gaps = gaps(history, lambda r: f"zone:{zone}" in r.absent)
    rail_gaps = gaps(history, lambda r: f"rail:{rail}" in r.absent)
    assert len(zone_gaps) == 1 and len(rail_gaps) == 1, (zone_gaps, rail_gaps)
    temps = _series(stack, temps_expr, start, end)
    power = _series(stack, power_expr, start, end)
    energy = _series(stack, f'jetson_energy_joules_total{{instance="{sensors.name}",rail="{rail}"}}', start, end)
    (z0, z1), (r0, r1) = zone_gaps[0], rail_gaps[0]
    problems += _no_points_between(temps, z0 + NOTICE_S, z1, f"zone {zone_label}")
    problems += _no_points_between(power, r0 + NOTICE_S, r1, f"rail {rail}")
    problems += _no_points_between(energy, r0 + NOTICE_S, r1, f"energy of {rail}")
    assert points_within(temps, z1, end) and points_within(power, r1, end), "the sensors never came back"
    problems += mismatches(sensors, temps, lambda r: r.temps_c.get(zone), SCRAPE_S + 0.3)
    problems += mismatches(sensors, power, lambda r: r.power_w.get(rail), SCRAPE_S + 0.3, abs_=1e-6)
    # The rail's energy neither restarts nor jumps across the gap: the exporter does not integrate
    # what it did not see, so it never shows more than the truth (which counts every tick present).
    values = [v for _, v in energy]
    assert values == sorted(values), "the energy counter went backwards"
    for t, v in energy:
        served = sensors.served_near(t, SCRAPE_S + 0.3)
        most = max((r.energy_j.get(rail, 0.0) for r in served), default=0.0)
        if v > most + 1e-6:
            problems.append(f"energy of {rail} at {t:.1f}: {v} is more than the board ever had ({most})")

    # The unreachable board and the restarted exporter: no points while their ports were closed.
    for board, what in ((unreachable, "unreachable board"), (restarted, "restarted exporter")):
        down = [(t, v) for t, v in _series(stack, f'up{{instance="{board.name}"}}', start, end) if v == 0]
        assert down, f"Prometheus never saw the {what} down"
        first_down, last_down = down[0][0], down[-1][0]
        for metric in ("jetson_gpu_utilization_ratio", "jetson_gpu_busy_seconds_total", "jetson_board_power_watts"):
            points = _series(stack, f'{metric}{{instance="{board.name}"}}', start, end)
            problems += _no_points_between(points, first_down, last_down, f"{metric} of the {what}")
            assert points_within(points, last_down + SCRAPE_S, end), f"{metric} of the {what} never came back"
        gpu = _series(stack, f'jetson_gpu_utilization_ratio{{instance="{board.name}"}}', start, end)
        problems += mismatches(board, gpu, lambda r: r.gpu_load, SCRAPE_S + 0.3)
        busy = _series(stack, f'jetson_gpu_busy_seconds_total{{instance="{board.name}"}}', start, end)
        problems += mismatches(board, busy, lambda r: r.gpu_busy_s, SCRAPE_S + 0.3, rel=1e-6)

    # Only the restarted exporter's counters start again; rate() copes and never goes negative.
    def resets(board: SimulatedBoard) -> int:
        rows = stack.api.query(f'resets(jetson_gpu_busy_seconds_total{{instance="{board.name}"}}'
                               f'[{int(end - start) + 1}s])', end)
        return int(float(rows[0]["value"][1]))

    assert (resets(unreachable), resets(restarted)) == (0, 1)
    assert restarted.latest.epoch == 2 and unreachable.latest.epoch == 1
    rates = _series(stack, f'rate(jetson_gpu_busy_seconds_total{{instance="{restarted.name}"}}[5s])', start, end)
    assert rates and min(v for _, v in rates) >= 0
    assert problems == []
