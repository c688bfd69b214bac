"""Hardware engines (NVENC, NVDEC, NVJPG, VIC, DLA, PVA, OFA, APE, SE, ...) from debugfs clocks."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

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

    def sample(self, plan: _Plan) -> Snapshot:
        engines = []
        for name, clocks in plan.engines:
            active: Optional[bool] = None
            freq = None
            for i, clock in enumerate(clocks):
                count = self.files.privileged_integer(clock.enable_count) if clock.enable_count else None
                rate = self.files.privileged_integer(clock.rate)
                if i == 0 and rate is not None and rate != _NO_LIMIT:
                    freq = float(rate)
                on = count > 0 if count is not None else (rate > 0 if rate is not None else None)
                if on is not None:
                    active = bool(active) or on
            if active is None and freq is None:
                continue
            engines.append(Engine(name=name, active=active, freq_hz=freq))
        return Snapshot(engines=tuple(engines))
