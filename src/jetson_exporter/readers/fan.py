"""Fans: commanded PWM as a 0-1 ratio and measured RPM, pairing the separate pwm and tach nodes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Tuple

from jetson_exporter.readers.base import Reader
from jetson_exporter.readers.files import listdir
from jetson_exporter.snapshot import Fan, Snapshot

PWM_MAX = 255.0
_RPM_FILES = ("rpm", "rpm_measured", "fan1_input")


@dataclass(frozen=True)
class _Fan:
    name: str
    pwm: Optional[str]
    rpm: Optional[str]


@dataclass(frozen=True)
class _Plan:
    fans: Tuple[_Fan, ...]


def _first_existing(directory: str, names: Tuple[str, ...]) -> Optional[str]:
    for name in names:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def _device_name(hwmon: str) -> str:
    """hwmon numbers change across boots; the parent device's name does not."""
    return os.path.basename(os.path.realpath(os.path.join(hwmon, "device")))


class FanReader(Reader[_Plan]):
    name = "fan"
    description = "fan PWM ratio and tachometer RPM"

    def discover(self) -> _Plan:
        pwms: List[Tuple[str, str]] = []  # (device name, pwm file)
        tachs: List[Tuple[str, str]] = []
        root = self.paths.sys("class", "hwmon")
        for entry in listdir(root):
            hwmon = os.path.join(root, entry)
            chip = self.files.text(os.path.join(hwmon, "name"))  # unreadable: an error, not a crash
            if chip == "pwmfan":
                pwm = _first_existing(hwmon, ("pwm1",))
                if pwm:
                    pwms.append((_device_name(hwmon), pwm))
            elif chip == "pwm_tach":
                rpm = _first_existing(hwmon, _RPM_FILES)
                if rpm:
                    tachs.append((_device_name(hwmon), rpm))
        # JetPack 4 and earlier: a platform device with its own attribute names.
        legacy = self.paths.sys("devices", "pwm-fan")
        legacy_pwm = _first_existing(legacy, ("target_pwm",))
        if legacy_pwm and not pwms:
            pwms.append(("pwm-fan", legacy_pwm))
            legacy_rpm = _first_existing(legacy, ("rpm_measured",))
            if legacy_rpm and not tachs:
                tachs.append(("pwm-fan", legacy_rpm))
        if not tachs:
            tach_root = self.paths.sys("devices", "generic_pwm_tachometer", "hwmon")
            for entry in listdir(tach_root):
                rpm = _first_existing(os.path.join(tach_root, entry), _RPM_FILES)
                if rpm:
                    tachs.append(("generic_pwm_tachometer", rpm))
                    break
        fans: List[_Fan] = []
        if len(pwms) == 1 and len(tachs) == 1:
            # The usual board: one PWM output and one tachometer belong to the same fan.
            fans.append(_Fan(pwms[0][0], pwms[0][1], tachs[0][1]))
        else:
            fans.extend(_Fan(name, pwm, None) for name, pwm in pwms)
            fans.extend(_Fan(name, None, rpm) for name, rpm in tachs)
        return _Plan(tuple(fans))

    def sample(self, plan: _Plan) -> Snapshot:
        fans = []
        for fan in plan.fans:
            ratio = rpm = None
            if fan.pwm:
                pwm = self.files.integer(fan.pwm)
                if pwm is not None:
                    ratio = min(max(pwm / PWM_MAX, 0.0), 1.0)
            if fan.rpm:
                value = self.files.integer(fan.rpm)
                if value is not None and value >= 0:
                    rpm = float(value)
            if ratio is not None or rpm is not None:
                fans.append(Fan(fan.name, ratio, rpm))
        return Snapshot(fans=tuple(fans))
