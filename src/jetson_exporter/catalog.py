"""Every metric the exporter can serve, defined once: name, type, unit, help, labels, source.

Exposition builds families only from these entries, docs/METRICS.md is generated from them, and
the names in DESIGN.md's "Core names" table are a public contract (dashboards, alerts, the
doctor and the views depend on them): add freely, rename never without a migration note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

GAUGE = "gauge"
COUNTER = "counter"


@dataclass(frozen=True)
class Metric:
    name: str  # full exposed name; counters include `_total`
    kind: str  # gauge or counter
    help: str
    labels: Tuple[str, ...] = ()
    unit: str = ""  # OpenMetrics unit, the last word of the name before `_total`
    collector: str = ""  # the collector that produces it (`--collector.NAME`); "" = exporter itself
    source: str = ""  # where the value comes from, for the reference documentation
    core: bool = False  # part of the public contract

    @property
    def family(self) -> str:
        """Name without the `_total` suffix, as client libraries name counter families."""
        return self.name[: -len("_total")] if self.kind == COUNTER else self.name


def _m(name: str, kind: str, help: str, *labels: str, unit: str = "", collector: str = "", source: str = "",
       core: bool = False) -> Metric:
    return Metric(name, kind, help, tuple(labels), unit, collector, source, core)


_PROC_STAT = "/proc/stat"
_CPUFREQ = "/sys/devices/system/cpu/cpufreq/policy*/scaling_{cur,min,max}_freq (kHz)"
_DEVFREQ = "/sys/class/devfreq/<gpu>/{cur,min,max}_freq (Hz); GPU found by device-tree node name"
_INA = ("INA3221: /sys/bus/i2c/devices/*/hwmon/hwmon*/{inN_label,inN_input,currN_input} (JetPack 5+), "
        "iio:device*/{rail_name_N,in_voltageN_input,in_currentN_input,in_powerN_input} (JetPack 4)")

CATALOG: Tuple[Metric, ...] = (
    # -- board -----------------------------------------------------------------------------------
    _m("jetson_info", GAUGE, "Board identity; always 1.", "model", "module", "soc", "l4t", "jetpack", "cuda_arch",
       collector="board", core=True,
       source="/etc/nv_tegra_release (R and REVISION), device tree model and compatible; JetPack from a table"),
    _m("jetson_board_info", GAUGE, "Carrier board part number and module serial; always 1.", "carrier", "serial",
       collector="board", source="device tree compatible and serial-number"),
    # -- cpu -------------------------------------------------------------------------------------
    _m("jetson_cpu_online", GAUGE, "1 if the core is online, 0 if nvpmodel or hotplug switched it off.", "cpu",
       collector="cpu", core=True, source="/sys/devices/system/cpu/online"),
    _m("jetson_cpu_utilization_ratio", GAUGE, "Core load over the last sampler tick, 0-1 (online cores).", "cpu",
       unit="ratio", collector="cpu", core=True, source=f"{_PROC_STAT} deltas"),
    _m("jetson_cpu_seconds_total", COUNTER, "Time the core spent in each mode since boot.", "cpu", "mode",
       unit="seconds", collector="cpu", core=True, source=_PROC_STAT),
    _m("jetson_cpu_frequency_hertz", GAUGE, "Current clock of an online core.", "cpu", unit="hertz",
       collector="cpu", core=True, source=_CPUFREQ),
    _m("jetson_cpu_frequency_min_hertz", GAUGE, "Lowest clock the governor may use (scaling_min_freq).", "cpu",
       unit="hertz", collector="cpu", source=_CPUFREQ),
    _m("jetson_cpu_frequency_max_hertz", GAUGE, "Highest clock the governor may use (scaling_max_freq).", "cpu",
       unit="hertz", collector="cpu", source=_CPUFREQ),
    _m("jetson_cpu_governor_info", GAUGE, "cpufreq governor of an online core; always 1.", "cpu", "governor",
       collector="cpu", source="cpufreq scaling_governor"),
    # -- gpu -------------------------------------------------------------------------------------
    _m("jetson_gpu_utilization_ratio", GAUGE, "GPU load 0-1 (absent where the board has no load file, e.g. Thor).",
       unit="ratio", collector="gpu", core=True, source="<gpu device>/load (per mille)"),
    _m("jetson_gpu_busy_seconds_total", COUNTER, "GPU load integrated over time: rate() is the exact average load.",
       unit="seconds", collector="gpu", core=True, source="integrated by the sampler from the load"),
    _m("jetson_gpu_frequency_hertz", GAUGE, "Current GPU clock.", unit="hertz", collector="gpu", core=True,
       source=_DEVFREQ),
    _m("jetson_gpu_frequency_min_hertz", GAUGE, "Lowest GPU clock devfreq may use.", unit="hertz", collector="gpu",
       core=True, source=_DEVFREQ),
    _m("jetson_gpu_frequency_max_hertz", GAUGE, "Highest GPU clock devfreq may use.", unit="hertz",
       collector="gpu", core=True, source=_DEVFREQ),
    _m("jetson_gpu_gpc_frequency_hertz", GAUGE, "Clock of one graphics processing cluster.", "gpc", unit="hertz",
       collector="gpu", source="debugfs bpmp/debug/clk/nafll_gpcN/pto_counter (Orin, root); devfreq gpu-gpc-N (Thor)"),
    _m("jetson_gpu_governor_info", GAUGE, "devfreq governor of the GPU; always 1.", "governor", collector="gpu",
       source="<gpu devfreq>/governor"),
    _m("jetson_gpu_railgate_enabled", GAUGE, "1 if the GPU may be power-gated when idle.", collector="gpu",
       source="<gpu device>/railgate_enable"),
    _m("jetson_gpu_railgated", GAUGE, "1 while the GPU is power-gated.", collector="gpu",
       source="<gpu device>/is_railgated (Nano)"),
    _m("jetson_gpu_3d_scaling_enabled", GAUGE, "1 if GPU frequency scaling is enabled.", collector="gpu",
       source="<gpu device>/enable_3d_scaling"),
    # -- emc -------------------------------------------------------------------------------------
    _m("jetson_emc_frequency_hertz", GAUGE, "Memory controller clock.", unit="hertz", collector="emc", core=True,
       source="debugfs bpmp/debug/clk/emc/rate (root), /sys/class/devfreq/bwmgr (Thor), clk/override.emc (Nano)"),
    _m("jetson_emc_frequency_min_hertz", GAUGE, "Lowest memory controller clock.", unit="hertz", collector="emc",
       source="as jetson_emc_frequency_hertz"),
    _m("jetson_emc_frequency_max_hertz", GAUGE, "Highest memory controller clock, after the nvpmodel cap.",
       unit="hertz", collector="emc", source="as jetson_emc_frequency_hertz; /sys/kernel/nvpmodel_emc_cap"),
    _m("jetson_emc_utilization_ratio", GAUGE, "Memory controller load 0-1.", unit="ratio", collector="emc",
       core=True, source="actmon mc_all activity / EMC clock (kHz) / 100"),
    # -- memory ----------------------------------------------------------------------------------
    _m("jetson_memory_total_bytes", GAUGE, "RAM total.", unit="bytes", collector="memory", core=True,
       source="/proc/meminfo MemTotal"),
    _m("jetson_memory_used_bytes", GAUGE, "RAM used: total - free - buffers - cached, as tegrastats counts it.",
       unit="bytes", collector="memory", core=True, source="/proc/meminfo"),
    _m("jetson_memory_free_bytes", GAUGE, "RAM not used at all.", unit="bytes", collector="memory",
       source="/proc/meminfo MemFree"),
    _m("jetson_memory_available_bytes", GAUGE, "RAM available for new allocations without swapping.", unit="bytes",
       collector="memory", source="/proc/meminfo MemAvailable"),
    _m("jetson_memory_buffers_bytes", GAUGE, "RAM in block device buffers.", unit="bytes", collector="memory",
       source="/proc/meminfo Buffers"),
    _m("jetson_memory_cached_bytes", GAUGE, "RAM in the page cache and reclaimable slab.", unit="bytes",
       collector="memory", source="/proc/meminfo Cached + SReclaimable"),
    _m("jetson_memory_gpu_shared_bytes", GAUGE, "RAM held by GPU allocations (NvMap; absent on Thor).",
       unit="bytes", collector="memory", core=True, source="/proc/meminfo NvMapMemUsed"),
    _m("jetson_swap_total_bytes", GAUGE, "Swap total.", unit="bytes", collector="memory", core=True,
       source="/proc/meminfo SwapTotal"),
    _m("jetson_swap_used_bytes", GAUGE, "Swap used.", unit="bytes", collector="memory", core=True,
       source="/proc/meminfo SwapTotal - SwapFree"),
    _m("jetson_swap_cached_bytes", GAUGE, "Swapped-out memory also still in RAM.", unit="bytes",
       collector="memory", source="/proc/meminfo SwapCached"),
    _m("jetson_memory_lfb_blocks", GAUGE, "Free blocks of the largest size the allocator has (tegrastats lfb).",
       collector="memory", source="/proc/buddyinfo, highest order summed over zones"),
    _m("jetson_memory_lfb_block_bytes", GAUGE, "Size of one largest free block.", unit="bytes",
       collector="memory", source="page size x 2^(orders - 1)"),
    _m("jetson_memory_iram_total_bytes", GAUGE, "IRAM size (tegra210).", unit="bytes", collector="memory",
       source="debugfs nvmap/iram/size (root)"),
    _m("jetson_memory_iram_used_bytes", GAUGE, "IRAM used (tegra210).", unit="bytes", collector="memory",
       source="tegrastats IRAM"),
    # -- engines ---------------------------------------------------------------------------------
    _m("jetson_engine_active", GAUGE, "1 while the engine is clocked, 0 while it is off.", "engine",
       collector="engines", core=True, source="debugfs clk/<engine>/clk_enable_count (root)"),
    _m("jetson_engine_frequency_hertz", GAUGE, "Engine clock.", "engine", unit="hertz", collector="engines",
       core=True, source="debugfs clk/<engine>/clk_rate (root)"),
    _m("jetson_engine_active_seconds_total", COUNTER, "Time the engine was on.", "engine", unit="seconds",
       collector="engines", core=True, source="integrated by the sampler from jetson_engine_active"),
    _m("jetson_engine_utilization_ratio", GAUGE, "Engine load 0-1 where the source reports it.", "engine",
       unit="ratio", collector="engines", source="tegrastats `NAME p%@f` (JetPack 6+)"),
    # -- thermal ---------------------------------------------------------------------------------
    _m("jetson_temperature_celsius", GAUGE, "Thermal zone temperature (switched-off and placeholder zones absent).",
       "zone", unit="celsius", collector="thermal", core=True,
       source="/sys/class/thermal/thermal_zone*/{type,temp} (m°C)"),
    _m("jetson_temperature_trip_point_celsius", GAUGE, "Lowest trip point of each type of a zone.", "zone", "type",
       unit="celsius", collector="thermal", source="thermal_zone*/trip_point_N_{type,temp}"),
    # -- power -----------------------------------------------------------------------------------
    _m("jetson_power_watts", GAUGE, "Power drawn through a rail.", "rail", unit="watts", collector="power",
       core=True, source=_INA),
    _m("jetson_voltage_volts", GAUGE, "Rail bus voltage.", "rail", unit="volts", collector="power", core=True,
       source=_INA),
    _m("jetson_current_amperes", GAUGE, "Rail current.", "rail", unit="amperes", collector="power", core=True,
       source=_INA),
    _m("jetson_current_limit_amperes", GAUGE, "Rail current limit: warn (currN_max) or crit (currN_crit).",
       "rail", "level", unit="amperes", collector="power",
       source="hwmon currN_{max,crit}, IIO {warn,crit}_current_limit_N"),
    _m("jetson_current_alarm", GAUGE, "1 while the rail's current is above its warn or crit limit.", "rail",
       "level", collector="power", source="hwmon currN_{max,crit}_alarm"),
    _m("jetson_energy_joules_total", COUNTER, "Energy through a rail, integrated by the sampler.", "rail",
       unit="joules", collector="power", core=True, source="integrated from jetson_power_watts"),
    _m("jetson_board_power_watts", GAUGE, "Whole-module input power, never counting a rail twice.",
       unit="watts", collector="power", core=True,
       source="VDD_IN / POM_5V_IN; AGX Orin VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0; AGX Xavier sum of its six rails"),
    _m("jetson_board_energy_joules_total", COUNTER, "Whole-module input energy.", unit="joules",
       collector="power", core=True, source="integrated from jetson_board_power_watts"),
    # -- fan -------------------------------------------------------------------------------------
    _m("jetson_fan_speed_ratio", GAUGE, "Commanded fan PWM, 0-1.", "fan", unit="ratio", collector="fan", core=True,
       source="hwmon pwmfan pwm1 (0-255); /sys/devices/pwm-fan/target_pwm (JetPack 4)"),
    _m("jetson_fan_rpm", GAUGE, "Measured fan speed in revolutions per minute.", "fan", collector="fan", core=True,
       source="hwmon pwm_tach rpm; /sys/devices/pwm-fan/rpm_measured (JetPack 4)"),
    # -- power mode ------------------------------------------------------------------------------
    _m("jetson_power_mode_info", GAUGE, "nvpmodel power mode; always 1.", "id", "name", collector="powermode",
       core=True, source="/var/lib/nvpmodel/status (pmode:NNNN) and /etc/nvpmodel.conf"),
    _m("jetson_clocks_enabled", GAUGE, "1 when jetson_clocks pins CPU and GPU (and EMC, where readable) clocks.",
       collector="powermode", core=True, source="derived: every online CPU and the GPU at min == max"),
    # -- the exporter itself ---------------------------------------------------------------------
    _m("jetson_exporter_build_info", GAUGE, "Exporter version and the source it reads; always 1.", "version",
       "source", "python_version", source="the running exporter"),
    _m("jetson_exporter_device_detected", GAUGE, "1 if a Jetson was found at the configured paths, else 0.",
       source="nv_tegra_release, device-tree compatible"),
    _m("jetson_exporter_collector_success", GAUGE, "1 if the collector's last read succeeded.", "collector",
       source="sampler"),
    _m("jetson_exporter_collector_duration_seconds", GAUGE, "Duration of the collector's last read.",
       "collector", unit="seconds", source="sampler"),
    _m("jetson_exporter_collector_errors_total", COUNTER, "Reads of the collector that failed or timed out.",
       "collector", source="sampler"),
    _m("jetson_exporter_tegrastats_lines_total", COUNTER, "Lines read from tegrastats.",
       source="tegrastats source"),
    _m("jetson_exporter_tegrastats_bad_lines_total", COUNTER,
       "Lines that were not tegrastats output (or longer than 64 KiB) and were skipped.", source="tegrastats source"),
    _m("jetson_exporter_tegrastats_unknown_tokens_total", COUNTER,
       "Tokens of good lines that the parser did not know and skipped.", source="tegrastats source"),
    _m("jetson_exporter_tegrastats_restarts_total", COUNTER, "Restarts of tegrastats or reopenings of its file.",
       source="tegrastats source"),
    _m("jetson_exporter_last_sample_timestamp_seconds", GAUGE, "Unix time of the last completed sampler tick.",
       unit="seconds", source="sampler"),
)

BY_NAME: Dict[str, Metric] = {m.name: m for m in CATALOG}
assert len(BY_NAME) == len(CATALOG), "duplicate metric in catalog"
