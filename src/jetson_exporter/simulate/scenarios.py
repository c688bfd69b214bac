"""Named situations a simulated board can be put in: what work it gets and what goes wrong.

A scenario turns the time since it began into a `Drive` (work asked of the GPU and CPU, the air
around the board, the state of its fan, sensors gone missing). The physics does the rest, so a
scenario never sets a temperature or a power figure itself: an overheating board is one whose
heat cannot get out, and it is the model that makes its zones cross the trip point.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Set, Tuple

from jetson_exporter.simulate.models import Model
from jetson_exporter.simulate.physics import Drive, input_rails, zone_kind

_TAU = 2 * math.pi


@dataclass(frozen=True)
class BoardInfo:
    """What a scenario may know about the board it drives."""

    model: str
    phase: float  # 0-1, different per board so that a fleet's waves are not in step
    zones: Tuple[str, ...]  # types of the zones that measure (not switched off, not constant)
    rails: Tuple[str, ...]  # connected rail labels
    input_rails: Tuple[str, ...]  # the rails whose sum is the module's input
    fans: Tuple[str, ...]

    @classmethod
    def of(cls, model: Model, phase: float) -> BoardInfo:
        spec, state = model.spec, model.state
        zones = tuple(z.type for z in spec.thermal
                      if state.temps_c.get(z.type) is not None and zone_kind(z.type) != "constant")
        rails = tuple(label for ina in spec.power for label in ina.channels if label != "NC")
        return cls(spec.name, phase, zones, rails, input_rails(spec), tuple(f.name for f in spec.fans))


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    drive: Callable[[float, BoardInfo], Drive]  # seconds since the scenario began -> the situation
    heatsink_rise_c: Optional[float] = None  # the board starts this much above ambient (already warm)


def _doc(factory: Callable[..., Scenario]) -> str:
    return " ".join((factory.__doc__ or "").split())


def _wave(t: float, period_s: float, phase: float) -> float:
    return math.sin(_TAU * (t / period_s + phase))


def waves() -> Scenario:
    """Everyday load: GPU and CPU work rise and fall in overlapping waves of a few minutes."""

    def drive(t: float, board: BoardInfo) -> Drive:
        p = board.phase
        gpu = 0.45 + 0.3 * _wave(t, 240.0, p) + 0.15 * _wave(t, 37.0, 2 * p)
        cpu = 0.35 + 0.2 * _wave(t, 180.0, 3 * p) + 0.1 * _wave(t, 23.0, 5 * p)
        return Drive(gpu_demand=gpu, cpu_demand=cpu)

    return Scenario("waves", _doc(waves), drive)


def idle() -> Scenario:
    """A board with nothing to do: the GPU nearly idle, the CPU at a few percent, a cool room."""

    def drive(t: float, board: BoardInfo) -> Drive:
        return Drive(gpu_demand=0.01, cpu_demand=0.04 + 0.02 * _wave(t, 50.0, board.phase), ambient_c=25.0)

    return Scenario("idle", _doc(idle), drive)


def inference(period_s: float = 60.0, burst_s: float = 25.0) -> Scenario:
    """Camera inference: bursts of full GPU load with the video decoder on, quiet in between."""

    def drive(t: float, board: BoardInfo) -> Drive:
        on = (t + board.phase * period_s) % period_s < burst_s
        if on:
            return Drive(gpu_demand=0.95, cpu_demand=0.55, video=True)
        return Drive(gpu_demand=0.05, cpu_demand=0.12)

    return Scenario("inference", _doc(inference), drive)


def overheating(ambient_c: float = 45.0, cooling: float = 0.45, warm_rise_c: float = 35.0) -> Scenario:
    """Full load in a hot enclosure with a clogged heatsink, already warm: the zones climb past
    the passive trip point's margin and the clocks throttle to hold them there."""

    def drive(t: float, board: BoardInfo) -> Drive:
        return Drive(gpu_demand=0.97, cpu_demand=0.8, ambient_c=ambient_c, cooling=cooling)

    return Scenario("overheating", _doc(overheating), drive, heatsink_rise_c=warm_rise_c)


def fan_failure() -> Scenario:
    """The fan is driven but stands still (tachometer 0 RPM) under moderate load: the board
    warms up and the fan controller raises the PWM in vain."""

    def drive(t: float, board: BoardInfo) -> Drive:
        gpu = 0.35 + 0.1 * _wave(t, 90.0, board.phase)
        return Drive(gpu_demand=gpu, cpu_demand=0.3, fan_failed=True)

    return Scenario("fan-failure", _doc(fan_failure), drive)


def dropout(period_s: float = 40.0, zone_gap: Tuple[float, float] = (10.0, 25.0),
            rail_gap: Tuple[float, float] = (15.0, 30.0)) -> Scenario:
    """Everyday load while sensors drop out and come back each period: the GPU thermal zone's
    reading and one power rail's files vanish for a while, as when a driver is unbound."""
    base = waves().drive

    def drive(t: float, board: BoardInfo) -> Drive:
        into = t % period_s
        absent: Set[str] = set()
        zone = dropout_zone(board)
        if zone is not None and zone_gap[0] <= into < zone_gap[1]:
            absent.add(f"zone:{zone}")
        rail = dropout_rail(board)
        if rail is not None and rail_gap[0] <= into < rail_gap[1]:
            absent.add(f"rail:{rail}")
        return dataclasses.replace(base(t, board), absent=frozenset(absent))

    return Scenario("dropout", _doc(dropout), drive)


def dropout_zone(board: BoardInfo) -> Optional[str]:
    """The zone the dropout scenario removes: the GPU's, else the first that measures."""
    gpu = [z for z in board.zones if zone_kind(z) == "gpu"]
    return gpu[0] if gpu else (board.zones[0] if board.zones else None)


def dropout_rail(board: BoardInfo) -> Optional[str]:
    """The rail the dropout scenario removes: the first that is not the module's input rail."""
    others = [r for r in board.rails if r not in board.input_rails or len(board.input_rails) > 1]
    return others[0] if others else None


SCENARIOS: Dict[str, Callable[[], Scenario]] = {
    "waves": waves,
    "idle": idle,
    "inference": inference,
    "overheating": overheating,
    "fan-failure": fan_failure,
    "dropout": dropout,
}


def scenario(name: str) -> Scenario:
    """The scenario of that name with its default settings."""
    try:
        return SCENARIOS[name]()
    except KeyError:
        raise KeyError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None
