"""Writes a Jetson host root (`sys/`, `proc/`, `etc/`, `var/`) for a model spec and a state.

The tree has the kernel's file names, value formats and units (cpufreq kHz, devfreq Hz, m°C,
mV/mA/µV, GPU load per mille, meminfo kB, device-tree strings ending in NUL) and its link
structure: `/sys/class/*/X` and `/sys/bus/*/devices/X` are relative symlinks into
`/sys/devices/...`, devices have `device` and `of_node` links, `/etc/nvpmodel.conf` is an
absolute symlink on JetPack 5+.

A `DeviceTree` lays the tree out once (`build`), then `write_state` rewrites only the value
files whose content changed, each in place: a reader never finds a value file missing, and the
layout readers cached at discovery stays valid. Regenerate the checked-in fixtures with

    python -m jetson_exporter.simulate.devicetree tests/fixtures
"""

from __future__ import annotations

import argparse
import contextlib
import os
import posixpath
import re
import shutil
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Set, Union

from jetson_exporter.simulate.models import (
    MODELS,
    BoardState,
    ClusterSpec,
    CpuTimes,
    FanSpec,
    InaSpec,
    ModelSpec,
    RailState,
)

USER_HZ = 100  # /proc/stat tick rate: fixed at 100 for userspace on arm64
OFF_MILLI_C = -256000  # what a switched-off Tegra thermal zone reads
_PWM_MAX = 255
_INA3221_DEFAULT_LIMIT_UV = 163800  # the alert registers' reset value, as a shunt voltage

DEVICES = "sys/devices"
DT_BASE = "sys/firmware/devicetree/base"
DEBUGFS = "sys/kernel/debug"
_HEX_UNIT = re.compile(r"([0-9a-f]+)\.(.+)$")


class _Files:
    """Root-relative paths to contents, and symlinks to their targets."""

    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {}
        self.links: Dict[str, str] = {}

    def put(self, path: str, content: Union[str, bytes, int]) -> None:
        if isinstance(content, int):
            content = f"{content}\n"
        data = content.encode() if isinstance(content, str) else content
        previous = self.files.get(path)
        if previous is not None and previous != data:
            raise ValueError(f"{path} is written twice with different content")
        self.files[path] = data

    def link(self, path: str, target: str) -> None:
        """A relative symlink at `path` to the root-relative `target`, as sysfs makes them."""
        self.links[path] = posixpath.relpath(target, posixpath.dirname(path))

    def absolute_link(self, path: str, target: str) -> None:
        """A symlink whose target is an absolute host path (only valid with the tree as `/`)."""
        self.links[path] = "/" + target


def _dt_string(value: str) -> bytes:
    return value.encode() + b"\0"


def _cpu_list(cpus: Iterable[int]) -> str:
    """[0, 1, 2, 4] -> "0-2,4", the kernel's range-list format."""
    ranges: List[str] = []
    ordered = sorted(cpus)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        ranges.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(ranges)


def _dt_node(device: str) -> str:
    """Device-tree node of a platform device: `platform/bus@0/17000000.gpu` -> `bus@0/gpu@17000000`."""
    parts = device.split("/")
    if parts[0] == "platform":
        parts = parts[1:]
    nodes = []
    for part in parts:
        m = _HEX_UNIT.match(part)
        nodes.append(f"{m.group(2)}@{m.group(1)}" if m else part)
    return "/".join(nodes)


def _hz(value: float) -> int:
    return round(value)


