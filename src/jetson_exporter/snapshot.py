"""The one normalized model of a Jetson's state at one moment.

Every source (sysfs readers, a tegrastats line, a jtop stats dict) produces these values, and the
exposition only ever sees these values. Units are SI: Hz, bytes, degrees Celsius, volts, amperes,
watts, seconds, ratios 0-1. A value that could not be read is `None` (or the item is missing
from its tuple); there are no sentinels.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


@dataclass(frozen=True)
class BoardInfo:
    """What the board is. Every field is best effort; L4T is the reliable version."""

    model: Optional[str] = None  # device-tree model, "NVIDIA Jetson AGX Orin Developer Kit"
    module: Optional[str] = None  # module part number, "p3701-0005"
    carrier: Optional[str] = None  # carrier board part number, "p3737-0000"
    soc: Optional[str] = None  # "tegra234"
    l4t: Optional[str] = None  # "36.4.4"
    jetpack: Optional[str] = None  # "6.2.1", from a table: best effort
    cuda_arch: Optional[str] = None  # "8.7"
    serial: Optional[str] = None


@dataclass(frozen=True)
class CpuCore:
    index: int
    online: bool
    freq_hz: Optional[float] = None
    min_freq_hz: Optional[float] = None
    max_freq_hz: Optional[float] = None
    governor: Optional[str] = None
    # Cumulative time per mode (CPU_MODES) in seconds since boot, from /proc/stat.
    times_s: Optional[Mapping[str, float]] = None
    # Load 0-1 over the last interval: from `times_s` deltas between two reads (the CPU reader),
    # or the percentage a source reports (tegrastats, jtop).
    utilization: Optional[float] = None


@dataclass(frozen=True)
class Gpu:
    name: Optional[str] = None  # device-tree node name: gv11b, ga10b, gpu, ...
    utilization: Optional[float] = None
    freq_hz: Optional[float] = None
    min_freq_hz: Optional[float] = None
    max_freq_hz: Optional[float] = None
    governor: Optional[str] = None
    railgate_enabled: Optional[bool] = None
    railgated: Optional[bool] = None
    scaling_3d_enabled: Optional[bool] = None
    gpc_freq_hz: Tuple[float, ...] = ()


@dataclass(frozen=True)
class Emc:
    freq_hz: Optional[float] = None
    min_freq_hz: Optional[float] = None
    max_freq_hz: Optional[float] = None
    utilization: Optional[float] = None


@dataclass(frozen=True)
class Memory:
    total_bytes: Optional[float] = None
    used_bytes: Optional[float] = None  # total - free - buffers - cached, as tegrastats and jtop count it
    free_bytes: Optional[float] = None
    available_bytes: Optional[float] = None
    buffers_bytes: Optional[float] = None
    cached_bytes: Optional[float] = None  # page cache + reclaimable slab
    gpu_shared_bytes: Optional[float] = None  # NvMap allocations in shared RAM
    swap_total_bytes: Optional[float] = None
    swap_used_bytes: Optional[float] = None
    swap_cached_bytes: Optional[float] = None
    lfb_blocks: Optional[float] = None  # free blocks of the largest size the allocator has
    lfb_block_bytes: Optional[float] = None
    iram_total_bytes: Optional[float] = None
    iram_used_bytes: Optional[float] = None


@dataclass(frozen=True)
class Engine:
    name: str  # canonical upper-case name: NVENC, NVDEC, NVJPG1, VIC, DLA0, PVA0, APE, ...
    active: Optional[bool] = None
    freq_hz: Optional[float] = None
    utilization: Optional[float] = None


@dataclass(frozen=True)
class TripPoint:
    kind: str  # passive, active, hot, critical
    temp_c: float


@dataclass(frozen=True)
class ThermalZone:
    name: str  # normalized: lower-case short name, "cpu", "gpu", "tj", "soc0", "tboard"
    temp_c: float
    trips: Tuple[TripPoint, ...] = ()


@dataclass(frozen=True)
class PowerRail:
    name: str  # as the board labels it: VDD_IN, VDD_GPU_SOC, POM_5V_IN, ...
    power_w: Optional[float] = None
    voltage_v: Optional[float] = None
    current_a: Optional[float] = None
    warn_current_a: Optional[float] = None
    crit_current_a: Optional[float] = None
    warn_alarm: Optional[bool] = None
    crit_alarm: Optional[bool] = None


@dataclass(frozen=True)
class Fan:
    name: str
    speed_ratio: Optional[float] = None  # commanded PWM 0-1
    rpm: Optional[float] = None


@dataclass(frozen=True)
class PowerMode:
    id: Optional[int] = None
    name: Optional[str] = None


@dataclass(frozen=True)
class Snapshot:
    """A whole board at one moment. Sources may fill any subset."""

    board: Optional[BoardInfo] = None
    cpus: Tuple[CpuCore, ...] = ()
    gpu: Optional[Gpu] = None
    emc: Optional[Emc] = None
    memory: Optional[Memory] = None
    engines: Tuple[Engine, ...] = ()
    thermal: Tuple[ThermalZone, ...] = ()
    rails: Tuple[PowerRail, ...] = ()
    fans: Tuple[Fan, ...] = ()
    power_mode: Optional[PowerMode] = None
    jetson_clocks: Optional[bool] = None
    # Where a source knows the board input power better than the rails tell (jtop's total is not
    # used: it double counts AGX Orin), it may set this; otherwise `board_power_w()` derives it.
    input_power_w: Optional[float] = field(default=None)

    def merge(self, other: Snapshot) -> Snapshot:
        """This snapshot with every field that `other` has set taken from `other`."""
        changes = {}
        for f in dataclasses.fields(other):
            value = getattr(other, f.name)
            if value is not None and value != ():
                changes[f.name] = value
        return dataclasses.replace(self, **changes) if changes else self

    def board_power_w(self) -> Optional[float]:
        """Whole-module input power, from the rails, never counting a rail twice."""
        if self.input_power_w is not None:
            return self.input_power_w
        return board_power_from_rails(self.rails)


_ENGINE_ALIASES = {"MSENC": "NVENC", "VIC03": "VIC", "VIC0": "VIC", "NVDLA0": "DLA0", "NVDLA1": "DLA1"}
_NUMBERED_ZERO = re.compile(r"(NVENC|NVDEC|NVJPG)0$")


def canonical_engine_name(raw: str) -> str:
    """One name per engine whatever the source: tegrastats `NVENC0`/`NVDLA0`/`PVA0_FREQ`,
    debugfs clocks `nvenc`/`dla0_core`/`pva0_vps0` -> NVENC, DLA0, PVA0.

    JetPack 6 tegrastats says NVJPG and NVJPG1, JetPack 7 says NVJPG0 and NVJPG1: index 0 is
    the bare name, so both spell the same series.
    """
    name = raw.upper()
    if name.endswith("_FREQ"):
        name = name[: -len("_FREQ")]
    family = re.match(r"(?:NV)?(DLA|PVA)(\d+)", name)
    if family:
        return family.group(1) + family.group(2)
    name = _ENGINE_ALIASES.get(name, name)
    return _NUMBERED_ZERO.sub(r"\1", name)


# Rails that measure the whole module input directly.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "VIN")

# Modules without an input rail whose input is the sum of a known, disjoint set of rails.
# AGX Orin: VIN_SYS_5V0 also feeds VDDQ_VDD2_1V8AO (on the second INA3221), so that rail is
# left out (energymon's jetson model); summing everything, as jtop does, counts it twice.
# AGX Xavier: the six rails of its two monitors are disjoint.
SUM_RAIL_SETS = (
    ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"),
    ("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"),
)


def board_power_from_rails(rails: Tuple[PowerRail, ...]) -> Optional[float]:
    """Board input power from per-rail readings, or None when the topology is unknown.

    A partial sum is never returned: if one rail of a summed set is unreadable the total is
    absent rather than too low.
    """
    by_name = {r.name: r.power_w for r in rails}
    for name in INPUT_RAILS:
        if name in by_name:
            return by_name[name]
    for rail_set in SUM_RAIL_SETS:
        if all(name in by_name for name in rail_set):
            values = [by_name[name] for name in rail_set]
            if any(v is None for v in values):
                return None
            return sum(v for v in values if v is not None)
    return None


def derive_jetson_clocks(snapshot: Snapshot) -> Optional[bool]:
    """Whether jetson_clocks pins the clocks: every online CPU and the GPU run min == max.

    jetson_clocks leaves no file behind, so this is computed the way jtop does. When the EMC
    clock is readable (debugfs) it must run at its maximum too. None when the limits are unknown.
    """
    online = [c for c in snapshot.cpus if c.online]
    gpu = snapshot.gpu
    if not online or gpu is None or gpu.min_freq_hz is None or gpu.max_freq_hz is None:
        return None
    for core in online:
        if core.min_freq_hz is None or core.max_freq_hz is None:
            return None
        if core.min_freq_hz != core.max_freq_hz:
            return False
    if gpu.min_freq_hz != gpu.max_freq_hz:
        return False
    emc = snapshot.emc
    if emc is not None and emc.freq_hz is not None and emc.max_freq_hz is not None:
        return emc.freq_hz == emc.max_freq_hz
    return True
