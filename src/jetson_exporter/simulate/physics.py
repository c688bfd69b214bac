"""A small, deterministic model of a Jetson under load: what its sensors read from one moment to the next.

The chain is the one a real board follows. A scenario asks for GPU and CPU work (`Drive`); the
governors pick clocks for it and the load files show how busy the units are at those clocks;
power per rail follows the work done; the heatsink warms with a first-order lag towards a
temperature set by the power and by the airflow; each thermal zone sits above the heatsink by
what its own unit dissipates; the fan's PWM follows the hottest zone and its tachometer follows
the PWM (unless the fan has failed); past a zone's passive trip point the clocks are throttled.
Counters (/proc/stat ticks) accumulate. Every value is produced at its sensor's resolution (mV,
mA, m°C, per-mille load, whole USER_HZ ticks, PWM steps of 1/255), so what the files say is
exactly what `Reading` says.

The model is seeded and driven by the times it is stepped at: the same seed, drive and times
give the same readings.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from jetson_exporter.simulate.devicetree import USER_HZ
from jetson_exporter.simulate.models import (
    BoardState,
    ClusterState,
    CpuState,
    CpuTimes,
    DevfreqState,
    EngineState,
    FanState,
    InaSpec,
    MemoryState,
    Model,
    ModelSpec,
    RailState,
)

# -- what a scenario asks of a board -----------------------------------------------------------


@dataclass(frozen=True)
class Drive:
    """The situation at one moment: the work asked of the board and its surroundings."""

    gpu_demand: float  # 0-1: share of the GPU's full throughput the workload needs
    cpu_demand: float  # 0-1: the same for the CPU cores, on average
    ambient_c: float = 30.0  # air around the board (an enclosure is warmer than a lab)
    cooling: float = 1.0  # heatsink effectiveness: 1 clean, lower when clogged or the airflow is blocked
    fan_failed: bool = False  # the fan gets its PWM but does not turn: the tachometer reads 0
    video: bool = False  # a camera pipeline: the video decoder and image compositor run
    absent: FrozenSet[str] = frozenset()  # sensors whose files are gone: `zone:<type>`, `rail:<label>`, `fan:<name>`


# -- per-model figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """What the fact sheet and data sheets say about a module in its reference power mode."""

    full_power_w: float  # module input power with GPU and CPU fully busy
    fan_max_rpm: float  # tachometer at PWM 255; 0 = no fan


PROFILES: Dict[str, Profile] = {
    "nano-jp4": Profile(10.0, 5000.0),  # MAXN 10 W; the devkit's 40 mm fan
    "nano-2gb-jp4": Profile(5.0, 0.0),  # 5 W mode, passive heatsink
    "xavier-nx-jp5": Profile(15.0, 5000.0),  # 10 W mode with jetson_clocks off, peaks above it
    "agx-xavier-jp5": Profile(20.0, 2800.0),  # 15 W mode pinned by jetson_clocks
    "agx-orin-jp6": Profile(60.0, 3500.0),  # MAXN
    "orin-nano-jp6": Profile(9.0, 4200.0),  # 7 W mode, two cores off
    "thor-jp7": Profile(120.0, 4500.0),  # 120 W mode
}
_DEFAULT_PROFILE = Profile(15.0, 4000.0)

# The board's power split into parts; each part's share of `full_power_w` when idle and when
# its unit is fully active. The parts add up to roughly the whole module at full load.
_PART_SHARES: Dict[str, Tuple[float, float]] = {
    "gpu": (0.02, 0.45),
    "cpu": (0.03, 0.25),
    "soc": (0.04, 0.10),
    "cv": (0.004, 0.004),  # vision accelerators: left idle by every scenario
    "ddr": (0.015, 0.08),
    "sys": (0.03, 0.06),  # 5 V system rail: carrier, USB, the fan
}
_ALL_PARTS = tuple(_PART_SHARES)
_INPUT_LOSS = 1.08  # an input rail also carries the module regulators' losses

# Which parts flow through each rail label (JETSON.md §8). An input rail carries all of them.
_RAIL_PARTS: Dict[str, Tuple[str, ...]] = {
    "VDD_IN": _ALL_PARTS, "POM_5V_IN": _ALL_PARTS, "VIN": _ALL_PARTS,
    "POM_5V_GPU": ("gpu",), "POM_5V_CPU": ("cpu",),
    "VDD_CPU_GPU_CV": ("cpu", "gpu", "cv"), "VDD_SOC": ("soc",),
    "GPU": ("gpu",), "CPU": ("cpu",), "SOC": ("soc",), "CV": ("cv",), "VDDRQ": ("ddr",), "SYS5V": ("sys",),
    # AGX Orin: VIN_SYS_5V0 also feeds VDDQ_VDD2_1V8AO, so the DDR part shows on both.
    "VDD_GPU_SOC": ("gpu", "soc"), "VDD_CPU_CV": ("cpu", "cv"), "VIN_SYS_5V0": ("sys", "ddr"),
    "VDDQ_VDD2_1V8AO": ("ddr",),
    "VDD_GPU": ("gpu",), "VDD_CPU_SOC_MSS": ("cpu", "soc"),
}
_INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "VIN")
# Boards without an input rail: the module input is the sum of these disjoint rails.
_SUMMED_INPUT = (("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"), ("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"))

# Thermal path. Heatsink above ambient: R0 / cooling / (1 + FAN_GAIN x rpm share) °C per W,
# with R0 chosen so that a fully loaded module with its fan at full speed runs its heatsink
# HEATSINK_RISE_FULL_FAN_C above ambient (a fanless module: FANLESS_RISE_C at full load).
HEATSINK_RISE_FULL_FAN_C = 28.0
FAN_GAIN = 2.5
FANLESS_RISE_C = 45.0
HEATSINK_TAU_S = 30.0
DIE_TAU_S = 4.0
FAN_TAU_S = 1.5
# Degrees a zone sits above the heatsink when its unit is fully active.
_DIE_RISE_C = {"cpu": 10.0, "gpu": 12.0, "soc": 6.0, "cv": 4.0}
TJ_ABOVE_HOTTEST_C = 1.5
# nvfancontrol-like profile: (°C, PWM ratio), linear in between; PWM slews at most this fast.
FAN_CURVE = ((35.0, 0.15), (50.0, 0.35), (65.0, 0.6), (80.0, 0.85), (90.0, 1.0))
FAN_SLEW_PER_S = 0.1
# Thermal throttling around the lowest passive trip point (or this, where no zone has one).
DEFAULT_PASSIVE_C = 97.0
THROTTLE_ENGAGE_BELOW_TRIP_C = 1.0
THROTTLE_RELEASE_BELOW_TRIP_C = 3.0
THROTTLE_DOWN_PER_S = 0.06
THROTTLE_UP_PER_S = 0.03
THROTTLE_FLOOR = 0.25
# Busy shares are per mille in the GPU's load file; the governor keeps this much headroom.
GOVERNOR_HEADROOM = 1.25
DEMAND_NOISE = 0.02
_PWM_STEPS = 255


def zone_kind(zone_type: str) -> str:
    """Which heat source a thermal zone follows, from its kernel type name."""
    t = zone_type.lower()
    if "pmic" in t:
        return "constant"  # PMIC-Die reads a fixed value (JETSON.md §7)
    if t.startswith(("cpu", "bcpu", "mcpu")):
        return "cpu"
    if t.startswith("gpu"):
        return "gpu"
    if t.startswith("cv"):
        return "cv"
    if t.startswith("tj"):
        return "tj"
    if t.startswith("tboard"):
        return "board"
    if "fan-est" in t:
        return "fan-est"
    if t.startswith(("ao", "aux", "pll")):
        return "aux"
    return "soc"  # soc0-2, soc012, Tdiode and anything unknown: the die as a whole


def input_rails(spec: ModelSpec) -> Tuple[str, ...]:
    """The rails whose sum is the module's input power: an input rail, or a known disjoint set."""
    labels = {label for ina in spec.power for label in ina.channels}
    for name in _INPUT_RAILS:
        if name in labels:
            return (name,)
    for rails in _SUMMED_INPUT:
        if all(r in labels for r in rails):
            return rails
    return ()