class _Layout:
    """Where each part of a model lives; writes the static layout and renders value files."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    # -- paths ---------------------------------------------------------------------------------

    @staticmethod
    def cpu_dir(*parts: str) -> str:
        return posixpath.join(DEVICES, "system", "cpu", *parts)

    def policy_dir(self, cluster: ClusterSpec) -> str:
        return self.cpu_dir("cpufreq", f"policy{cluster.cpus[0]}")

    def gpu_dir(self) -> str:
        return posixpath.join(DEVICES, self.spec.gpu.device)

    def devfreq_dir(self, device: str, name: str) -> str:
        return posixpath.join(DEVICES, device, "devfreq", name)

    @staticmethod
    def zone_dir(n: int) -> str:
        return f"{DEVICES}/virtual/thermal/thermal_zone{n}"

    @staticmethod
    def i2c_client(controller: str, bus: int, address: int) -> str:
        return f"{DEVICES}/{controller}/i2c-{bus}/{bus}-{address:04x}"

    def ina_dir(self, ina: InaSpec) -> str:
        client = self.i2c_client(ina.controller, ina.bus, ina.address)
        if ina.hwmon is None:
            return f"{client}/iio:device{ina.iio}"
        return f"{client}/hwmon/hwmon{ina.hwmon}"

    @staticmethod
    def fan_pwm_dir(fan: FanSpec) -> str:
        base = f"{DEVICES}/{fan.pwm_device}"
        return base if fan.pwm_hwmon is None else f"{base}/hwmon/hwmon{fan.pwm_hwmon}"

    @staticmethod
    def fan_tach_dir(fan: FanSpec) -> Optional[str]:
        if fan.tach_device is None or fan.tach_hwmon is None:
            return None
        return f"{DEVICES}/{fan.tach_device}/hwmon/hwmon{fan.tach_hwmon}"

    # -- static layout -------------------------------------------------------------------------

    def layout(self) -> _Files:
        t = _Files()
        self._board(t)
        self._cpu(t)
        self._gpu(t)
        self._emc(t)
        self._memory(t)
        self._thermal(t)
        self._power(t)
        self._fans(t)
        self._nvpmodel(t)
        self._clocks(t)
        for host_path, text in self.spec.files:
            t.put(host_path.lstrip("/"), text)
        return t

    def _device(self, t: _Files, device: str, bus: Optional[str] = "platform", of_node: bool = True,
                node: Optional[str] = None) -> str:
        """A device directory with its bus link and device-tree node link."""
        path = posixpath.join(DEVICES, device)
        if of_node:
            node = node or _dt_node(device)
            prefix = DT_BASE
            for part in node.split("/"):
                prefix = posixpath.join(prefix, part)
                t.put(posixpath.join(prefix, "name"), _dt_string(part.split("@", 1)[0]))
            t.link(posixpath.join(path, "of_node"), posixpath.join(DT_BASE, node))
        if bus:
            t.link(f"sys/bus/{bus}/devices/{posixpath.basename(device)}", path)
        return path

    def _board(self, t: _Files) -> None:
        b = self.spec.board
        lib = "tegra" if b.release.startswith("# R32 ") else "nvidia"
        t.put("etc/nv_tegra_release",
              f"{b.release}\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
              f"TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/{lib}\n")
        t.put(f"{DT_BASE}/model", _dt_string(b.model))
        t.put(f"{DT_BASE}/compatible", b"".join(_dt_string(c) for c in b.compatible))
        t.put(f"{DT_BASE}/serial-number", _dt_string(b.serial))
        if b.boardids is not None:
            t.put(f"{DT_BASE}/nvidia,boardids", _dt_string(b.boardids))
        if b.dtsfilename is not None:
            t.put(f"{DT_BASE}/nvidia,dtsfilename", _dt_string(b.dtsfilename))
        t.absolute_link("proc/device-tree", DT_BASE)

    def _cpu(self, t: _Files) -> None:
        everything = _cpu_list(range(self.spec.cpu_count))
        t.put(self.cpu_dir("possible"), everything + "\n")
        t.put(self.cpu_dir("present"), everything + "\n")
        for cluster in self.spec.clusters:
            d = self.policy_dir(cluster)
            table = cluster.available_khz
            t.put(f"{d}/cpuinfo_min_freq", table[0])
            t.put(f"{d}/cpuinfo_max_freq", table[-1])
            t.put(f"{d}/cpuinfo_transition_latency", 500000)
            t.put(f"{d}/related_cpus", "".join(f"{c} " for c in cluster.cpus) + "\n")
            t.put(f"{d}/scaling_available_frequencies", "".join(f"{f} " for f in table) + "\n")
            t.put(f"{d}/scaling_available_governors",
                  "interactive conservative ondemand userspace powersave performance schedutil \n")
            t.put(f"{d}/scaling_driver", cluster.driver + "\n")
            t.put(f"{d}/scaling_setspeed", "<unsupported>\n")
            for cpu in cluster.cpus:
                t.link(self.cpu_dir(f"cpu{cpu}", "cpufreq"), d)

    def _gpu(self, t: _Files) -> None:
        g = self.spec.gpu
        path = self._device(t, g.device, bus=g.bus, of_node=g.of_node)
        t.put(f"{path}/power/control", "auto\n")
        if g.tpc_pg_mask:
            t.put(f"{path}/tpc_pg_mask", 0)
        for alias in g.aliases:
            t.link(posixpath.join(DEVICES, alias), path)
        for df in g.devfreq:
            self._devfreq(t, g.device, df.name, df.available_hz, df.governors)
            if df.name.startswith("gpu-"):  # Thor: the podgov tunables live beside the devfreq files
                d = self.devfreq_dir(g.device, df.name)
                t.put(f"{d}/nvhost_podgov/load_max", 900)
                t.put(f"{d}/nvhost_podgov/load_target", 700)
        for device, df in self.spec.other_devfreq:
            self._device(t, device)
            d = self._devfreq(t, device, df.name, df.available_hz, df.governors)
            top = df.available_hz[-1]
            for name, value in (("cur_freq", top), ("target_freq", top), ("min_freq", df.available_hz[0]),
                                ("max_freq", top)):
                t.put(f"{d}/{name}", value)
            t.put(f"{d}/governor", "nvhost_podgov\n")

    def _devfreq(self, t: _Files, device: str, name: str, table: Sequence[int], governors: Sequence[str]) -> str:
        d = self.devfreq_dir(device, name)
        t.put(f"{d}/available_frequencies", "".join(f"{f} " for f in table) + "\n")
        t.put(f"{d}/available_governors", " ".join(governors) + "\n")
        t.put(f"{d}/polling_interval", 0)
        t.link(f"{d}/device", posixpath.join(DEVICES, device))
        t.link(f"sys/class/devfreq/{name}", d)
        return d

    def _emc(self, t: _Files) -> None:
        e = self.spec.emc
        if e.clock == "bpmp":
            t.put(f"{DEBUGFS}/bpmp/debug/clk/emc/mrq_rate_locked", 0)
        elif e.clock == "tegra210":
            t.put(f"{DEBUGFS}/clk/override.emc/clk_state", 0)
        elif e.clock == "bwmgr":
            self._device(t, "platform/bwmgr", node="bwmgr")
            self._devfreq(t, "platform/bwmgr", "bwmgr", e.available_hz, ("performance", "userspace"))
        else:
            raise ValueError(f"unknown EMC clock source {e.clock!r}")

    def _memory(self, t: _Files) -> None:
        if self.spec.memory.iram_bytes is not None:
            t.put(f"{DEBUGFS}/nvmap/iram/size", f"{self.spec.memory.iram_bytes:x}\n")

    def _thermal(self, t: _Files) -> None:
        for n, zone in enumerate(self.spec.thermal):
            d = self.zone_dir(n)
            t.put(f"{d}/type", zone.type + "\n")
            t.put(f"{d}/mode", "enabled\n")
            t.put(f"{d}/policy", "step_wise\n")
            t.put(f"{d}/available_policies", "power_allocator user_space step_wise\n")
            for k, (kind, temp_c) in enumerate(zone.trips):
                t.put(f"{d}/trip_point_{k}_type", kind + "\n")
                t.put(f"{d}/trip_point_{k}_temp", round(temp_c * 1000))
                t.put(f"{d}/trip_point_{k}_hyst", 2000 if kind == "active" else 0)
            t.link(f"sys/class/thermal/thermal_zone{n}", d)
        for n, kind in enumerate(self.spec.cooling_devices):
            d = f"{DEVICES}/virtual/thermal/cooling_device{n}"
            t.put(f"{d}/type", kind + "\n")
            t.put(f"{d}/max_state", 3 if kind == "pwm-fan" else 1)
            t.put(f"{d}/cur_state", 0)
            t.link(f"sys/class/thermal/cooling_device{n}", d)

    def _i2c_client(self, t: _Files, controller: str, bus: int, address: int, chip: str, driver: str) -> str:
        self._device(t, controller)
        adapter = f"{DEVICES}/{controller}/i2c-{bus}"
        t.put(f"{adapter}/name", posixpath.basename(controller) + "\n")
        t.link(f"sys/bus/i2c/devices/i2c-{bus}", adapter)
        client = self.i2c_client(controller, bus, address)
        name = posixpath.basename(client)
        t.put(f"{client}/name", chip + "\n")
        t.put(f"{client}/modalias", f"i2c:{chip}\n")
        t.link(f"{client}/of_node", f"{DT_BASE}/{_dt_node(controller)}/{chip}@{address:x}")
        t.put(f"{DT_BASE}/{_dt_node(controller)}/{chip}@{address:x}/name", _dt_string(chip))
        t.link(f"{client}/driver", f"sys/bus/i2c/drivers/{driver}")
        t.link(f"sys/bus/i2c/drivers/{driver}/{name}", client)
        t.link(f"sys/bus/i2c/devices/{name}", client)
        return client

    def _power(self, t: _Files) -> None:
        for ina in self.spec.power:
            client = self._i2c_client(t, ina.controller, ina.bus, ina.address, ina.chip, ina.chip)
            d = self.ina_dir(ina)
            if ina.hwmon is not None:
                t.put(f"{d}/name", ina.chip + "\n")
                t.link(f"{d}/device", client)
                t.link(f"sys/class/hwmon/hwmon{ina.hwmon}", d)
            if ina.chip == "ina238":
                t.put(f"{d}/temp1_input", 41250)  # die temperature, m°C
                continue
            default_ma = _INA3221_DEFAULT_LIMIT_UV * 1000 // ina.shunt_uohm
            if ina.hwmon is None:  # JetPack 4: the NVIDIA IIO driver
                t.put(f"{d}/name", ina.chip + "\n")
                t.put(f"{d}/running_mode", 1)
                t.link(f"sys/bus/iio/devices/iio:device{ina.iio}", d)
                for c, label in enumerate(ina.channels):
                    warn, crit = ina.limits_ma[c] if c < len(ina.limits_ma) else (default_ma, default_ma)
                    t.put(f"{d}/rail_name_{c}", label + "\n")
                    t.put(f"{d}/warn_current_limit_{c}", warn)
                    t.put(f"{d}/crit_current_limit_{c}", crit)
                continue
            t.put(f"{d}/update_interval", 1)
            t.put(f"{d}/samples", 4)
            for c, label in enumerate(ina.channels, start=1):
                warn, crit = ina.limits_ma[c - 1] if c - 1 < len(ina.limits_ma) else (default_ma, default_ma)
                t.put(f"{d}/in{c}_label", label + "\n")
                t.put(f"{d}/in{c}_enable", 1)
                t.put(f"{d}/shunt{c}_resistor", ina.shunt_uohm)
                t.put(f"{d}/curr{c}_max", warn)
                t.put(f"{d}/curr{c}_crit", crit)
            if ina.summing:
                t.put(f"{d}/in7_label", "sum of shunt voltages\n")
                t.put(f"{d}/curr4_crit", default_ma)
        for other in self.spec.i2c_devices:
            self._i2c_client(t, other.controller, other.bus, other.address, other.chip, "ucsi_ccg")
        for supply in self.spec.power_supplies:
            d = f"{DEVICES}/{supply.parent}/power_supply/{supply.name}"
            t.put(f"{d}/type", supply.type + "\n")
            t.put(f"{d}/online", 1)
            t.put(f"{d}/usb_type", "C [PD] PD_PPS\n")
            t.put(f"{d}/voltage_now", supply.voltage_uv)
            t.put(f"{d}/voltage_max", supply.voltage_uv)
            t.put(f"{d}/current_now", supply.current_ua)
            t.put(f"{d}/current_max", supply.current_ua)
            t.link(f"{d}/device", f"{DEVICES}/{supply.parent}")
            t.link(f"sys/class/power_supply/{supply.name}", d)

    def _fans(self, t: _Files) -> None:
        for fan in self.spec.fans:
            pwm_device = self._device(t, fan.pwm_device)
            d = self.fan_pwm_dir(fan)
            if fan.pwm_hwmon is None:  # JetPack 4: the NVIDIA pwm-fan driver's own attributes
                t.put(f"{d}/temp_control", 1)
                t.put(f"{d}/pwm_cap", _PWM_MAX)
                t.put(f"{d}/step_time", 100)
                continue
            t.put(f"{d}/name", "pwmfan\n")
            t.put(f"{d}/pwm1_enable", 1)
            t.link(f"{d}/device", pwm_device)
            t.link(f"sys/class/hwmon/hwmon{fan.pwm_hwmon}", d)
            tach = self.fan_tach_dir(fan)
            if tach is not None and fan.tach_device is not None:
                tach_device = self._device(t, fan.tach_device)
                t.put(f"{tach}/name", "pwm_tach\n")
                t.link(f"{tach}/device", tach_device)
                t.link(f"sys/class/hwmon/hwmon{fan.tach_hwmon}", tach)

    def _nvpmodel(self, t: _Files) -> None:
        nv = self.spec.nvpmodel
        if nv is None:
            return
        lines = ["# NVIDIA nvpmodel configuration (generated for a simulated board)", ""]
        lines.append("< PARAM TYPE=FILE NAME=CPU_ONLINE >")
        lines.extend(f"CORE_{c} /sys/devices/system/cpu/cpu{c}/online" for c in range(self.spec.cpu_count))
        lines.append("")
        lines.append("< PARAM TYPE=CLOCK NAME=GPU >")
        gpu_df = posixpath.join("/", self.devfreq_dir(self.spec.gpu.device, self.spec.gpu.devfreq[0].name))
        lines.append(f"FREQ_TABLE {gpu_df}/available_frequencies")
        lines.append(f"MAX_FREQ {gpu_df}/max_freq")
        lines.append("")
        for mode in nv.modes:
            lines.append(f"< POWER_MODEL ID={mode.id} NAME={mode.name} >")
            lines.extend(f"CPU_ONLINE CORE_{c} {1 if c < mode.cpus_online else 0}"
                         for c in range(self.spec.cpu_count))
            lines.append(f"GPU MAX_FREQ {mode.gpu_max_hz}")
            lines.append("")
        lines.append(f"< PM_CONFIG DEFAULT={nv.default} >")
        conf = f"etc/nvpmodel/{nv.conf}"
        t.put(conf, "\n".join(lines) + "\n")
        if nv.linked:
            t.absolute_link("etc/nvpmodel.conf", conf)
        else:
            t.put("etc/nvpmodel.conf", "\n".join(lines) + "\n")

    def _clocks(self, t: _Files) -> None:
        for clock in self.spec.clocks:
            d = f"{DEBUGFS}/clk/{clock.name}"
            t.put(f"{d}/clk_min_rate", clock.min_hz)
            t.put(f"{d}/clk_max_rate", clock.max_hz)
            if clock.kind == "static":
                t.put(f"{d}/clk_rate", clock.max_hz)
                t.put(f"{d}/clk_enable_count", 1)
            elif clock.kind in ("emc", "gpu"):
                t.put(f"{d}/clk_enable_count", 1)

    # -- sensors -------------------------------------------------------------------------------

    def sensor_files(self, sensor: str) -> List[str]:
        """The value files of one sensor, by id: `zone:<type>`, `rail:<label>` or `fan:<name>`.

        Removing them is what a sensor dropping out looks like to a reader (a driver unbound, a
        device gone from the bus): the directory and its labels stay, the readings go.
        """
        kind, _, name = sensor.partition(":")
        if kind == "zone":
            for n, zone in enumerate(self.spec.thermal):
                if zone.type == name:
                    return [f"{self.zone_dir(n)}/temp"]
        elif kind == "rail" and name != "NC":
            for ina in self.spec.power:
                if name not in ina.channels:
                    continue
                d = self.ina_dir(ina)
                if ina.chip == "ina238":
                    return [f"{d}/in0_input", f"{d}/in1_input", f"{d}/curr1_input", f"{d}/power1_input"]
                if ina.hwmon is None:
                    c = ina.channels.index(name)
                    return [f"{d}/in_voltage{c}_input", f"{d}/in_current{c}_input", f"{d}/in_power{c}_input"]
                c = ina.channels.index(name) + 1
                return [f"{d}/in{c}_input", f"{d}/curr{c}_input", f"{d}/in{c + 3}_input",
                        f"{d}/curr{c}_max_alarm", f"{d}/curr{c}_crit_alarm"]
        elif kind == "fan":
            for fan in self.spec.fans:
                if fan.name != name:
                    continue
                d = self.fan_pwm_dir(fan)
                if fan.pwm_hwmon is None:
                    return [f"{d}/target_pwm", f"{d}/cur_pwm", f"{d}/rpm_measured"]
                tach = self.fan_tach_dir(fan)
                return [f"{d}/pwm1"] + ([f"{tach}/rpm"] if tach is not None else [])
        raise KeyError(f"{self.spec.name} has no sensor {sensor!r} (use zone:<type>, rail:<label> or fan:<name>)")

    # -- values --------------------------------------------------------------------------------

    def values(self, state: BoardState) -> _Files:
        v = _Files()
        self._cpu_values(v, state)
        self._gpu_values(v, state)
        self._emc_values(v, state)
        self._memory_values(v, state)
        self._thermal_values(v, state)
        self._power_values(v, state)
        self._fan_values(v, state)
        self._engine_values(v, state)
        if self.spec.nvpmodel is not None and state.power_mode is not None:
            fmode = f" fmode:{self.spec.nvpmodel.fan_mode}" if self.spec.nvpmodel.fan_mode else ""
            v.put("var/lib/nvpmodel/status", f"pmode:{state.power_mode:04d}{fmode}\n")
        return v

    def _cpu_values(self, v: _Files, state: BoardState) -> None:
        spec = self.spec
        if len(state.cpus) != spec.cpu_count or len(state.clusters) != len(spec.clusters):
            raise ValueError(f"{spec.name} has {spec.cpu_count} CPUs in {len(spec.clusters)} clusters; "
                             f"the state has {len(state.cpus)} in {len(state.clusters)}")
        online = [i for i, c in enumerate(state.cpus) if c.online]
        offline = [i for i, c in enumerate(state.cpus) if not c.online]
        v.put(self.cpu_dir("online"), _cpu_list(online) + "\n")
        v.put(self.cpu_dir("offline"), _cpu_list(offline) + "\n")
        for i in range(1, spec.cpu_count):  # cpu0 cannot be unplugged: it has no `online` file
            v.put(self.cpu_dir(f"cpu{i}", "online"), 1 if state.cpus[i].online else 0)
        for cluster, clocks in zip(spec.clusters, state.clusters):
            d = self.policy_dir(cluster)
            v.put(f"{d}/scaling_cur_freq", _hz(clocks.freq_hz / 1000))
            v.put(f"{d}/scaling_min_freq", _hz(clocks.min_freq_hz / 1000))
            v.put(f"{d}/scaling_max_freq", _hz(clocks.max_freq_hz / 1000))
            v.put(f"{d}/scaling_governor", clocks.governor + "\n")
            v.put(f"{d}/affected_cpus", "".join(f"{c} " for c in cluster.cpus if c in online) + "\n")
        v.put("proc/stat", _proc_stat(state))

    def _gpu_values(self, v: _Files, state: BoardState) -> None:
        g, s = self.spec.gpu, state.gpu
        path = self.gpu_dir()
        if g.has_load:
            v.put(f"{path}/load", round(s.load * 1000))
        for flag in g.flag_files:
            if flag == "railgate_enable":
                v.put(f"{path}/{flag}", 1 if s.railgate_enabled else 0)
            elif flag == "is_railgated":
                v.put(f"{path}/{flag}", "yes\n" if s.railgated else "no\n")
            elif flag == "enable_3d_scaling":
                v.put(f"{path}/{flag}", 1 if s.scaling_3d_enabled else 0)
            else:
                raise ValueError(f"unknown GPU flag file {flag!r}")
        if len(s.devfreq) != len(g.devfreq):
            raise ValueError(f"{self.spec.name}'s GPU has {len(g.devfreq)} devfreq devices, the state {len(s.devfreq)}")
        for df, clocks in zip(g.devfreq, s.devfreq):
            d = self.devfreq_dir(g.device, df.name)
            v.put(f"{d}/cur_freq", _hz(clocks.freq_hz))
            v.put(f"{d}/target_freq", _hz(clocks.freq_hz))
            v.put(f"{d}/min_freq", _hz(clocks.min_freq_hz))
            v.put(f"{d}/max_freq", _hz(clocks.max_freq_hz))
            v.put(f"{d}/governor", clocks.governor + "\n")
        if len(s.gpc_freq_hz) != g.gpc_clocks:
            raise ValueError(f"{self.spec.name} has {g.gpc_clocks} GPC clocks, the state {len(s.gpc_freq_hz)}")
        for n, freq in enumerate(s.gpc_freq_hz):
            v.put(f"{DEBUGFS}/bpmp/debug/clk/nafll_gpc{n}/pto_counter", _hz(freq))
        if g.debug_clock is not None:
            v.put(f"{DEBUGFS}/{g.debug_clock}", _hz(s.devfreq[0].freq_hz))

    def _emc_values(self, v: _Files, state: BoardState) -> None:
        e, s = self.spec.emc, state.emc
        cur, lo, hi = _hz(s.freq_hz), _hz(s.min_freq_hz), _hz(s.max_freq_hz)
        if e.clock == "bpmp":
            d = f"{DEBUGFS}/bpmp/debug/clk/emc"
            v.put(f"{d}/rate", cur)
            v.put(f"{d}/min_rate", lo)
            v.put(f"{d}/max_rate", hi)
        elif e.clock == "tegra210":
            v.put(f"{DEBUGFS}/clk/override.emc/clk_rate", cur)
            v.put(f"{DEBUGFS}/tegra_bwmgr/emc_min_rate", lo)
            v.put(f"{DEBUGFS}/tegra_bwmgr/emc_max_rate", hi)
        else:
            d = self.devfreq_dir("platform/bwmgr", "bwmgr")
            v.put(f"{d}/cur_freq", cur)
            v.put(f"{d}/target_freq", cur)
            v.put(f"{d}/min_freq", lo)
            v.put(f"{d}/max_freq", hi)
            v.put(f"{d}/governor", "performance\n")
        # The activity monitor's average: load in percent times the clock in kHz.
        activity = round(s.utilization * 100 * s.freq_hz / 1000)
        if e.activity == "actmon":
            v.put("sys/kernel/actmon_avg_activity/mc_all", activity)
        elif e.activity == "cactmon":
            v.put(f"{DEBUGFS}/cactmon/mc_all", activity)
        elif e.activity == "bpmp-actmon":
            v.put(f"{DEBUGFS}/bpmp/debug/actmon/mc_all_avg_activity", activity)
        if e.iso_cap:
            v.put("sys/kernel/nvpmodel_emc_cap/emc_iso_cap", _hz(s.iso_cap_hz or 0))
        for clock in self.spec.clocks:
            if clock.kind == "emc":
                v.put(f"{DEBUGFS}/clk/{clock.name}/clk_rate", cur)
            elif clock.kind == "gpu":
                v.put(f"{DEBUGFS}/clk/{clock.name}/clk_rate", _hz(state.gpu.devfreq[0].freq_hz))

    def _memory_values(self, v: _Files, state: BoardState) -> None:
        m = self.spec.memory
        v.put("proc/meminfo", _meminfo(state, m.nvmap))
        if len(state.memory.buddy) != len(m.buddy_zones) or any(
            len(counts) != m.buddy_orders for counts in state.memory.buddy
        ):
            raise ValueError(f"{self.spec.name}: buddyinfo needs {m.buddy_orders} counts for each of "
                             f"{', '.join(m.buddy_zones)}")
        lines = []
        for zone, counts in zip(m.buddy_zones, state.memory.buddy):
            lines.append(f"Node 0, zone {zone:>8} " + "".join(f"{n:6d} " for n in counts))
        v.put("proc/buddyinfo", "\n".join(lines) + "\n")

    def _thermal_values(self, v: _Files, state: BoardState) -> None:
        types = {zone.type for zone in self.spec.thermal}
        unknown = set(state.temps_c) - types
        if unknown:
            raise ValueError(f"{self.spec.name} has no thermal zone {', '.join(sorted(unknown))}")
        for n, zone in enumerate(self.spec.thermal):
            if zone.type not in state.temps_c:
                raise ValueError(f"the state has no temperature for {self.spec.name}'s zone {zone.type}")
            temp = state.temps_c[zone.type]
            v.put(f"{self.zone_dir(n)}/temp", OFF_MILLI_C if temp is None else round(temp * 1000))

    def _rail(self, state: BoardState, label: str) -> RailState:
        if label == "NC":
            return state.rails.get(label, RailState(0.0, 0.0))
        if label not in state.rails:
            raise ValueError(f"the state has no reading for {self.spec.name}'s rail {label}")
        return state.rails[label]

    def _power_values(self, v: _Files, state: BoardState) -> None:
        labels = {label for ina in self.spec.power for label in ina.channels}
        unknown = set(state.rails) - labels
        if unknown:
            raise ValueError(f"{self.spec.name} has no rail {', '.join(sorted(unknown))}")
        for ina in self.spec.power:
            d = self.ina_dir(ina)
            if ina.chip == "ina238":
                rail = self._rail(state, ina.channels[0])
                mv, ma = _hz(rail.voltage_v * 1000), _hz(rail.current_a * 1000)
                v.put(f"{d}/in0_input", _hz(rail.current_a * ina.shunt_uohm / 1000))  # shunt drop, mV
                v.put(f"{d}/in1_input", mv)
                v.put(f"{d}/curr1_input", ma)
                v.put(f"{d}/power1_input", mv * ma)  # µW
                continue
            if ina.hwmon is None:
                for c, label in enumerate(ina.channels):
                    rail = self._rail(state, label)
                    mv, ma = _hz(rail.voltage_v * 1000), _hz(rail.current_a * 1000)
                    v.put(f"{d}/in_voltage{c}_input", mv)
                    v.put(f"{d}/in_current{c}_input", ma)
                    v.put(f"{d}/in_power{c}_input", _hz(mv * ma / 1000))  # the chip's own mW figure
                continue
            shunt_sum_uv = 0
            current_sum_ma = 0
            for c, label in enumerate(ina.channels, start=1):
                rail = self._rail(state, label)
                ma = _hz(rail.current_a * 1000)
                shunt_uv = _hz(rail.current_a * ina.shunt_uohm)
                v.put(f"{d}/in{c}_input", _hz(rail.voltage_v * 1000))
                v.put(f"{d}/curr{c}_input", ma)
                v.put(f"{d}/in{c + 3}_input", shunt_uv)
                v.put(f"{d}/curr{c}_max_alarm", 1 if rail.warn_alarm else 0)
                v.put(f"{d}/curr{c}_crit_alarm", 1 if rail.crit_alarm else 0)
                shunt_sum_uv += shunt_uv
                current_sum_ma += ma
            if ina.summing:
                v.put(f"{d}/in7_input", shunt_sum_uv)
                v.put(f"{d}/curr4_input", current_sum_ma)
                v.put(f"{d}/curr4_crit_alarm", 0)

    def _fan_values(self, v: _Files, state: BoardState) -> None:
        names = {fan.name for fan in self.spec.fans}
        unknown = set(state.fans) - names
        if unknown:
            raise ValueError(f"{self.spec.name} has no fan {', '.join(sorted(unknown))}")
        for fan in self.spec.fans:
            if fan.name not in state.fans:
                raise ValueError(f"the state has no reading for {self.spec.name}'s fan {fan.name}")
            s = state.fans[fan.name]
            pwm = round(min(max(s.speed_ratio, 0.0), 1.0) * _PWM_MAX)
            d = self.fan_pwm_dir(fan)
            if fan.pwm_hwmon is None:
                v.put(f"{d}/target_pwm", pwm)
                v.put(f"{d}/cur_pwm", pwm)
                v.put(f"{d}/rpm_measured", _hz(s.rpm))
                continue
            v.put(f"{d}/pwm1", pwm)
            tach = self.fan_tach_dir(fan)
            if tach is not None:
                v.put(f"{tach}/rpm", _hz(s.rpm))

    def _engine_values(self, v: _Files, state: BoardState) -> None:
        engines = {c.name for c in self.spec.clocks if c.kind == "engine"}
        if set(state.engines) != engines:
            raise ValueError(f"{self.spec.name}: engine clocks {sorted(engines)}, the state has "
                             f"{sorted(state.engines)}")
        for name, engine in state.engines.items():
            d = f"{DEBUGFS}/clk/{name}"
            v.put(f"{d}/clk_enable_count", 1 if engine.enabled else 0)
            v.put(f"{d}/clk_rate", _hz(engine.freq_hz))


def _ticks(times: CpuTimes) -> List[int]:
    return [round(s * USER_HZ) for s in (times.user, times.nice, times.system, times.idle, times.iowait,
                                               times.irq, times.softirq, times.steal)] + [0, 0]


def _proc_stat(state: BoardState) -> str:
    rows = [(i, _ticks(c.times)) for i, c in enumerate(state.cpus) if c.online and c.times is not None]
    total = [sum(col) for col in zip(*(r for _, r in rows))] if rows else [0] * 10
    lines = ["cpu  " + " ".join(map(str, total))]
    lines.extend(f"cpu{i} " + " ".join(map(str, r)) for i, r in rows)
    busy = sum(total) - total[3]
    lines.append(f"intr {busy * 37} 0 0 0 0 0 0 0 0 0 0")
    lines.append(f"ctxt {busy * 101}")
    lines.append("btime 1751270400")
    lines.append(f"processes {busy // 50 + 1200}")
    lines.append("procs_running 2")
    lines.append("procs_blocked 0")
    lines.append(f"softirq {total[6] * 9} 0 {total[6] * 3} 0 {total[6]} 0 0 {total[6]} 0 {total[6] * 4}")
    return "\n".join(lines) + "\n"


def _meminfo(state: BoardState, nvmap: bool) -> str:
    m = state.memory
    kb = {name: int(getattr(m, f"{name}_bytes")) // 1024 for name in (
        "total", "free", "available", "buffers", "cached", "sreclaimable", "nvmap", "swap_total", "swap_free",
        "swap_cached")}
    sunreclaim = kb["sreclaimable"] // 2 + 20480
    slab = kb["sreclaimable"] + sunreclaim
    stack, tables = 12288, 16384
    anon = max(kb["total"] - kb["free"] - kb["buffers"] - kb["cached"] - slab - stack - tables, 0)
    shmem = kb["cached"] // 40
    active_anon = anon * 4 // 5
    inactive_anon = anon - active_anon + shmem
    active_file = kb["cached"] * 2 // 5 + kb["buffers"] // 2
    inactive_file = kb["cached"] + kb["buffers"] - active_file - shmem
    fields = [
        ("MemTotal", kb["total"]), ("MemFree", kb["free"]), ("MemAvailable", kb["available"]),
        ("Buffers", kb["buffers"]), ("Cached", kb["cached"]), ("SwapCached", kb["swap_cached"]),
        ("Active", active_anon + active_file), ("Inactive", inactive_anon + inactive_file),
        ("Active(anon)", active_anon), ("Inactive(anon)", inactive_anon),
        ("Active(file)", active_file), ("Inactive(file)", inactive_file),
        ("Unevictable", 0), ("Mlocked", 0), ("SwapTotal", kb["swap_total"]), ("SwapFree", kb["swap_free"]),
        ("Dirty", 124), ("Writeback", 0), ("AnonPages", anon), ("Mapped", kb["cached"] // 4), ("Shmem", shmem),
        ("KReclaimable", kb["sreclaimable"]), ("Slab", slab), ("SReclaimable", kb["sreclaimable"]),
        ("SUnreclaim", sunreclaim), ("KernelStack", stack), ("PageTables", tables), ("NFS_Unstable", 0),
        ("Bounce", 0), ("WritebackTmp", 0), ("CommitLimit", kb["total"] // 2 + kb["swap_total"]),
        ("Committed_AS", anon * 3), ("VmallocTotal", 263061440), ("VmallocUsed", 41984), ("VmallocChunk", 0),
        ("Percpu", 1408), ("HardwareCorrupted", 0), ("AnonHugePages", 0), ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0), ("FileHugePages", 0), ("FilePmdMapped", 0),
    ]
    lines = [f"{name + ':':<16}{value:>8} kB" for name, value in fields]
    # Page counts have no unit.
    lines.extend(f"{name + ':':<16}{0:>8}" for name in ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd",
                                                        "HugePages_Surp"))
    lines.append(f"{'Hugepagesize:':<16}{2048:>8} kB")
    lines.append(f"{'Hugetlb:':<16}{0:>8} kB")
    if nvmap:
        lines.append(f"{'NvMapMemFree:':<16}{kb['nvmap'] // 8:>8} kB")
        lines.append(f"{'NvMapMemUsed:':<16}{kb['nvmap']:>8} kB")
    return "\n".join(lines) + "\n"


def _write_in_place(path: str, data: bytes) -> None:
    """Overwrite a file's content without ever removing it: write at offset 0, then trim.

    A concurrent reader sees the old content, the new one, or (for the instant before the trim)
    the new value followed by the old tail, which parsers that take the first token ignore.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC  # no O_TRUNC: the file is never empty
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, flags, 0o644)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


