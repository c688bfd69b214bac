"""Thermal zones by normalized name; placeholders and switched-off sensors are left out."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from jetson_exporter.readers.base import Reader
from jetson_exporter.readers.files import listdir
from jetson_exporter.snapshot import Snapshot, ThermalZone, TripPoint

_ZONE = re.compile(r"thermal_zone(\d+)$")
_TRIP = re.compile(r"trip_point_(\d+)_temp$")
# A zone reporting this is switched off (GPU rail-gated, CV cluster idle): not a temperature.
OFF_MILLI_C = -256000


def zone_name(zone_type: str) -> str:
    """`CPU-therm` -> cpu, `Tboard_tegra` -> tboard, `tj-thermal` -> tj, `soc012` -> soc012."""
    name = zone_type
    if "-" in name:
        name = name.split("-", 1)[0]
    elif "_" in name:
        name = name.split("_", 1)[0]
    return name.lower()


def is_placeholder(zone_type: str) -> bool:
    """PMIC-Die reads a constant (100 or 50 degrees): it is not a measurement."""
    return "pmic" in zone_type.lower()


def milli_c_to_c(value: int) -> Optional[float]:
    """A zone reading in m°C, or None for the off value and implausible readings."""
    if value == OFF_MILLI_C or value <= -100000 or value >= 250000:
        return None
    return value / 1000.0


@dataclass(frozen=True)
class _Zone:
    name: str
    temp_file: str
    trips: Tuple[TripPoint, ...]


@dataclass(frozen=True)
class _Plan:
    zones: Tuple[_Zone, ...]


class ThermalReader(Reader[_Plan]):
    name = "thermal"
    description = "thermal zone temperatures and trip points"

    def discover(self) -> _Plan:
        root = self.paths.sys("class", "thermal")
        found: List[Tuple[int, str, str]] = []
        for entry in listdir(root):
            m = _ZONE.match(entry)
            if not m:
                continue
            directory = os.path.join(root, entry)
            if not os.path.exists(os.path.join(directory, "temp")):
                continue  # planned, it would look vanished on every read
            zone_type = self.files.text(os.path.join(directory, "type"))
            if not zone_type or is_placeholder(zone_type):
                continue
            found.append((int(m.group(1)), zone_type, directory))
        zones: List[_Zone] = []
        seen: Dict[str, int] = {}
        for _, zone_type, directory in sorted(found):
            name = zone_name(zone_type)
            if name in seen:  # two zones with one short name keep apart by a suffix
                seen[name] += 1
                name = f"{name}{seen[name]}"
            else:
                seen[name] = 0
            zones.append(_Zone(name, os.path.join(directory, "temp"), self._trips(directory)))
        return _Plan(tuple(zones))

    def _trips(self, directory: str) -> Tuple[TripPoint, ...]:
        """The lowest trip of each kind (passive, hot, critical, ...) of a zone."""
        lowest: Dict[str, float] = {}
        for entry in listdir(directory):
            m = _TRIP.match(entry)
            if not m:
                continue
            kind = self.files.text(os.path.join(directory, f"trip_point_{m.group(1)}_type"))
            value = self.files.integer(os.path.join(directory, entry))
            if kind and value is not None:
                temp = milli_c_to_c(value)
                if temp is not None and (kind not in lowest or temp < lowest[kind]):
                    lowest[kind] = temp
        return tuple(sorted((TripPoint(k, t) for k, t in lowest.items()), key=lambda t: (t.temp_c, t.kind)))

    def sample(self, plan: _Plan) -> Snapshot:
        zones = []
        for zone in plan.zones:
            value = self.files.integer(zone.temp_file)
            if value is None:
                continue  # EAGAIN (cv* zones while the cluster is off) and friends: absent
            temp = milli_c_to_c(value)
            if temp is not None:
                zones.append(ThermalZone(zone.name, temp, zone.trips))
        return Snapshot(thermal=tuple(zones))