def _snap_up(table: Sequence[float], value: float) -> float:
    """The lowest table entry at or above `value` (the highest entry if none is)."""
    i = bisect.bisect_left(table, value - 1e-6)
    return table[min(i, len(table) - 1)]


def _snap_down(table: Sequence[float], value: float) -> float:
    """The highest table entry at or below `value` (the lowest entry if none is)."""
    i = bisect.bisect_right(table, value + 1e-6) - 1
    return table[max(i, 0)]


def _clamp(value: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return min(max(value, lo), hi)


def _lag(current: float, target: float, dt: float, tau: float) -> float:
    """A first-order lag, exact for a target held over `dt`."""
    return target + (current - target) * math.exp(-dt / tau)


def _governed(table: Sequence[float], lo: float, hi: float, demand: float, throttle: float) -> float:
    """The clock a load-following governor picks for `demand`, under the thermal cap `throttle`."""
    allowed = [f for f in table if lo - 1e-6 <= f <= hi + 1e-6] or list(table)
    want = _snap_up(allowed, lo + (hi - lo) * _clamp(demand * GOVERNOR_HEADROOM))
    cap = _snap_down(table, max(table[0], throttle * hi))
    return min(want, cap)


@dataclass(frozen=True)
class Reading:
    """One step of the model: the files' content (`state`) and the figures a test compares.

    Every figure is what the board's own sensor reports, at its resolution.
    """

    time: float
    state: BoardState
    gpu_load: Optional[float]  # the load file's ratio; None where the board has no load file
    gpu_freq_hz: float
    cpu_util: Mapping[int, float]  # per online core, over the step (None-free: cores with no ticks are left out)
    power_w: Mapping[str, float]  # per connected rail, as the monitor reports it
    board_power_w: Optional[float]  # module input: an input rail or the disjoint sum
    temps_c: Mapping[str, float]  # by zone type; switched-off zones left out
    fans: Mapping[str, Tuple[float, float]]  # PWM ratio (n/255) and RPM
    throttle: float  # 1 = free running; lower = clocks capped by the thermal trip


class Physics:
    """One simulated board's physical state, advanced by `step(now, drive)`."""

    def __init__(self, model: Model, seed: int, start: float, heatsink_rise_c: Optional[float] = None) -> None:
        self.spec = model.spec
        self.reference = model.state
        self.profile = PROFILES.get(self.spec.name, _DEFAULT_PROFILE)
        self.rng = random.Random(seed)
        self.time = start
        self._start = start
        ref = model.state
        full = self.profile.full_power_w
        rise = HEATSINK_RISE_FULL_FAN_C * (1 + FAN_GAIN) if self.profile.fan_max_rpm > 0 else FANLESS_RISE_C
        self.r0_c_per_w = rise / full
        self.kinds = {zone.type: zone_kind(zone.type) for zone in self.spec.thermal}
        passive = [t for zone in self.spec.thermal for kind, t in zone.trips if kind == "passive"]
        self.passive_trip_c = min(passive) if passive else DEFAULT_PASSIVE_C
        self.temps: Dict[str, Optional[float]] = dict(ref.temps_c)
        measured = [t for z, t in ref.temps_c.items() if t is not None and self.kinds[z] != "constant"]
        # The heatsink starts just under the reference zones, or warmer when the scenario says so.
        self.heatsink_c = (min(measured) - 2.0) if measured else 35.0
        self._warm_rise = heatsink_rise_c
        self.throttle = 1.0
        self.pwm = {name: fan.speed_ratio for name, fan in ref.fans.items()}
        self.rpm = {name: fan.rpm for name, fan in ref.fans.items()}
        # jetson_clocks pins every online cluster at min == max, and runs the fan at full speed.
        pinned = [c.min_freq_hz == c.max_freq_hz for c, on in zip(ref.clusters, self._cluster_online()) if on]
        self.pinned = bool(pinned) and all(pinned)
        self.ticks: Dict[int, List[int]] = {}
        for i, cpu in enumerate(ref.cpus):
            if cpu.online and cpu.times is not None:
                t = cpu.times
                self.ticks[i] = [round(v * USER_HZ) for v in (t.user, t.nice, t.system, t.idle, t.iowait, t.irq,
                                                              t.softirq, t.steal)]
        self._elapsed_ticks = 0
        self.core_bias = [0.25 * math.sin(1.7 * i + 6.283 * self.rng.random()) for i in range(len(ref.cpus))]
        self._limits_ma = self._current_limits()
        self._first = True

    # -- helpers ------------------------------------------------------------------------------

    def _cluster_online(self) -> List[bool]:
        ref = self.reference
        return [any(ref.cpus[c].online for c in cluster.cpus) for cluster in self.spec.clusters]

    def _current_limits(self) -> Dict[str, Tuple[int, int]]:
        limits: Dict[str, Tuple[int, int]] = {}
        for ina in self.spec.power:
            default = 163800 * 1000 // ina.shunt_uohm  # INA3221 alert registers' reset value
            for c, label in enumerate(ina.channels):
                limits[label] = ina.limits_ma[c] if c < len(ina.limits_ma) else (default, default)
        return limits

    def _ina_of(self, label: str) -> InaSpec:
        return next(ina for ina in self.spec.power if label in ina.channels)

    def _noisy(self, value: float, amount: float = DEMAND_NOISE) -> float:
        return _clamp(value + self.rng.uniform(-amount, amount)) if value > 0 else 0.0

    # -- one step -----------------------------------------------------------------------------

    def step(self, now: float, drive: Drive) -> Reading:
        """Advance to `now` under `drive` and return what the sensors read."""
        dt = max(now - self.time, 0.0)
        self.time = now
        ref = self.reference
        if self._first:
            self._first = False
            if self._warm_rise is not None:
                self.heatsink_c = drive.ambient_c + self._warm_rise
                for zone, temp in self.temps.items():
                    if temp is not None and self.kinds[zone] != "constant":
                        self.temps[zone] = self.heatsink_c + 2.0

        gpu_demand = self._noisy(drive.gpu_demand)
        cpu_demand = self._noisy(drive.cpu_demand)

        # GPU: the governor's clock, the busy share at that clock, the work actually done.
        gpu_devfreq: List[DevfreqState] = []
        gpu_busy = 0.0
        gpu_activity = 0.0
        for df_spec, df_ref in zip(self.spec.gpu.devfreq, ref.gpu.devfreq):
            table = [float(f) for f in df_spec.available_hz]
            freq = _governed(table, df_ref.min_freq_hz, df_ref.max_freq_hz, gpu_demand, self.throttle)
            if not gpu_devfreq:
                gpu_busy = _clamp(gpu_demand * df_ref.max_freq_hz / freq) if gpu_demand > 0 else 0.0
                gpu_busy = round(gpu_busy * 1000) / 1000
                gpu_activity = gpu_busy * freq / df_ref.max_freq_hz
            gpu_devfreq.append(DevfreqState(freq, min(df_ref.min_freq_hz, freq), df_ref.max_freq_hz, df_ref.governor))
        gpu_freq = gpu_devfreq[0].freq_hz if gpu_devfreq else 0.0
        gpu_state = dataclasses.replace(
            ref.gpu,
            devfreq=tuple(gpu_devfreq),
            load=gpu_busy,
            railgated=ref.gpu.railgated and gpu_busy < 0.001,
            gpc_freq_hz=tuple(gpu_freq for _ in ref.gpu.gpc_freq_hz),
        )

        # CPU: per-cluster clock, per-core busy share, /proc/stat ticks.
        elapsed = round((now - self._start) * USER_HZ)
        step_ticks = max(elapsed - self._elapsed_ticks, 0)
        self._elapsed_ticks = max(elapsed, self._elapsed_ticks)
        clusters = []
        core_freq: Dict[int, Tuple[float, float]] = {}
        for cluster_spec, cluster_ref, online in zip(self.spec.clusters, ref.clusters, self._cluster_online()):
            if not online:
                clusters.append(cluster_ref)
                continue
            demands = [self._core_demand(c, cpu_demand) for c in cluster_spec.cpus if ref.cpus[c].online]
            table = [khz * 1000.0 for khz in cluster_spec.available_khz]
            freq = _governed(table, cluster_ref.min_freq_hz, cluster_ref.max_freq_hz, max(demands), self.throttle)
            clusters.append(ClusterState(freq, min(cluster_ref.min_freq_hz, freq), cluster_ref.max_freq_hz,
                                         cluster_ref.governor))
            for c in cluster_spec.cpus:
                core_freq[c] = (freq, cluster_ref.max_freq_hz)
        cpus = []
        cpu_util: Dict[int, float] = {}
        activities = []
        for i, cpu_ref in enumerate(ref.cpus):
            if i not in self.ticks:
                cpus.append(CpuState(False) if not cpu_ref.online else cpu_ref)
                continue
            freq, top = core_freq[i]
            demand = self._core_demand(i, cpu_demand)
            busy_share = _clamp(demand * top / freq) if demand > 0 else 0.0
            ticks = self.ticks[i]
            if step_ticks > 0:
                busy = round(busy_share * step_ticks)
                user = busy * 7 // 10
                system = busy * 2 // 10
                ticks[0] += user
                ticks[2] += system
                ticks[6] += busy - user - system
                ticks[3] += step_ticks - busy
                cpu_util[i] = busy / step_ticks
            activities.append(busy_share * freq / top)
            cpus.append(CpuState(True, CpuTimes(*(t / USER_HZ for t in ticks))))
        cpu_activity = sum(activities) / len(activities) if activities else 0.0

        # Memory controller, engines, memory.
        emc_util = round(_clamp(0.04 + 0.5 * gpu_activity + 0.2 * cpu_activity + self.rng.uniform(-0.01, 0.01)), 3)
        emc = dataclasses.replace(ref.emc, utilization=emc_util)
        engines = {
            name: EngineState(True, e.freq_hz) if drive.video and name.startswith(("nvdec", "vic", "nvjpg")) else e
            for name, e in ref.engines.items()
        }
        memory = self._memory(gpu_activity)

        # Fan: PWM follows the hottest zone (pinned at full by jetson_clocks); the tachometer follows the PWM.
        fans: Dict[str, FanState] = {}
        fan_share = 0.0
        hottest = self._hottest()
        for name in ref.fans:
            target = 1.0 if self.pinned else _fan_curve(hottest)
            step = FAN_SLEW_PER_S * max(dt, 1e-9)
            pwm = self.pwm[name] + _clamp(target - self.pwm[name], -step, step)
            pwm = round(_clamp(pwm) * _PWM_STEPS) / _PWM_STEPS
            self.pwm[name] = pwm
            top = self.profile.fan_max_rpm
            spin = 0.0 if drive.fan_failed or pwm == 0 else top * pwm * (1 + self.rng.uniform(-0.005, 0.005))
            rpm = float(round(_lag(self.rpm[name], spin, dt, FAN_TAU_S) if dt > 0 else self.rpm[name]))
            if drive.fan_failed:
                rpm = 0.0  # a stalled rotor gives the tachometer no pulses at all
            self.rpm[name] = rpm
            fans[name] = FanState(pwm, rpm)
            fan_share = max(fan_share, rpm / top if top else 0.0)

        # Power per part, per rail (at the monitors' resolution), and the module's input.
        activity = {"gpu": gpu_activity, "cpu": cpu_activity, "soc": max(gpu_activity, cpu_activity),
                    "cv": 0.0, "ddr": emc_util, "sys": 0.5 * max(self.pwm.values(), default=0.0)
                    + (0.5 if drive.video else 0.0)}
        full = self.profile.full_power_w
        parts = {p: full * (idle + (busy - idle) * _clamp(activity[p])) for p, (idle, busy) in _PART_SHARES.items()}
        rails: Dict[str, RailState] = {}
        power_w: Dict[str, float] = {}
        for label, ref_rail in ref.rails.items():
            names = _RAIL_PARTS.get(label, ("sys",))
            watts = sum(parts[p] for p in names) * (_INPUT_LOSS if names == _ALL_PARTS else 1.0)
            mv = round(ref_rail.voltage_v * 1000 - 4.0 * watts / ref_rail.voltage_v)  # a little IR droop
            ma = round(watts / (mv / 1000) * 1000)
            warn_ma, crit_ma = self._limits_ma.get(label, (1 << 30, 1 << 30))
            rails[label] = RailState(mv / 1000, ma / 1000, warn_alarm=ma > warn_ma, crit_alarm=ma > crit_ma)
            ina = self._ina_of(label)
            # The monitor's own power figure: IIO rounds to mW; hwmon and INA238 give mV x mA.
            power_w[label] = round(mv * ma / 1000) / 1000 if ina.hwmon is None else mv * ma / 1e6
        inputs = input_rails(self.spec)
        board_power = sum(power_w[r] for r in inputs) if inputs and all(r in power_w for r in inputs) else None
        heat_w = sum(parts.values())

        # Heat: the heatsink lags towards its equilibrium; zones sit above it by their unit's power.
        if self.profile.fan_max_rpm > 0:
            resistance = self.r0_c_per_w / max(drive.cooling, 0.05) / (1 + FAN_GAIN * fan_share)
        else:
            resistance = self.r0_c_per_w / max(drive.cooling, 0.05)
        self.heatsink_c = _lag(self.heatsink_c, drive.ambient_c + resistance * heat_w, dt, HEATSINK_TAU_S)
        rise = {p: _DIE_RISE_C[p] * (parts[p] - full * _PART_SHARES[p][0])
                / (full * (_PART_SHARES[p][1] - _PART_SHARES[p][0]) or 1.0) for p in _DIE_RISE_C}
        targets: Dict[str, float] = {}
        for zone, kind in self.kinds.items():
            if kind in ("cpu", "gpu", "cv", "soc"):
                targets[zone] = self.heatsink_c + 1.0 + max(rise[kind], 0.0)
            elif kind == "aux":
                targets[zone] = self.heatsink_c + 0.5 + 0.3 * max(rise["soc"], 0.0)
        die = [targets[z] for z, k in self.kinds.items() if k in ("cpu", "gpu", "soc")]
        for zone, kind in self.kinds.items():
            if kind == "tj":
                targets[zone] = (max(die) if die else self.heatsink_c) + TJ_ABOVE_HOTTEST_C
            elif kind == "board":
                targets[zone] = drive.ambient_c + 0.4 * (self.heatsink_c - drive.ambient_c)
            elif kind == "fan-est":
                hot = [targets[z] for z, k in self.kinds.items() if k in ("cpu", "gpu")]
                targets[zone] = (sum(hot) / len(hot) if hot else self.heatsink_c) - 1.0
        temps: Dict[str, Optional[float]] = {}
        for zone, kind in self.kinds.items():
            current = self.temps.get(zone)
            if current is None or kind == "constant":
                temps[zone] = current  # switched off (cv* on a board whose CV cluster sleeps) or a constant
                continue
            temps[zone] = round(_lag(current, targets[zone], dt, DIE_TAU_S), 3)
        self.temps = temps

        # Throttling: cap the clocks while the hottest zone is near its passive trip point.
        hottest = self._hottest()
        if hottest >= self.passive_trip_c - THROTTLE_ENGAGE_BELOW_TRIP_C:
            self.throttle = max(THROTTLE_FLOOR, self.throttle - THROTTLE_DOWN_PER_S * dt)
        elif hottest < self.passive_trip_c - THROTTLE_RELEASE_BELOW_TRIP_C:
            self.throttle = min(1.0, self.throttle + THROTTLE_UP_PER_S * dt)

        state = dataclasses.replace(
            ref, cpus=tuple(cpus), clusters=tuple(clusters), gpu=gpu_state, emc=emc, memory=memory,
            temps_c=dict(temps), rails=rails, fans=fans, engines=engines,
        )
        return Reading(
            time=now,
            state=state,
            gpu_load=gpu_busy if self.spec.gpu.has_load else None,
            gpu_freq_hz=gpu_freq,
            cpu_util=cpu_util,
            power_w=power_w,
            board_power_w=board_power,
            temps_c={z: t for z, t in temps.items() if t is not None},
            fans={name: (f.speed_ratio, f.rpm) for name, f in fans.items()},
            throttle=self.throttle,
        )

    def _core_demand(self, core: int, demand: float) -> float:
        return _clamp(demand * (1 + self.core_bias[core])) if demand > 0 else 0.0

    def _hottest(self) -> float:
        values = [t for z, t in self.temps.items() if t is not None and self.kinds[z] != "constant"]
        return max(values) if values else self.heatsink_c

    def _memory(self, gpu_activity: float) -> MemoryState:
        ref = self.reference.memory
        kib = 1024
        # GPU buffers (NvMap) grow with GPU work, taken from free memory.
        extra = int(ref.total_bytes * 0.06 * gpu_activity) // kib * kib
        extra = min(extra, max(ref.free_bytes - 64 * kib * kib, 0))
        return dataclasses.replace(
            ref,
            free_bytes=ref.free_bytes - extra,
            available_bytes=ref.available_bytes - extra,
            nvmap_bytes=ref.nvmap_bytes + extra if ref.nvmap_bytes else 0,
        )


def _fan_curve(temp_c: float) -> float:
    points = FAN_CURVE
    if temp_c <= points[0][0]:
        return points[0][1]
    for (t0, p0), (t1, p1) in zip(points, points[1:]):
        if temp_c <= t1:
            return p0 + (p1 - p0) * (temp_c - t0) / (t1 - t0)
    return points[-1][1]

