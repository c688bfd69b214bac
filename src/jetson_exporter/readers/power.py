"""Power rails: INA3221 in both layouts (JetPack 4 IIO, JetPack 5+ hwmon), Thor's INA238, supplies."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from jetson_exporter.readers.base import Reader
from jetson_exporter.readers.files import listdir
from jetson_exporter.snapshot import PowerRail, Snapshot

_HWMON_LABEL = re.compile(r"in(\d+)_label$")
_IIO_LABEL = re.compile(r"rail_name_(\d+)$")
# Labels that are not rails: unconnected channels and the INA3221 summing channel.
_SKIP_LABELS = frozenset({"NC", "sum of shunt voltages"})


@dataclass(frozen=True)
class _Channel:
    name: str
    voltage: Optional[str]  # mV, where the channel has it
    current: str  # mA
    power: Optional[str]  # mW (IIO) or uW (INA238), where the chip reports power itself
    power_scale: float  # to watts
    alarm_warn: Optional[str]
    alarm_crit: Optional[str]
    warn_a: Optional[float]  # current limits, read at discovery (fixed per module)
    crit_a: Optional[float]
    supply: bool = False  # power_supply class: uV and uA


@dataclass(frozen=True)
class _Plan:
    channels: Tuple[_Channel, ...]


class PowerReader(Reader[_Plan]):
    name = "power"
    description = "per-rail voltage, current, power and limits (INA3221/INA238), board input power"

    def _existing(self, path: str) -> Optional[str]:
        return path if os.path.exists(path) else None

    def _limit(self, path: str) -> Optional[float]:
        if not os.path.exists(path):
            return None
        value = self.files.integer(path)
        return value / 1000.0 if value is not None and value > 0 else None

    def _hwmon_channels(self, hwmon: str) -> List[_Channel]:
        channels = []
        for entry in listdir(hwmon):
            m = _HWMON_LABEL.match(entry)
            if not m:
                continue
            n = m.group(1)
            label = self.files.text(os.path.join(hwmon, entry))
            if not label or label in _SKIP_LABELS:
                continue
            current = os.path.join(hwmon, f"curr{n}_input")
            if not os.path.exists(current):
                continue
            channels.append(
                _Channel(
                    name=label,
                    voltage=self._existing(os.path.join(hwmon, f"in{n}_input")),
                    current=current,
                    power=None,
                    power_scale=1e-6,
                    alarm_warn=self._existing(os.path.join(hwmon, f"curr{n}_max_alarm")),
                    alarm_crit=self._existing(os.path.join(hwmon, f"curr{n}_crit_alarm")),
                    warn_a=self._limit(os.path.join(hwmon, f"curr{n}_max")),
                    crit_a=self._limit(os.path.join(hwmon, f"curr{n}_crit")),
                )
            )
        return channels

    def _iio_channels(self, iio: str) -> List[_Channel]:
        channels = []
        for entry in listdir(iio):
            m = _IIO_LABEL.match(entry)
            if not m:
                continue
            n = m.group(1)
            label = self.files.text(os.path.join(iio, entry))
            if not label or label in _SKIP_LABELS:
                continue
            channels.append(
                _Channel(
                    name=label,
                    voltage=self._existing(os.path.join(iio, f"in_voltage{n}_input")),
                    current=os.path.join(iio, f"in_current{n}_input"),
                    power=self._existing(os.path.join(iio, f"in_power{n}_input")),
                    power_scale=1e-3,
                    alarm_warn=None,
                    alarm_crit=None,
                    warn_a=self._limit(os.path.join(iio, f"warn_current_limit_{n}")),
                    crit_a=self._limit(os.path.join(iio, f"crit_current_limit_{n}")),
                )
            )
        return channels

    def _ina238_channel(self, hwmon: str) -> Optional[_Channel]:
        """Thor's module input monitor: bus voltage in1 (mV), curr1 (mA), power1 (uW)."""
        voltage = os.path.join(hwmon, "in1_input")
        current = os.path.join(hwmon, "curr1_input")
        if not (os.path.exists(voltage) and os.path.exists(current)):
            return None
        label = self.files.text(os.path.join(hwmon, "in1_label")) if os.path.exists(
            os.path.join(hwmon, "in1_label")) else None
        return _Channel(
            name=label or "VIN",
            voltage=voltage,
            current=current,
            power=self._existing(os.path.join(hwmon, "power1_input")),
            power_scale=1e-6,
            alarm_warn=None,
            alarm_crit=None,
            warn_a=self._limit(os.path.join(hwmon, "curr1_max")),
            crit_a=self._limit(os.path.join(hwmon, "curr1_crit")),
        )

    def discover(self) -> _Plan:
        channels: List[_Channel] = []
        devices = self.paths.sys("bus", "i2c", "devices")
        for entry in listdir(devices):
            device = os.path.join(devices, entry)
            chip = self.files.text(os.path.join(device, "name")) if os.path.exists(
                os.path.join(device, "name")) else None
            if not chip:
                continue
            if "ina3221" in chip:
                hwmon_root = os.path.join(device, "hwmon")
                hwmons = [os.path.join(hwmon_root, h) for h in listdir(hwmon_root) if h.startswith("hwmon")]
                if hwmons:
                    channels.extend(self._hwmon_channels(hwmons[0]))
                else:
                    for sub in listdir(device):
                        if sub.startswith("iio:device"):
                            channels.extend(self._iio_channels(os.path.join(device, sub)))
                            break
            elif chip == "ina238":
                hwmon_root = os.path.join(device, "hwmon")
                for h in listdir(hwmon_root):
                    channel = self._ina238_channel(os.path.join(hwmon_root, h))
                    if channel:
                        channels.append(channel)
                    break
        supplies = self.paths.sys("class", "power_supply")
        for entry in listdir(supplies):
            if entry.startswith("ucsi-"):
                continue  # USB-PD: negotiated contract values, not measurements
            directory = os.path.join(supplies, entry)
            voltage = os.path.join(directory, "voltage_now")
            current = os.path.join(directory, "current_now")
            if os.path.exists(voltage) and os.path.exists(current):
                channels.append(_Channel(entry, voltage, current, None, 1.0, None, None, None, None, supply=True))
        # Two monitors naming a rail alike would collide as series: number the later ones.
        named: List[_Channel] = []
        seen: Dict[str, int] = {}
        for ch in channels:
            count = seen.get(ch.name, 0)
            seen[ch.name] = count + 1
            named.append(dataclasses.replace(ch, name=f"{ch.name}_{count + 1}") if count else ch)
        return _Plan(tuple(named))

    def _alarm(self, path: Optional[str]) -> Optional[bool]:
        if path is None:
            return None
        value = self.files.integer(path)
        return None if value is None else value != 0

    def sample(self, plan: _Plan) -> Snapshot:
        rails = []
        for ch in plan.channels:
            volts = self.files.integer(ch.voltage) if ch.voltage else None
            amps = self.files.integer(ch.current)
            scale = 1e-6 if ch.supply else 1e-3
            voltage_v = volts * scale if volts is not None else None
            current_a = amps * scale if amps is not None else None
            power_w = None
            if ch.power is not None:
                raw = self.files.integer(ch.power)
                power_w = raw * ch.power_scale if raw is not None else None
            elif voltage_v is not None and current_a is not None:
                power_w = voltage_v * current_a
            if voltage_v is None and current_a is None and power_w is None:
                continue
            rails.append(
                PowerRail(
                    name=ch.name,
                    power_w=power_w,
                    voltage_v=voltage_v,
                    current_a=current_a,
                    warn_current_a=ch.warn_a,
                    crit_current_a=ch.crit_a,
                    warn_alarm=self._alarm(ch.alarm_warn),
                    crit_alarm=self._alarm(ch.alarm_crit),
                )
            )
        return Snapshot(rails=tuple(rails))
