"""Jetson models as data: one declarative spec per board, and the plain state of its sensors.

A *spec* says what a board has and where the kernel puts it: CPU clusters, the GPU's device and
devfreq names, thermal zone types in zone order, INA3221 monitors with their rail labels per
i2c address, the fan's hwmon nodes, nvpmodel modes, board identity files and debugfs content.
A *state* says what the sensors read at one moment, in SI units (Hz, bytes, °C, V, A, ratios
0-1, seconds). `devicetree.py` turns both into files with the kernel's own names, formats and
units.

Shapes follow the Jetson fact sheet, JETSON.md (§17 "Real directory shapes"). Where it is silent
the choice is a plausible guess and says so in a comment; readers must not depend on those details.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

# --------------------------------------------------------------------------------------------
# Spec: what a board has and where
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardSpec:
    """Identity: device-tree strings and /etc/nv_tegra_release."""

    model: str
    compatible: Tuple[str, ...]  # carrier+module, module(s), SoC; written NUL-separated
    serial: str
    release: str  # first line of /etc/nv_tegra_release
    boardids: Optional[str] = None  # JetPack 4/5 only
    dtsfilename: Optional[str] = None  # JetPack 4/5 only


@dataclass(frozen=True)
class ClusterSpec:
    """One cpufreq policy: the cores that share a clock, and the clock table in kHz."""

    cpus: Tuple[int, ...]
    available_khz: Tuple[int, ...]
    driver: str = "tegra194"


@dataclass(frozen=True)
class DevfreqSpec:
    name: str  # the devfreq device name, also its /sys/class/devfreq entry
    available_hz: Tuple[int, ...]
    governors: Tuple[str, ...] = ("wmark_active", "nvhost_podgov", "userspace", "performance", "simple_ondemand")


@dataclass(frozen=True)
class GpuSpec:
    device: str  # the GPU device directory under /sys/devices
    devfreq: Tuple[DevfreqSpec, ...]  # devfreq devices under <device>/devfreq/
    has_load: bool = True  # <device>/load, per mille (absent on Thor)
    flag_files: Tuple[str, ...] = ("railgate_enable", "enable_3d_scaling")  # plus is_railgated on Nano
    tpc_pg_mask: bool = False
    aliases: Tuple[str, ...] = ()  # nvgpu's `gpu.0` links to the device, under /sys/devices
    gpc_clocks: int = 0  # debugfs bpmp/debug/clk/nafll_gpcN/pto_counter (Orin)
    debug_clock: Optional[str] = None  # debugfs file tegrastats reads the GPU clock from
    bus: str = "platform"
    of_node: bool = True


@dataclass(frozen=True)
class EmcSpec:
    clock: str  # "bpmp" (debugfs bpmp clk), "tegra210" (debugfs override.emc + tegra_bwmgr), "bwmgr" (devfreq)
    activity: Optional[str]  # "actmon" (sysfs, JetPack 4/5), "cactmon" (debugfs, JetPack 6), "bpmp-actmon" (Thor)
    iso_cap: bool = False  # /sys/kernel/nvpmodel_emc_cap/emc_iso_cap
    available_hz: Tuple[int, ...] = ()  # bwmgr devfreq table


@dataclass(frozen=True)
class MemorySpec:
    nvmap: bool = True  # NvMapMemUsed/NvMapMemFree lines in /proc/meminfo (not on Thor)
    buddy_zones: Tuple[str, ...] = ("DMA", "Normal")
    buddy_orders: int = 11  # 11 orders = 4 MB largest block with 4 kB pages; 10 = 2 MB
    iram_bytes: Optional[int] = None  # debugfs nvmap/iram/size (tegra210)


@dataclass(frozen=True)
class ZoneSpec:
    type: str
    trips: Tuple[Tuple[str, float], ...] = ()  # (kind, °C) in trip point order


@dataclass(frozen=True)
class InaSpec:
    """A power monitor on i2c: INA3221 (JetPack 4 IIO `ina3221x`, JetPack 5+ hwmon `ina3221`) or INA238."""

    bus: int
    address: int
    controller: str  # the i2c controller's platform device under /sys/devices
    chip: str  # i2c device name: ina3221x, ina3221, ina238
    channels: Tuple[str, ...]  # rail labels in channel order; also the keys of BoardState.rails
    hwmon: Optional[int] = None  # hwmonN; None = IIO iio:device<iio>
    iio: int = 0
    summing: bool = False  # INA3221 in7 "sum of shunt voltages" and curr4
    limits_ma: Tuple[Tuple[int, int], ...] = ()  # (warn, crit) per channel; unset = register default
    shunt_uohm: int = 5000

    @property
    def name(self) -> str:
        return f"{self.bus}-{self.address:04x}"


@dataclass(frozen=True)
class I2cDeviceSpec:
    """Another i2c client the power reader must pass over (a USB-PD controller, an EEPROM)."""

    bus: int
    address: int
    controller: str
    chip: str


@dataclass(frozen=True)
class PowerSupplySpec:
    name: str
    parent: str  # device under /sys/devices that owns power_supply/<name>
    type: str
    voltage_uv: int
    current_ua: int


@dataclass(frozen=True)
class FanSpec:
    name: str  # key of BoardState.fans
    pwm_device: str  # under /sys/devices
    pwm_hwmon: Optional[int]  # None = JetPack 4 attributes in the device directory (target_pwm, rpm_measured)
    tach_device: Optional[str] = None
    tach_hwmon: Optional[int] = None


@dataclass(frozen=True)
class PowerModeSpec:
    id: int
    name: str
    cpus_online: int
    gpu_max_hz: int


@dataclass(frozen=True)
class NvpmodelSpec:
    conf: str  # file under /etc/nvpmodel/
    modes: Tuple[PowerModeSpec, ...]
    default: int
    linked: bool  # /etc/nvpmodel.conf is an absolute symlink (JetPack 5+), else a copy
    fan_mode: Optional[str] = None  # JetPack 5+ status files also carry `fmode:`


@dataclass(frozen=True)
class ClockSpec:
    """A debugfs clock directory (`/sys/kernel/debug/clk/<name>/`)."""

    name: str
    min_hz: int
    max_hz: int
    kind: str = "engine"  # engine (state.engines), emc / gpu (follow those clocks), static (rate = max)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    board: BoardSpec
    clusters: Tuple[ClusterSpec, ...]
    gpu: GpuSpec
    emc: EmcSpec
    memory: MemorySpec
    thermal: Tuple[ZoneSpec, ...]  # in thermal_zoneN order
    power: Tuple[InaSpec, ...] = ()
    fans: Tuple[FanSpec, ...] = ()
    nvpmodel: Optional[NvpmodelSpec] = None
    clocks: Tuple[ClockSpec, ...] = ()
    cooling_devices: Tuple[str, ...] = ()
    i2c_devices: Tuple[I2cDeviceSpec, ...] = ()
    power_supplies: Tuple[PowerSupplySpec, ...] = ()
    other_devfreq: Tuple[Tuple[str, DevfreqSpec], ...] = ()  # (device under /sys/devices, devfreq)
    files: Tuple[Tuple[str, str], ...] = ()  # further static files by host path ("/etc/nvfancontrol.conf")

    @property
    def cpu_count(self) -> int:
        return sum(len(c.cpus) for c in self.clusters)


# --------------------------------------------------------------------------------------------
# State: what the sensors read, in SI units
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuTimes:
    """Seconds since boot per /proc/stat mode (written in USER_HZ ticks)."""

    user: float
    nice: float
    system: float
    idle: float
    iowait: float = 0.0
    irq: float = 0.0
    softirq: float = 0.0
    steal: float = 0.0


@dataclass(frozen=True)
class CpuState:
    online: bool
    times: Optional[CpuTimes] = None  # only online cores appear in /proc/stat


@dataclass(frozen=True)
class ClusterState:
    freq_hz: float
    min_freq_hz: float
    max_freq_hz: float
    governor: str = "schedutil"


@dataclass(frozen=True)
class DevfreqState:
    freq_hz: float
    min_freq_hz: float
    max_freq_hz: float
    governor: str = "nvhost_podgov"


@dataclass(frozen=True)
class GpuState:
    devfreq: Tuple[DevfreqState, ...]  # one per GpuSpec.devfreq
    load: float = 0.0  # 0-1, written per mille
    railgate_enabled: bool = True
    railgated: bool = False
    scaling_3d_enabled: bool = True
    gpc_freq_hz: Tuple[float, ...] = ()  # one per GpuSpec.gpc_clocks


@dataclass(frozen=True)
class EmcState:
    freq_hz: float
    min_freq_hz: float
    max_freq_hz: float
    utilization: float  # 0-1; written as actmon activity = percent x clock in kHz
    iso_cap_hz: Optional[float] = None  # nvpmodel's EMC cap; None writes 0 (no cap)


@dataclass(frozen=True)
class MemoryState:
    total_bytes: int
    free_bytes: int
    available_bytes: int
    buffers_bytes: int
    cached_bytes: int  # page cache (meminfo Cached)
    sreclaimable_bytes: int
    nvmap_bytes: int = 0
    swap_total_bytes: int = 0
    swap_free_bytes: int = 0
    swap_cached_bytes: int = 0
    buddy: Tuple[Tuple[int, ...], ...] = ()  # free block counts per order, per MemorySpec.buddy_zones


@dataclass(frozen=True)
class RailState:
    voltage_v: float
    current_a: float
    warn_alarm: bool = False
    crit_alarm: bool = False


@dataclass(frozen=True)
class FanState:
    speed_ratio: float  # commanded PWM 0-1, written 0-255
    rpm: float


@dataclass(frozen=True)
class EngineState:
    enabled: bool
    freq_hz: float


@dataclass(frozen=True)
class BoardState:
    cpus: Tuple[CpuState, ...]
    clusters: Tuple[ClusterState, ...]
    gpu: GpuState
    emc: EmcState
    memory: MemoryState
    temps_c: Mapping[str, Optional[float]]  # by zone type; None = switched off (reads -256000)
    rails: Mapping[str, RailState] = field(default_factory=dict)  # by rail label; NC channels read 0
    fans: Mapping[str, FanState] = field(default_factory=dict)
    engines: Mapping[str, EngineState] = field(default_factory=dict)  # by debugfs clock name
    power_mode: Optional[int] = None


@dataclass(frozen=True)
class Model:
    """A spec and the fixed reference state its checked-in fixture is generated with."""

    spec: ModelSpec
    state: BoardState


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------

KIB = 1024
MHZ = 1_000_000

_NVFANCONTROL_CONF = """\
POLLING_INTERVAL 2
<FAN 1>
\tTMARGIN ENABLED
\tFAN_GOVERNOR pid {
\t\tSTEP_SIZE 10
\t}
\tFAN_GOVERNOR cont {
\t\tSTEP_SIZE 10
\t}
\tFAN_CONTROL close_loop {
\t\tRPM_TOLERANCE 100
\t}
\tFAN_PROFILE quiet {
\t\t#TEMP \tHYST \tPWM \tRPM
\t\t0 \t0 \t255 \t2900
\t\t18 \t9 \t255 \t2900
\t\t30 \t11 \t202 \t2300
\t\t45 \t11 \t154 \t1750
\t\t60 \t14 \t106 \t1200
\t\t105 \t0 \t0 \t0
\t}
\tTHERMAL_GROUP 0 {
\t\tGROUP_MAX_TEMP 105
\t\t#Thermal-Zone Coeffs Max-Temp
\t\tCPU-therm 20,2,1 0
\t\tGPU-therm 20,2,1 0
\t}
\tFAN_DEFAULT_CONTROL close_loop
\tFAN_DEFAULT_PROFILE quiet
\tFAN_DEFAULT_GOVERNOR cont
"""

_NVFANCONTROL_FILES = (
    ("/etc/nvfancontrol.conf", _NVFANCONTROL_CONF),
    ("/etc/systemd/system/nvfancontrol.service",
     "[Unit]\nDescription=nvfancontrol service\nAfter=nvpmodel.service\n\n[Service]\nType=simple\n"
     "ExecStart=/usr/sbin/nvfancontrol\n\n[Install]\nWantedBy=multi-user.target\n"),
    ("/var/lib/nvfancontrol/status", "FAN1:FAN_PROFILE:quiet\nFAN1:FAN_GOVERNOR:cont\nFAN1:FAN_CONTROL:close_loop\n"),
)


def _iovmm_maps(*rows: Tuple[str, int]) -> Tuple[str, str]:
    """debugfs nvmap/iovmm/maps: one row per client, then the total (sizes in K)."""
    lines = [f"{'CLIENT':<8}{'PROCESS':>24}{'PID':>9}{'SIZE':>11}"]
    pid = 1400
    for process, size_k in rows:
        pid += 137
        lines.append(f"{'user':<8}{process:>24}{pid:>9}{str(size_k) + 'K':>11}")
    lines.append(f"{'total':<8}{'':>24}{'':>9}{str(sum(s for _, s in rows)) + 'K':>11}")
    return ("/sys/kernel/debug/nvmap/iovmm/maps", "\n".join(lines) + "\n")


def _times(cpu: int, busy: float = 0.2) -> CpuTimes:
    """Plausible counters for a board up about 3 hours; whole ticks so they round-trip exactly."""
    total = 10800.0 + 3.0 * cpu
    user = round(total * busy * 0.7, 2)
    system = round(total * busy * 0.25, 2)
    return CpuTimes(
        user=user,
        nice=round(0.5 + 0.25 * cpu, 2),
        system=system,
        idle=round(total - user - system - 50.0, 2),
        iowait=round(12.5 + cpu, 2),
        irq=0.0,
        softirq=round(3.25 + 0.5 * cpu, 2),
        steal=0.0,
    )


def _cpus(count: int, offline: Tuple[int, ...] = (), busy: float = 0.2) -> Tuple[CpuState, ...]:
    return tuple(
        CpuState(False) if i in offline else CpuState(True, _times(i, busy)) for i in range(count)
    )


def _modes(*modes: Tuple[int, str, int, int]) -> Tuple[PowerModeSpec, ...]:
    return tuple(PowerModeSpec(*m) for m in modes)


def _engine(enabled: bool, mhz: float) -> EngineState:
    return EngineState(enabled, mhz * MHZ)


# CPU clock tables (kHz).
_CORTEX_A57 = (102000, 204000, 307200, 403200, 518400, 614400, 710400, 825600, 921600, 1036800, 1132800,
               1224000, 1326000, 1428000, 1479000)
_CARMEL_NX = (115200, 192000, 268800, 345600, 422400, 499200, 576000, 652800, 729600, 806400, 883200, 960000,
              1036800, 1113600, 1190400, 1267200, 1344000, 1420800, 1497600, 1574400, 1651200, 1728000,
              1804800, 1881600, 1907200)
_CARMEL_AGX = (*_CARMEL_NX[:-1], 1958400, 2035200, 2112000, 2188800, 2265600)
_A78AE_AGX = (*_CARMEL_NX[:-1], 1958400, 2035200, 2112000, 2188800, 2201600)
_A78AE_NANO = (*_CARMEL_NX[:21], 1728000)
_NEOVERSE_V3AE = (972000, 1158000, 1344000, 1530000, 1716000, 1902000, 2088000, 2274000, 2460000, 2601000)

# GPU clock tables (Hz).
_GM20B = (76800000, 153600000, 230400000, 307200000, 384000000, 460800000, 537600000, 614400000, 691200000,
          768000000, 844800000, 921600000)
_GV11B_NX = (114750000, 204000000, 306000000, 408000000, 510000000, 599250000, 701250000, 752250000, 803250000,
             854250000, 905250000, 956250000, 1007250000, 1058250000, 1109250000)
_GV11B_AGX = (*_GV11B_NX[:3], 420750000, 522750000, 624750000, 675750000, 828750000, 905250000, 1032750000,
              1198500000, 1236750000, 1338750000, 1377000000)
_GA10B = (306000000, 408000000, 510000000, 612000000, 714000000, 816000000, 918000000, 1020000000,
          1122000000, 1224000000, 1300500000)
_GA10B_NANO = _GA10B[:8]

# --------------------------------------------------------------------------------------------
# Jetson Nano, JetPack 4.6.4 (L4T 32.7.4)
# --------------------------------------------------------------------------------------------

_NANO_DTS = ("/dvs/git/dirty/git-master_linux/kernel/kernel-4.9/arch/arm64/boot/dts/../../../../../../hardware/"
             "nvidia/platform/t210/porg/kernel-dts/tegra210-p3448-0000-p3449-0000-b00.dts")
_NANO_RELEASE = ("# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref, EABI: aarch64, "
                 "DATE: Fri Jun  9 04:25:08 UTC 2023")

NANO_JP4 = ModelSpec(
    name="nano-jp4",
    board=BoardSpec(
        model="NVIDIA Jetson Nano Developer Kit",
        compatible=("nvidia,p3449-0000-b00+p3448-0000-b00", "nvidia,jetson-nano", "nvidia,tegra210"),
        serial="1422919052431",
        release=_NANO_RELEASE,
        boardids="3448",  # format of this property is a guess
        dtsfilename=_NANO_DTS,
    ),
    clusters=(ClusterSpec((0, 1, 2, 3), _CORTEX_A57, driver="tegra_cpufreq"),),
    gpu=GpuSpec(
        device="57000000.gpu",
        devfreq=(DevfreqSpec("57000000.gpu", _GM20B),),
        flag_files=("railgate_enable", "is_railgated", "enable_3d_scaling"),
        aliases=("gpu.0",),
        debug_clock="clk/gpcclk/clk_rate",
    ),
    emc=EmcSpec(clock="tegra210", activity="actmon"),
    memory=MemorySpec(iram_bytes=0x3F000),
    thermal=(
        ZoneSpec("AO-therm", (("critical", 101.0),)),
        ZoneSpec("CPU-therm", (("passive", 97.0), ("critical", 102.0))),
        ZoneSpec("GPU-therm", (("passive", 97.0), ("critical", 102.0))),
        ZoneSpec("PLL-therm", (("critical", 101.0),)),
        ZoneSpec("PMIC-Die", (("critical", 120.0),)),
        ZoneSpec("thermal-fan-est", (("active", 51.0), ("active", 61.0), ("active", 71.0))),
    ),
    cooling_devices=("cpu-balanced", "gpu-balanced", "pwm-fan"),
    power=(
        InaSpec(6, 0x40, "50000000.host1x/546c0000.i2c", "ina3221x", ("POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU")),
    ),
    fans=(FanSpec("pwm-fan", "pwm-fan", pwm_hwmon=None),),
    nvpmodel=NvpmodelSpec(
        conf="nvpmodel_t210_jetson-nano.conf",
        modes=_modes((0, "MAXN", 4, 921600000), (1, "5W", 2, 640000000)),
        default=0,
        linked=False,
    ),
    clocks=(
        ClockSpec("ape", 0, 499200000),
        ClockSpec("emc", 204000000, 1600000000, kind="emc"),
        ClockSpec("gpcclk", 76800000, 921600000, kind="gpu"),
        ClockSpec("nvdec", 0, 716800000),
        ClockSpec("nvenc", 0, 716800000),
        ClockSpec("nvjpg", 0, 627200000),
        ClockSpec("se", 0, 2**64 - 1),  # unbounded max: 2^64-1
        ClockSpec("tsec", 0, 408000000, kind="static"),
        ClockSpec("vic03", 0, 627200000),
        ClockSpec("vic03.cbus", 0, 627200000, kind="static"),
    ),
    files=(
        _iovmm_maps(("Xorg", 38740), ("gnome-shell", 43568)),
        ("/sys/kernel/debug/nvmap/iram/clients", f"{'CLIENT':<8}{'PROCESS':>24}{'PID':>9}{'SIZE':>11}\n"
                                                 f"{'total':<8}{'':>24}{'':>9}{'0K':>11}\n"),
    ),
)

NANO_JP4_STATE = BoardState(
    cpus=_cpus(4, busy=0.3),
    clusters=(ClusterState(1428000e3, 102000e3, 1479000e3),),
    gpu=GpuState(devfreq=(DevfreqState(614400000, 76800000, 921600000),), load=0.253),
    emc=EmcState(freq_hz=1600e6, min_freq_hz=204e6, max_freq_hz=1600e6, utilization=0.07),
    memory=MemoryState(
        total_bytes=4059240 * KIB,
        free_bytes=1125016 * KIB,
        available_bytes=2617452 * KIB,
        buffers_bytes=97448 * KIB,
        cached_bytes=1316540 * KIB,
        sreclaimable_bytes=86160 * KIB,
        nvmap_bytes=212444 * KIB,
        swap_total_bytes=2029620 * KIB,
        swap_free_bytes=2025780 * KIB,
        swap_cached_bytes=148 * KIB,
        buddy=((41, 37, 25, 19, 12, 8, 6, 3, 2, 1, 23), (1203, 822, 431, 207, 96, 41, 17, 9, 4, 2, 136)),
    ),
    temps_c={
        "AO-therm": 37.5,
        "CPU-therm": 41.0,
        "GPU-therm": 38.5,
        "PLL-therm": 36.0,
        "PMIC-Die": 50.0,  # a constant: 50 °C from about JetPack 4.6
        "thermal-fan-est": 39.2,
    },
    rails={
        "POM_5V_IN": RailState(4.968, 1.016),
        "POM_5V_GPU": RailState(4.976, 0.040),
        "POM_5V_CPU": RailState(4.960, 0.388),
    },
    fans={"pwm-fan": FanState(0.4, 2050)},
    engines={
        "ape": _engine(True, 499.2),
        "nvdec": _engine(False, 716.8),
        "nvenc": _engine(False, 716.8),
        "nvjpg": _engine(False, 627.2),
        "se": _engine(True, 627.2),
        "vic03": _engine(True, 140.8),
    },
    power_mode=0,
)

# Jetson Nano 2GB: the same module family without a power monitor and, here, without a fan node.
NANO_2GB_JP4 = dataclasses.replace(
    NANO_JP4,
    name="nano-2gb-jp4",
    board=dataclasses.replace(
        NANO_JP4.board,
        model="NVIDIA Jetson Nano 2GB Developer Kit",
        compatible=("nvidia,p3542-0000+p3448-0003", "nvidia,jetson-nano-2gb", "nvidia,tegra210"),
        serial="1423121004877",
        dtsfilename=_NANO_DTS.replace("p3448-0000-p3449-0000-b00", "p3448-0003-p3542-0000"),
    ),
    power=(),
    fans=(),
    cooling_devices=("cpu-balanced", "gpu-balanced"),
)

NANO_2GB_JP4_STATE = dataclasses.replace(
    NANO_JP4_STATE,
    cpus=_cpus(4, offline=(2, 3), busy=0.45),  # 5W mode: two cores off
    clusters=(ClusterState(918000e3, 102000e3, 918000e3),),
    gpu=GpuState(devfreq=(DevfreqState(76800000, 76800000, 640000000),), load=0.0, railgated=True),
    emc=EmcState(freq_hz=1600e6, min_freq_hz=204e6, max_freq_hz=1600e6, utilization=0.11),
    memory=MemoryState(
        total_bytes=2027940 * KIB,
        free_bytes=211332 * KIB,
        available_bytes=904412 * KIB,
        buffers_bytes=38244 * KIB,
        cached_bytes=702108 * KIB,
        sreclaimable_bytes=41576 * KIB,
        nvmap_bytes=98304 * KIB,
        swap_total_bytes=5062644 * KIB,
        swap_free_bytes=4716532 * KIB,
        swap_cached_bytes=9320 * KIB,
        buddy=((12, 9, 7, 5, 3, 2, 1, 1, 0, 0, 4), (402, 311, 188, 97, 40, 16, 7, 2, 1, 0, 9)),
    ),
    temps_c={
        "AO-therm": 40.5,
        "CPU-therm": 44.5,
        "GPU-therm": 41.0,
        "PLL-therm": 39.0,
        "PMIC-Die": 50.0,
        "thermal-fan-est": 42.8,
    },
    rails={},
    fans={},
    power_mode=1,
)

# --------------------------------------------------------------------------------------------
# Jetson Xavier NX, JetPack 5.1.3 (L4T 35.5.0)
# --------------------------------------------------------------------------------------------

_XAVIER_THERMAL_TRIPS = (("passive", 99.0), ("critical", 103.0))

XAVIER_NX_JP5 = ModelSpec(
    name="xavier-nx-jp5",
    board=BoardSpec(
        model="NVIDIA Jetson Xavier NX Developer Kit",
        compatible=("nvidia,p3509-0000+p3668-0000", "nvidia,p3668-0000", "nvidia,tegra194"),
        serial="1420921043218",
        release=("# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref, EABI: aarch64, "
                 "DATE: Tue Feb 20 04:46:31 UTC 2024"),
        boardids="3668",
        dtsfilename="/dvs/git/dirty/git-master_linux/kernel/kernel-5.10/arch/arm64/boot/dts/../../../../../../"
                    "hardware/nvidia/platform/t19x/jakku/kernel-dts/tegra194-p3668-0000-p3509-0000.dts",
    ),
    clusters=(
        ClusterSpec((0, 1), _CARMEL_NX),
        ClusterSpec((2, 3), _CARMEL_NX),
        ClusterSpec((4, 5), _CARMEL_NX),
    ),
    gpu=GpuSpec(
        device="17000000.gv11b",
        devfreq=(DevfreqSpec("17000000.gv11b", _GV11B_NX),),
        tpc_pg_mask=True,
        aliases=("gpu.0",),
        debug_clock="bpmp/debug/clk/gpcclk/rate",
    ),
    emc=EmcSpec(clock="bpmp", activity="actmon", iso_cap=True),
    memory=MemorySpec(),
    thermal=(
        ZoneSpec("AO-therm", _XAVIER_THERMAL_TRIPS),
        ZoneSpec("AUX-therm", _XAVIER_THERMAL_TRIPS),
        ZoneSpec("CPU-therm", _XAVIER_THERMAL_TRIPS),
        ZoneSpec("GPU-therm", _XAVIER_THERMAL_TRIPS),
        ZoneSpec("PMIC-Die", (("critical", 120.0),)),
        ZoneSpec("thermal-fan-est", (("active", 46.0), ("active", 60.0))),
    ),
    cooling_devices=("pwm-fan",),
    # The i2c controller of bus 7 is a guess; JETSON.md gives the bus and address only.
    power=(
        InaSpec(7, 0x40, "c250000.i2c", "ina3221", ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"), hwmon=1, summing=True),
    ),
    fans=(FanSpec("pwm-fan", "pwm-fan", 2, "39c0000.tachometer", 0),),
    nvpmodel=NvpmodelSpec(
        conf="nvpmodel_t194_p3668.conf",
        modes=_modes(
            (0, "MODE_15W_2CORE", 2, 1109250000), (1, "MODE_15W_4CORE", 4, 1109250000),
            (2, "MODE_15W_6CORE", 6, 1109250000), (3, "MODE_10W_2CORE", 2, 510000000),
            (4, "MODE_10W_4CORE", 4, 510000000), (5, "MODE_10W_DESKTOP", 4, 510000000),
            (6, "MODE_20W_2CORE", 2, 1109250000), (7, "MODE_20W_4CORE", 4, 1109250000),
            (8, "MODE_20W_6CORE", 6, 1109250000),
        ),
        default=8,
        linked=True,
        fan_mode="quiet",
    ),
    clocks=(
        ClockSpec("ape", 0, 600000000),
        ClockSpec("cvnas", 0, 1356800000),
        ClockSpec("dla0_core", 0, 1100800000),
        ClockSpec("dla0_falcon", 0, 627200000),
        ClockSpec("dla1_core", 0, 1100800000),
        ClockSpec("dla1_falcon", 0, 627200000),
        ClockSpec("emc", 204000000, 1866000000, kind="emc"),
        ClockSpec("nvdec", 0, 1100800000),
        ClockSpec("nvenc", 0, 1075200000),
        ClockSpec("nvjpg", 0, 1011200000),
        ClockSpec("pva0_vps0", 0, 1011200000),
        ClockSpec("pva0_vps1", 0, 1011200000),
        ClockSpec("se", 0, 1011200000),
        ClockSpec("vic", 0, 1036800000),
    ),
    files=(*_NVFANCONTROL_FILES, _iovmm_maps(("gnome-shell", 61200), ("python3", 153600))),
)

XAVIER_NX_JP5_STATE = BoardState(
    cpus=_cpus(6, offline=(4, 5)),
    clusters=(
        ClusterState(1190400e3, 115200e3, 1190400e3),
        ClusterState(1113600e3, 115200e3, 1190400e3),
        ClusterState(1190400e3, 115200e3, 1190400e3),  # offline cluster: nothing of it is exported
    ),
    gpu=GpuState(devfreq=(DevfreqState(510000000, 114750000, 510000000),), load=0.48),
    emc=EmcState(freq_hz=1600e6, min_freq_hz=204e6, max_freq_hz=1866e6, utilization=0.15),
    memory=MemoryState(
        total_bytes=7765852 * KIB,
        free_bytes=3820144 * KIB,
        available_bytes=5634508 * KIB,
        buffers_bytes=120332 * KIB,
        cached_bytes=1834216 * KIB,
        sreclaimable_bytes=97812 * KIB,
        nvmap_bytes=351924 * KIB,
        swap_total_bytes=3882912 * KIB,
        swap_free_bytes=3882912 * KIB,
        buddy=((88, 61, 44, 30, 22, 15, 9, 6, 4, 3, 180), (2211, 1604, 930, 512, 241, 120, 60, 28, 15, 9, 602)),
    ),
    temps_c={
        "AO-therm": 38.5,
        "AUX-therm": 39.0,
        "CPU-therm": 41.5,
        "GPU-therm": 40.0,
        "PMIC-Die": 50.0,
        "thermal-fan-est": 40.1,
    },
    rails={
        "VDD_IN": RailState(5.096, 1.120),
        "VDD_CPU_GPU_CV": RailState(5.096, 0.352),
        "VDD_SOC": RailState(5.096, 0.280),
    },
    fans={"pwm-fan": FanState(0.2, 1460)},
    engines={
        "ape": _engine(True, 150.0),
        "cvnas": _engine(False, 1356.8),
        "dla0_core": _engine(False, 1100.8),
        "dla0_falcon": _engine(False, 627.2),
        "dla1_core": _engine(False, 1100.8),
        "dla1_falcon": _engine(False, 627.2),
        "nvdec": _engine(True, 716.8),
        "nvenc": _engine(False, 1075.2),
        "nvjpg": _engine(False, 1011.2),
        "pva0_vps0": _engine(False, 1011.2),
        "pva0_vps1": _engine(False, 1011.2),
        "se": _engine(True, 1011.2),
        "vic": _engine(True, 345.6),
    },
    power_mode=4,
)

# --------------------------------------------------------------------------------------------
# Jetson AGX Xavier, JetPack 5.1.2 (L4T 35.4.1), MODE_15W with jetson_clocks on
# --------------------------------------------------------------------------------------------

AGX_XAVIER_JP5 = ModelSpec(
    name="agx-xavier-jp5",
    board=BoardSpec(
        model="Jetson-AGX",  # what the AGX Xavier developer kit's device tree calls itself
        compatible=("nvidia,p2822-0000+p2888-0001", "nvidia,p2888-0001", "nvidia,tegra194"),
        serial="1421019012345",
        release=("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, "
                 "DATE: Tue Aug  1 19:57:35 UTC 2023"),
        boardids="2888",
        dtsfilename="/dvs/git/dirty/git-master_linux/kernel/kernel-5.10/arch/arm64/boot/dts/../../../../../../"
                    "hardware/nvidia/platform/t19x/galen/kernel-dts/tegra194-p2888-0001-p2822-0000.dts",
    ),
    clusters=tuple(ClusterSpec((2 * i, 2 * i + 1), _CARMEL_AGX) for i in range(4)),
    gpu=GpuSpec(
        device="17000000.gv11b",
        devfreq=(DevfreqSpec("17000000.gv11b", _GV11B_AGX),),
        tpc_pg_mask=True,
        aliases=("gpu.0",),
        debug_clock="bpmp/debug/clk/gpcclk/rate",
    ),
    emc=EmcSpec(clock="bpmp", activity="actmon", iso_cap=True),
    memory=MemorySpec(),
    thermal=(
        ZoneSpec("CPU-therm", _XAVIER_THERMAL_TRIPS),
        ZoneSpec("GPU-therm", _XAVIER_THERMAL_TRIPS),
        ZoneSpec("AUX-therm", _XAVIER_THERMAL_TRIPS),
        ZoneSpec("AO-therm", _XAVIER_THERMAL_TRIPS),
        ZoneSpec("PMIC-Die", (("critical", 120.0),)),
        ZoneSpec("Tboard_tegra", (("critical", 107.0),)),
        ZoneSpec("Tdiode_tegra", (("critical", 107.0),)),
        ZoneSpec("thermal-fan-est", (("active", 46.0), ("active", 60.0))),
    ),
    cooling_devices=("pwm-fan",),
    power=(
        InaSpec(1, 0x40, "c240000.i2c", "ina3221", ("GPU", "CPU", "SOC"), hwmon=1),
        InaSpec(1, 0x41, "c240000.i2c", "ina3221", ("CV", "VDDRQ", "SYS5V"), hwmon=2),
    ),
    fans=(FanSpec("pwm-fan", "pwm-fan", 3, "39c0000.tachometer", 0),),
    nvpmodel=NvpmodelSpec(
        conf="nvpmodel_t194.conf",
        modes=_modes(
            (0, "MAXN", 8, 1377000000), (1, "MODE_10W", 2, 522750000), (2, "MODE_15W", 4, 675750000),
            (3, "MODE_30W_ALL", 8, 905250000), (4, "MODE_30W_6CORE", 6, 905250000),
            (5, "MODE_30W_4CORE", 4, 905250000), (6, "MODE_30W_2CORE", 2, 905250000),
            (7, "MODE_15W_DESKTOP", 4, 675750000),
        ),
        default=2,
        linked=True,
        fan_mode="quiet",
    ),
    clocks=(
        ClockSpec("ape", 0, 600000000),
        ClockSpec("cvnas", 0, 1356800000),
        ClockSpec("dla0_core", 0, 1395200000),
        ClockSpec("dla0_falcon", 0, 627200000),
        ClockSpec("dla1_core", 0, 1395200000),
        ClockSpec("dla1_falcon", 0, 627200000),
        ClockSpec("emc", 204000000, 2133000000, kind="emc"),
        ClockSpec("nvdec", 0, 1203200000),
        ClockSpec("nvenc", 0, 1203200000),
        ClockSpec("nvjpg", 0, 1011200000),
        ClockSpec("pva0_vps0", 0, 1036800000),
        ClockSpec("pva0_vps1", 0, 1036800000),
        ClockSpec("pva1_vps0", 0, 1036800000),
        ClockSpec("pva1_vps1", 0, 1036800000),
        ClockSpec("se", 0, 1011200000),
        ClockSpec("vic", 0, 1036800000),
    ),
    files=(*_NVFANCONTROL_FILES, _iovmm_maps(("python3", 412672))),
)

AGX_XAVIER_JP5_STATE = BoardState(
    cpus=_cpus(8, offline=(4, 5, 6, 7), busy=0.35),
    # jetson_clocks pins every online cluster at the mode's maximum.
    clusters=(
        ClusterState(1190400e3, 1190400e3, 1190400e3),
        ClusterState(1190400e3, 1190400e3, 1190400e3),
        ClusterState(1190400e3, 115200e3, 1190400e3),
        ClusterState(1190400e3, 115200e3, 1190400e3),
    ),
    gpu=GpuState(devfreq=(DevfreqState(675750000, 675750000, 675750000),), load=0.05),
    emc=EmcState(freq_hz=1331.2e6, min_freq_hz=204e6, max_freq_hz=2133e6, utilization=0.1, iso_cap_hz=1331.2e6),
    memory=MemoryState(
        total_bytes=31928720 * KIB,
        free_bytes=25105224 * KIB,
        available_bytes=28514808 * KIB,
        buffers_bytes=180224 * KIB,
        cached_bytes=3215040 * KIB,
        sreclaimable_bytes=140288 * KIB,
        nvmap_bytes=618496 * KIB,
        swap_total_bytes=15964352 * KIB,
        swap_free_bytes=15964352 * KIB,
        buddy=((112, 80, 57, 41, 30, 21, 13, 8, 5, 3, 402), (5120, 3301, 2044, 1202, 633, 310, 151, 77, 40, 22, 5841)),
    ),
    temps_c={
        "CPU-therm": 43.5,
        "GPU-therm": 42.0,
        "AUX-therm": 42.5,
        "AO-therm": 43.0,
        "PMIC-Die": 50.0,
        "Tboard_tegra": 36.0,
        "Tdiode_tegra": 39.25,
        "thermal-fan-est": 42.4,
    },
    rails={
        "GPU": RailState(19.072, 0.176),
        "CPU": RailState(19.072, 0.096),
        "SOC": RailState(19.072, 0.112),
        "CV": RailState(19.072, 0.0),
        "VDDRQ": RailState(19.072, 0.032),
        "SYS5V": RailState(4.992, 0.440),
    },
    fans={"pwm-fan": FanState(1.0, 2760)},
    engines={
        "ape": _engine(True, 600.0),
        "cvnas": _engine(False, 1356.8),
        "dla0_core": _engine(True, 1395.2),
        "dla0_falcon": _engine(True, 627.2),
        "dla1_core": _engine(False, 1395.2),
        "dla1_falcon": _engine(False, 627.2),
        "nvdec": _engine(False, 1203.2),
        "nvenc": _engine(False, 1203.2),
        "nvjpg": _engine(False, 1011.2),
        "pva0_vps0": _engine(False, 1036.8),
        "pva0_vps1": _engine(False, 1036.8),
        "pva1_vps0": _engine(False, 1036.8),
        "pva1_vps1": _engine(False, 1036.8),
        "se": _engine(True, 1011.2),
        "vic": _engine(True, 1036.8),
    },
    power_mode=2,
)

# --------------------------------------------------------------------------------------------
# Jetson AGX Orin 64GB developer kit, JetPack 6.2.1 (L4T 36.4.4), MAXN
# --------------------------------------------------------------------------------------------

_BUS0 = "platform/bus@0"
_I2C1 = f"{_BUS0}/c240000.i2c"
_ORIN_THERMAL_TRIPS = (("passive", 99.0), ("critical", 104.5))
_ORIN_ZONES = (
    ZoneSpec("cpu-thermal", _ORIN_THERMAL_TRIPS),
    ZoneSpec("gpu-thermal", _ORIN_THERMAL_TRIPS),
    ZoneSpec("cv0-thermal", _ORIN_THERMAL_TRIPS),
    ZoneSpec("cv1-thermal", _ORIN_THERMAL_TRIPS),
    ZoneSpec("cv2-thermal", _ORIN_THERMAL_TRIPS),
    ZoneSpec("soc0-thermal", _ORIN_THERMAL_TRIPS),
    ZoneSpec("soc1-thermal", _ORIN_THERMAL_TRIPS),
    ZoneSpec("soc2-thermal", _ORIN_THERMAL_TRIPS),
    ZoneSpec("tj-thermal", (("active", 46.0), ("active", 60.0), ("active", 70.0), ("passive", 99.0),
                            ("critical", 104.5))),
)
_ORIN_FAN = FanSpec("pwm-fan", "platform/pwm-fan", 2, f"{_BUS0}/39c0000.tachometer", 0)
_ORIN_RELEASE_TAIL = ", BOARD: generic, EABI: aarch64, DATE: Mon Jun 16 16:07:13 UTC 2025"

AGX_ORIN_JP6 = ModelSpec(
    name="agx-orin-jp6",
    board=BoardSpec(
        model="NVIDIA Jetson AGX Orin Developer Kit",
        compatible=("nvidia,p3737-0000+p3701-0005", "nvidia,p3701-0005", "nvidia,tegra234", "nvidia,tegra23x"),
        serial="1424322006417",
        release="# R36 (release), REVISION: 4.4, GCID: 41062509" + _ORIN_RELEASE_TAIL,
    ),
    clusters=tuple(ClusterSpec(tuple(range(4 * i, 4 * i + 4)), _A78AE_AGX) for i in range(3)),
    gpu=GpuSpec(
        device=f"{_BUS0}/17000000.gpu",
        devfreq=(DevfreqSpec("17000000.gpu", _GA10B),),
        tpc_pg_mask=True,
        aliases=("platform/gpu.0",),
        gpc_clocks=2,
    ),
    other_devfreq=((f"{_BUS0}/13e40000.host1x/15340000.vic",
                    DevfreqSpec("15340000.vic", (115200000, 345600000, 729600000, 1036800000))),),
    emc=EmcSpec(clock="bpmp", activity="cactmon", iso_cap=True),
    memory=MemorySpec(),
    thermal=_ORIN_ZONES,
    cooling_devices=("pwm-fan", "cpu-throttle-alert"),
    power=(
        InaSpec(1, 0x40, _I2C1, "ina3221", ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"), hwmon=1, summing=True),
        InaSpec(1, 0x41, _I2C1, "ina3221", ("NC", "VDDQ_VDD2_1V8AO", "NC"), hwmon=3, summing=True),
    ),
    i2c_devices=(I2cDeviceSpec(1, 0x08, _I2C1, "ccgx-ucsi"),),
    power_supplies=(
        PowerSupplySpec("ucsi-source-psy-1-00081", f"{_I2C1}/i2c-1/1-0008", "USB", 20000000, 3250000),
    ),
    fans=(_ORIN_FAN,),
    nvpmodel=NvpmodelSpec(
        conf="nvpmodel_p3701_0000.conf",
        modes=_modes((0, "MAXN", 12, 1300500000), (1, "MODE_15W", 4, 408000000), (2, "MODE_30W", 8, 612000000),
                     (3, "MODE_50W", 12, 816000000)),
        default=2,
        linked=True,
        fan_mode="quiet",
    ),
    clocks=(
        ClockSpec("ape", 0, 233472000),
        ClockSpec("dla0_core", 0, 1600000000),
        ClockSpec("dla0_falcon", 0, 819200000),
        ClockSpec("dla1_core", 0, 1600000000),
        ClockSpec("dla1_falcon", 0, 819200000),
        ClockSpec("emc", 204000000, 3199000000, kind="emc"),
        ClockSpec("nvdec", 0, 1164200000),
        ClockSpec("nvdec.buf", 0, 1164200000, kind="static"),
        ClockSpec("nvenc", 0, 1164200000),
        ClockSpec("nvjpg", 0, 959900000),
        ClockSpec("nvjpg1", 0, 959900000),
        ClockSpec("ofa", 0, 1029600000),
        ClockSpec("pva0_cpu_axi", 0, 1216000000),
        ClockSpec("pva0_vps", 0, 1216000000),
        ClockSpec("se", 0, 1164200000),
        ClockSpec("uartb", 0, 408000000, kind="static"),
        ClockSpec("vic", 0, 1036800000),
    ),
    files=(*_NVFANCONTROL_FILES, _iovmm_maps(("gnome-shell", 78112), ("python3", 1048576), ("Xorg", 53344))),
)

AGX_ORIN_JP6_STATE = BoardState(
    cpus=_cpus(12, busy=0.15),
    clusters=(
        ClusterState(1728000e3, 115200e3, 2201600e3),
        ClusterState(2201600e3, 115200e3, 2201600e3),
        ClusterState(729600e3, 115200e3, 2201600e3),
    ),
    gpu=GpuState(devfreq=(DevfreqState(918000000, 306000000, 1300500000),), load=0.137,
                 gpc_freq_hz=(916800000, 918100000)),
    emc=EmcState(freq_hz=3199e6, min_freq_hz=204e6, max_freq_hz=3199e6, utilization=0.12),
    memory=MemoryState(
        total_bytes=64335836 * KIB,
        free_bytes=55112984 * KIB,
        available_bytes=60338796 * KIB,
        buffers_bytes=220512 * KIB,
        cached_bytes=4613724 * KIB,
        sreclaimable_bytes=305996 * KIB,
        nvmap_bytes=1180032 * KIB,
        swap_total_bytes=32167900 * KIB,
        swap_free_bytes=32167900 * KIB,
        buddy=((9, 7, 5, 6, 4, 3, 3, 2, 1, 2, 235), (4407, 3121, 1860, 1044, 512, 260, 128, 71, 36, 20, 13010)),
    ),
    temps_c={
        "cpu-thermal": 47.468,
        "gpu-thermal": 45.312,
        "cv0-thermal": 44.781,
        "cv1-thermal": None,  # the CV cluster's sensor is off: reads -256000
        "cv2-thermal": 44.593,
        "soc0-thermal": 44.937,
        "soc1-thermal": 45.218,
        "soc2-thermal": 44.906,
        "tj-thermal": 47.468,
    },
    rails={
        "VDD_GPU_SOC": RailState(4.984, 0.480),
        "VDD_CPU_CV": RailState(4.984, 0.160),
        "VIN_SYS_5V0": RailState(4.976, 0.648),
        "VDDQ_VDD2_1V8AO": RailState(4.976, 0.081),
    },
    fans={"pwm-fan": FanState(0.34, 1640)},
    engines={
        "ape": _engine(True, 233.472),
        "dla0_core": _engine(False, 1600.0),
        "dla0_falcon": _engine(False, 819.2),
        "dla1_core": _engine(False, 1600.0),
        "dla1_falcon": _engine(False, 819.2),
        "nvdec": _engine(True, 716.8),
        "nvenc": _engine(False, 1164.2),
        "nvjpg": _engine(False, 959.9),
        "nvjpg1": _engine(False, 959.9),
        "ofa": _engine(False, 1029.6),
        "pva0_cpu_axi": _engine(False, 1216.0),
        "pva0_vps": _engine(False, 1216.0),
        "se": _engine(True, 1164.2),
        "vic": _engine(True, 729.6),
    },
    power_mode=0,
)

# --------------------------------------------------------------------------------------------
# Jetson Orin Nano 8GB developer kit (Super), JetPack 6.2 (L4T 36.4.3), 7W: two cores off
# --------------------------------------------------------------------------------------------

ORIN_NANO_JP6 = ModelSpec(
    name="orin-nano-jp6",
    board=BoardSpec(
        model="NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super",
        compatible=("nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234", "nvidia,tegra23x"),
        serial="1423723051776",
        release="# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
                "DATE: Wed Jan  8 01:49:37 UTC 2025",
    ),
    clusters=(ClusterSpec((0, 1, 2, 3), _A78AE_NANO), ClusterSpec((4, 5), _A78AE_NANO)),
    gpu=GpuSpec(
        device=f"{_BUS0}/17000000.gpu",
        devfreq=(DevfreqSpec("17000000.gpu", _GA10B_NANO),),
        tpc_pg_mask=True,
        aliases=("platform/gpu.0",),
        gpc_clocks=2,
    ),
    emc=EmcSpec(clock="bpmp", activity="cactmon", iso_cap=True),
    memory=MemorySpec(buddy_orders=10),  # lfb blocks of 2 MB on this kernel
    thermal=_ORIN_ZONES,
    cooling_devices=("pwm-fan",),
    power=(
        InaSpec(1, 0x40, _I2C1, "ina3221", ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"), hwmon=1, summing=True,
                limits_ma=((7784, 7784),)),
    ),
    fans=(_ORIN_FAN,),
    nvpmodel=NvpmodelSpec(
        conf="nvpmodel_p3767_0003_super.conf",
        modes=_modes((0, "15W", 6, 612000000), (1, "25W", 6, 918000000), (2, "MAXN_SUPER", 6, 1020000000),
                     (3, "7W", 4, 408000000)),
        default=2,
        linked=True,
        fan_mode="quiet",
    ),
    clocks=(
        ClockSpec("ape", 0, 233472000),
        ClockSpec("emc", 204000000, 3199000000, kind="emc"),
        ClockSpec("nvdec", 0, 793600000),
        ClockSpec("nvjpg", 0, 640000000),
        ClockSpec("nvjpg1", 0, 640000000),
        ClockSpec("ofa", 0, 844800000),
        ClockSpec("se", 0, 793600000),
        ClockSpec("vic", 0, 729600000),
    ),
    files=(*_NVFANCONTROL_FILES, _iovmm_maps(("python3", 262144))),
)

ORIN_NANO_JP6_STATE = BoardState(
    cpus=_cpus(6, offline=(4, 5), busy=0.25),
    clusters=(ClusterState(960000e3, 115200e3, 960000e3), ClusterState(729600e3, 115200e3, 960000e3)),
    gpu=GpuState(devfreq=(DevfreqState(306000000, 306000000, 408000000),), load=0.062,
                 gpc_freq_hz=(306000000, 305900000)),
    emc=EmcState(freq_hz=2133e6, min_freq_hz=204e6, max_freq_hz=2133e6, utilization=0.05),
    memory=MemoryState(
        total_bytes=7802124 * KIB,
        free_bytes=3412660 * KIB,
        available_bytes=5708936 * KIB,
        buffers_bytes=84772 * KIB,
        cached_bytes=2161876 * KIB,
        sreclaimable_bytes=112904 * KIB,
        nvmap_bytes=305172 * KIB,
        swap_total_bytes=3901044 * KIB,
        swap_free_bytes=3899508 * KIB,
        swap_cached_bytes=512 * KIB,
        buddy=((14, 10, 8, 6, 4, 4, 3, 2, 1, 310), (1520, 1033, 600, 321, 160, 88, 41, 20, 12, 1184)),
    ),
    temps_c={
        "cpu-thermal": 43.218,
        "gpu-thermal": 42.031,
        "cv0-thermal": None,  # no CV cluster on Orin Nano: the zones exist and read -256000
        "cv1-thermal": None,
        "cv2-thermal": None,
        "soc0-thermal": 41.562,
        "soc1-thermal": 41.875,
        "soc2-thermal": 41.343,
        "tj-thermal": 43.218,
    },
    rails={
        "VDD_IN": RailState(5.032, 1.424),
        "VDD_CPU_GPU_CV": RailState(5.032, 0.296),
        "VDD_SOC": RailState(5.032, 0.392),
    },
    fans={"pwm-fan": FanState(0.6, 2520)},
    engines={
        "ape": _engine(True, 233.472),
        "nvdec": _engine(False, 793.6),
        "nvjpg": _engine(False, 640.0),
        "nvjpg1": _engine(False, 640.0),
        "ofa": _engine(False, 844.8),
        "se": _engine(True, 793.6),
        "vic": _engine(False, 729.6),
    },
    power_mode=3,
)

# --------------------------------------------------------------------------------------------
# Jetson AGX Thor developer kit, JetPack 7.0 (L4T 38.2)
# --------------------------------------------------------------------------------------------
# JETSON.md documents the devfreq names (gpu-gpc-0, gpu-nvd-0, bwmgr), the zone names, the rail
# names and the missing files. Where the GPU's parent device sits is not documented: it is
# modelled as a PCI function without a device-tree node, so only the devfreq names identify it.

THOR_JP7 = ModelSpec(
    name="thor-jp7",
    board=BoardSpec(
        model="NVIDIA Jetson AGX Thor Developer Kit",
        compatible=("nvidia,p4071-0000+p3834-0008", "nvidia,p3834-0008", "nvidia,tegra264"),
        serial="1425025000318",
        release="# R38 (release), REVISION: 2.0, GCID: 41844464, BOARD: generic, EABI: aarch64, "
                "DATE: Fri Aug 22 00:55:42 UTC 2025",
    ),
    clusters=tuple(ClusterSpec((i,), _NEOVERSE_V3AE, driver="cppc_cpufreq") for i in range(14)),
    gpu=GpuSpec(
        device="pci0001:00/0001:00:00.0",
        devfreq=(
            DevfreqSpec("gpu-gpc-0", (360000000, 720000000, 1080000000, 1575000000)),
            DevfreqSpec("gpu-nvd-0", (396000000, 792000000, 1188000000, 1692000000)),
        ),
        has_load=False,
        flag_files=(),
        bus="pci",
        of_node=False,
    ),
    emc=EmcSpec(clock="bwmgr", activity="bpmp-actmon",
                available_hz=(2133000000, 3200000000, 4266000000)),
    memory=MemorySpec(nvmap=False),
    thermal=(
        ZoneSpec("cpu-thermal", _ORIN_THERMAL_TRIPS),
        ZoneSpec("gpu-thermal", _ORIN_THERMAL_TRIPS),
        ZoneSpec("tj-thermal", _ORIN_THERMAL_TRIPS),
        ZoneSpec("soc012-thermal", _ORIN_THERMAL_TRIPS),
        ZoneSpec("soc345-thermal", _ORIN_THERMAL_TRIPS),
    ),
    cooling_devices=("pwm-fan",),
    power=(
        InaSpec(1, 0x40, _I2C1, "ina3221", ("VDD_GPU", "VDD_CPU_SOC_MSS", "VIN_SYS_5V0"), hwmon=2, summing=True),
        InaSpec(1, 0x44, _I2C1, "ina238", ("VIN",), hwmon=1, shunt_uohm=2000),  # module input
    ),
    fans=(_ORIN_FAN,),
    nvpmodel=NvpmodelSpec(
        conf="nvpmodel_p3834_0008.conf",
        modes=_modes((0, "MAXN", 14, 1575000000), (1, "120W", 14, 1575000000), (2, "90W", 12, 1080000000),
                     (3, "70W", 10, 1080000000)),
        default=1,
        linked=True,
        fan_mode="quiet",
    ),
    files=_NVFANCONTROL_FILES,
)

THOR_JP7_STATE = BoardState(
    cpus=_cpus(14, busy=0.1),
    clusters=tuple(
        ClusterState(f * 1e3, 972000e3, 2601000e3)
        for f in (2601000, 1716000, 972000, 2088000, 972000, 1530000, 2601000,
                  972000, 1344000, 972000, 2274000, 972000, 1158000, 972000)
    ),
    gpu=GpuState(devfreq=(DevfreqState(1575000000, 360000000, 1575000000),
                          DevfreqState(1188000000, 396000000, 1692000000))),
    emc=EmcState(freq_hz=4266e6, min_freq_hz=2133e6, max_freq_hz=4266e6, utilization=0.08),
    memory=MemoryState(
        total_bytes=128024900 * KIB,
        free_bytes=118402260 * KIB,
        available_bytes=123500420 * KIB,
        buffers_bytes=310440 * KIB,
        cached_bytes=4801328 * KIB,
        sreclaimable_bytes=402188 * KIB,
        buddy=((3, 2, 2, 1, 1, 1, 0, 1, 0, 1, 240), (8804, 6100, 3222, 1820, 940, 471, 230, 118, 60, 33, 28310)),
    ),
    temps_c={
        "cpu-thermal": 46.2,
        "gpu-thermal": 44.1,
        "tj-thermal": 48.3,
        "soc012-thermal": 45.5,
        "soc345-thermal": 45.9,
    },
    rails={
        "VIN": RailState(19.456, 2.304),
        "VDD_GPU": RailState(19.456, 0.640),
        "VDD_CPU_SOC_MSS": RailState(19.456, 0.896),
        "VIN_SYS_5V0": RailState(5.008, 1.120),
    },
    fans={"pwm-fan": FanState(0.3, 1350)},
    power_mode=1,
)

MODELS: Dict[str, Model] = {
    m.spec.name: m
    for m in (
        Model(NANO_JP4, NANO_JP4_STATE),
        Model(NANO_2GB_JP4, NANO_2GB_JP4_STATE),
        Model(XAVIER_NX_JP5, XAVIER_NX_JP5_STATE),
        Model(AGX_XAVIER_JP5, AGX_XAVIER_JP5_STATE),
        Model(AGX_ORIN_JP6, AGX_ORIN_JP6_STATE),
        Model(ORIN_NANO_JP6, ORIN_NANO_JP6_STATE),
        Model(THOR_JP7, THOR_JP7_STATE),
    )
}