class DeviceTree:
    """A simulated board's host root: laid out once, then its value files rewritten per state."""

    def __init__(self, root: str, spec: ModelSpec) -> None:
        self.root = root
        self.spec = spec
        self._layout = _Layout(spec)
        self._static = self._layout.layout()
        self._written: Dict[str, bytes] = {}
        self._hidden: Set[str] = set()  # value files removed from disk; kept up to date here

    def _path(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def build(self, state: BoardState) -> None:
        """Create the whole tree (idempotent on an existing one) and write every value."""
        values = self._layout.values(state)
        clash = set(values.files) & (set(self._static.files) | set(self._static.links))
        if clash:
            raise ValueError(f"{self.spec.name}: value files also in the static layout: {sorted(clash)[:3]}")
        directories = {posixpath.dirname(p) for p in (*self._static.files, *self._static.links, *values.files)}
        for directory in sorted(directories):
            os.makedirs(self._path(directory), exist_ok=True)
        for rel, data in sorted(self._static.files.items()):
            _write_in_place(self._path(rel), data)
        for rel, target in sorted(self._static.links.items()):
            self._symlink(rel, target)
        self._written = {}
        self._hidden = set()
        self._write_values(values.files, force=True)

    def write_state(self, state: BoardState) -> int:
        """Rewrite the value files whose content changed; returns how many were written.

        The layout stays as built: a state naming a sensor the spec does not have is an error.
        The first call on a DeviceTree that did not build the tree itself writes every value.
        """
        values = self._layout.values(state)
        missing = set(self._written) - set(values.files)
        if missing:
            raise ValueError(f"{self.spec.name}: the new state drops value files {sorted(missing)[:3]}")
        return self._write_values(values.files, force=False)

    def _write_values(self, files: Dict[str, bytes], force: bool) -> int:
        count = 0
        for rel, data in files.items():
            if not force and self._written.get(rel) == data:
                continue
            self._written[rel] = data
            if rel in self._hidden:
                continue
            _write_in_place(self._path(rel), data)
            count += 1
        return count

    def sensor_files(self, sensor: str) -> List[str]:
        """Root-relative value files of a sensor (`zone:<type>`, `rail:<label>`, `fan:<name>`)."""
        return self._layout.sensor_files(sensor)

    @property
    def hidden(self) -> Set[str]:
        """Value files currently removed by `hide`."""
        return set(self._hidden)

    def hide(self, rels: Iterable[str]) -> None:
        """Remove value files from disk (a sensor dropping out); `write_state` leaves them out."""
        for rel in rels:
            if rel not in self._written:
                raise KeyError(f"{rel} is not a value file of {self.spec.name}")
            if rel in self._hidden:
                continue
            self._hidden.add(rel)
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._path(rel))

    def show(self, rels: Iterable[str]) -> None:
        """Put hidden value files back, with the content of the latest state."""
        for rel in rels:
            if rel in self._hidden:
                self._hidden.discard(rel)
                _write_in_place(self._path(rel), self._written[rel])

    def _symlink(self, rel: str, target: str) -> None:
        path = self._path(rel)
        try:
            if os.readlink(path) == target:
                return
        except OSError:
            pass
        tmp = f"{path}.tmp-link"
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, path)  # a reader never finds the link missing


def write_tree(root: str, spec: ModelSpec, state: BoardState) -> DeviceTree:
    """Lay out `spec` under `root` with the values of `state`."""
    tree = DeviceTree(root, spec)
    tree.build(state)
    return tree


def write_fixtures(directory: str, names: Optional[Iterable[str]] = None) -> List[str]:
    """(Re)generate the reference tree of each named model (all by default) under `directory`."""
    written = []
    for name in names or MODELS:
        if name not in MODELS:
            raise KeyError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
        target = os.path.join(directory, name)
        if os.path.lexists(target):
            shutil.rmtree(target)
        write_tree(target, MODELS[name].spec, MODELS[name].state)
        written.append(target)
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jetson_exporter.simulate.devicetree",
        description="Write the reference device tree of each simulated Jetson model (the test fixtures).",
    )
    parser.add_argument("directory", help="where to write one tree per model, e.g. tests/fixtures")
    parser.add_argument("--model", action="append", choices=sorted(MODELS),
                        help="only this model (repeatable; default: all)")
    args = parser.parse_args(argv)
    for path in write_fixtures(args.directory, args.model):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
