"""Hardware engines (NVENC, NVDEC, NVJPG, VIC, DLA, PVA, OFA, APE, SE, ...) from debugfs clocks."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from jetson_exporter.paths import Paths
from jetson_exporter.readers.base import Reader
from jetson_exporter.readers.files import listdir, read_str
from jetson_exporter.snapshot import Engine, Snapshot, canonical_engine_name

_ENGINE_CLOCK = re.compile(r"(ape|dla\d.*|pva\d.*|vic\d*|nvjpg\d*|nvenc\d*|nvdec\d*|se|cvnas|msenc|ofa)$")
# Within a family (dla0_core, dla0_falcon), the clock whose rate is the engine's speed.
_PREFERRED_MEMBER = re.compile(r"_(core|vps0?)$")
_NO_LIMIT = 2**64 - 1


@dataclass(frozen=True)
class _Clock:
    enable_count: Optional[str]  # where the clock directory has one
    rate: str


@dataclass(frozen=True)
class _Plan:
    engines: Tuple[Tuple[str, Tuple[_Clock, ...]], ...]  # name, clocks (preferred first)


class EnginesReader(Reader[_Plan]):
    name = "engines"
    description = "hardware engine on/off state and clock (debugfs clocks: needs root)"
    settled_rediscover_every = 300
    settings_read = "the clock rate of an engine that is off"

    def found(self, plan: _Plan) -> bool:
        return bool(plan.engines)

    def discover(self) -> _Plan:
        root = self.paths.debug("clk")
        families: Dict[str, List[Tuple[bool, str, _Clock]]] = {}
        for entry in listdir(root):
            if "." in entry or not _ENGINE_CLOCK.match(entry):
                continue  # dotted entries are sub-clocks (nvdec.buf), not engines
            directory = os.path.join(root, entry)
            count_file = os.path.join(directory, "clk_enable_count")
            clock = _Clock(count_file if os.path.exists(count_file) else None, os.path.join(directory, "clk_rate"))
            try:
                if read_str(clock.rate) is None:
                    continue
            except Exception:
                continue  # debugfs is root-only: without it there is nothing to report
            name = canonical_engine_name(entry)
            families.setdefault(name, []).append((not _PREFERRED_MEMBER.search(entry), entry, clock))
        engines = tuple(
            (name, tuple(clock for _, _, clock in sorted(members)))
            for name, members in sorted(families.items())
        )
        return _Plan(engines)

    def __init__(self, paths: Paths, keep_open: bool = False) -> None:
        super().__init__(paths, keep_open)
        # Engine -> its clock rate as last read: a switched-off engine's rate is a setting (the
        # rate it will start at), re-read with the other settings rather than every tick.
        self._rates: Dict[str, Optional[int]] = {}

    def sample(self, plan: _Plan) -> Snapshot:
        engines = []
        read = self.files.privileged_integer
        settings_due = self.settings_due()
        for name, clocks in plan.engines:
            active: Optional[bool] = None
            primary_rate: Optional[int] = None
            primary_read = False
            for i, clock in enumerate(clocks):
                count = read(clock.enable_count) if clock.enable_count is not None else None
                if count is not None:
                    on: Optional[bool] = count > 0
                else:  # no (readable) enable count: a clock running at a rate is taken for on
                    rate = read(clock.rate)
                    on = rate > 0 if rate is not None else None
                    if i == 0:
                        primary_rate, primary_read = rate, True
                if on is not None:
                    active = bool(active) or on
            # The preferred member's rate is the engine's speed.
            if not primary_read and (active or settings_due or name not in self._rates):
                primary_rate, primary_read = read(clocks[0].rate), True
            if primary_read:
                self._rates[name] = primary_rate
            rate = self._rates.get(name)
            freq = float(rate) if rate is not None and rate != _NO_LIMIT else None
            if active is None and freq is None:
                continue
            engines.append(Engine(name=name, active=active, freq_hz=freq))
        return Snapshot(engines=tuple(engines))
