"""The device-tree writer as a live simulator uses it: lay out once, then rewrite values in place."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Set

import pytest

from jetson_exporter.simulate.devicetree import DeviceTree, write_tree
from jetson_exporter.simulate.models import MODELS, CpuState, GpuState, RailState

if TYPE_CHECKING:
    from readers.conftest import Exporter

ORIN = MODELS["agx-orin-jp6"]
ZONE0 = "sys/devices/virtual/thermal/thermal_zone0/temp"


def _layout(root: Path) -> Set[str]:
    found: Set[str] = set()
    for directory, dirnames, filenames in os.walk(root):
        found.update(os.path.relpath(os.path.join(directory, n), root) for n in dirnames + filenames)
    return found


def test_write_state_rewrites_only_changed_values_in_place(tmp_path: Path) -> None:
    tree = write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    layout = _layout(tmp_path)
    inode = os.stat(tmp_path / ZONE0).st_ino
    assert tree.write_state(ORIN.state) == 0  # nothing changed, nothing written
    hotter = dataclasses.replace(ORIN.state, temps_c={**ORIN.state.temps_c, "cpu-thermal": 71.5})
    assert tree.write_state(hotter) == 1
    assert (tmp_path / ZONE0).read_text() == "71500\n"
    assert os.stat(tmp_path / ZONE0).st_ino == inode  # the same file: a reader never finds it missing
    assert _layout(tmp_path) == layout  # readers' cached discovery stays valid


def test_a_shorter_value_leaves_no_trace_of_the_longer_one(tmp_path: Path) -> None:
    tree = write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    cool = dataclasses.replace(ORIN.state, temps_c={**ORIN.state.temps_c, "cpu-thermal": 9.5})
    tree.write_state(cool)
    assert (tmp_path / ZONE0).read_bytes() == b"9500\n"
    off = dataclasses.replace(ORIN.state, temps_c={**ORIN.state.temps_c, "cpu-thermal": None})
    tree.write_state(off)
    assert (tmp_path / ZONE0).read_bytes() == b"-256000\n"


def test_state_values_are_converted_to_the_kernels_units(tmp_path: Path) -> None:
    write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    policy4 = tmp_path / "sys/devices/system/cpu/cpufreq/policy4"
    assert (policy4 / "scaling_cur_freq").read_text() == "2201600\n"  # kHz
    assert (policy4 / "related_cpus").read_text() == "4 5 6 7 \n"
    gpu = tmp_path / "sys/devices/platform/bus@0/17000000.gpu"
    assert (gpu / "load").read_text() == "137\n"  # per mille
    assert (gpu / "devfreq/17000000.gpu/cur_freq").read_text() == "918000000\n"  # Hz
    hwmon = tmp_path / "sys/class/hwmon/hwmon1"
    assert (hwmon / "in1_input").read_text() == "4984\n"  # mV
    assert (hwmon / "curr1_input").read_text() == "480\n"  # mA
    assert (hwmon / "in4_input").read_text() == "2400\n"  # shunt drop in uV over 5 mOhm
    assert (hwmon / "in7_input").read_text() == str(2400 + 800 + 3240) + "\n"  # sum of shunt voltages
    assert (tmp_path / "sys/firmware/devicetree/base/model").read_bytes().endswith(b"Developer Kit\0")
    assert (tmp_path / "var/lib/nvpmodel/status").read_text() == "pmode:0000 fmode:quiet\n"
    assert "MemTotal:       64335836 kB\n" in (tmp_path / "proc/meminfo").read_text()


def test_links_are_relative_into_sys_devices_and_nvpmodel_conf_is_absolute(tmp_path: Path) -> None:
    write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    assert os.readlink(tmp_path / "sys/class/thermal/thermal_zone0") == "../../devices/virtual/thermal/thermal_zone0"
    assert os.readlink(tmp_path / "sys/bus/i2c/devices/1-0040") == (
        "../../../devices/platform/bus@0/c240000.i2c/i2c-1/1-0040")
    assert os.readlink(tmp_path / "sys/devices/platform/bus@0/17000000.gpu/of_node") == (
        "../../../../firmware/devicetree/base/bus@0/gpu@17000000")
    assert os.readlink(tmp_path / "etc/nvpmodel.conf") == "/etc/nvpmodel/nvpmodel_p3701_0000.conf"


def test_cpu_utilization_follows_rewritten_proc_stat(tmp_path: Path, exporter: Callable[..., Exporter]) -> None:
    tree = write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    board = exporter(tmp_path, ["cpu"])
    board.scrape()
    cpus = list(ORIN.state.cpus)
    t = cpus[0].times
    assert t is not None
    # One second of cpu0: 0.6 s user, 0.4 s idle.
    cpus[0] = CpuState(True, dataclasses.replace(t, user=t.user + 0.6, idle=t.idle + 0.4))
    tree.write_state(dataclasses.replace(ORIN.state, cpus=tuple(cpus)))
    scrape = board.scrape()
    assert scrape.value("jetson_cpu_utilization_ratio", cpu="0") == pytest.approx(0.6)
    assert scrape.value("jetson_cpu_utilization_ratio", cpu="1") is None  # no ticks passed: unknown, not 0


def test_a_core_switched_off_between_reads_has_no_utilization(
    tmp_path: Path, exporter: Callable[..., Exporter]
) -> None:
    tree = write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    board = exporter(tmp_path, ["cpu"])
    board.scrape()
    cpus = list(ORIN.state.cpus)
    t0, t1 = cpus[0].times, cpus[1].times
    assert t0 is not None and t1 is not None
    cpus[0] = CpuState(True, dataclasses.replace(t0, user=t0.user + 0.25, idle=t0.idle + 0.75))
    cpus[1] = CpuState(False)  # nvpmodel took it offline: its /proc/stat line is gone
    tree.write_state(dataclasses.replace(ORIN.state, cpus=tuple(cpus)))
    scrape = board.scrape()
    assert scrape.value("jetson_cpu_utilization_ratio", cpu="0") == pytest.approx(0.25)
    assert scrape.value("jetson_cpu_online", cpu="1") == 0.0
    assert scrape.value("jetson_cpu_utilization_ratio", cpu="1") is None


def test_counters_integrate_the_rewritten_values_over_the_sampler_clock(
    tmp_path: Path, exporter: Callable[..., Exporter]
) -> None:
    tree = write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    board = exporter(tmp_path, ["gpu", "power"])
    board.scrape()
    busier = dataclasses.replace(
        ORIN.state,
        gpu=dataclasses.replace(ORIN.state.gpu, load=0.537),
        rails={**ORIN.state.rails, "VDD_GPU_SOC": RailState(4.984, 1.480)},
    )
    tree.write_state(busier)
    scrape = board.scrape(advance_s=2.0)
    assert scrape.value("jetson_gpu_busy_seconds_total") == pytest.approx((0.137 + 0.537) / 2 * 2.0)
    assert scrape.value("jetson_energy_joules_total", rail="VDD_GPU_SOC") == pytest.approx(
        (4.984 * 0.480 + 4.984 * 1.480) / 2 * 2.0)


def test_a_state_that_does_not_fit_the_model_is_refused(tmp_path: Path) -> None:
    tree = write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    with pytest.raises(ValueError, match="no thermal zone"):
        tree.write_state(dataclasses.replace(ORIN.state, temps_c={**ORIN.state.temps_c, "nvme-thermal": 40.0}))
    with pytest.raises(ValueError, match="no rail"):
        tree.write_state(dataclasses.replace(ORIN.state, rails={**ORIN.state.rails, "VDD_IN": RailState(5, 1)}))
    with pytest.raises(ValueError, match="12 CPUs"):
        tree.write_state(dataclasses.replace(ORIN.state, cpus=ORIN.state.cpus[:8]))
    with pytest.raises(ValueError, match="GPC"):
        tree.write_state(dataclasses.replace(ORIN.state, gpu=GpuState(ORIN.state.gpu.devfreq, 0.1)))


def test_building_over_an_existing_tree_is_idempotent(tmp_path: Path) -> None:
    write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    layout = _layout(tmp_path)
    DeviceTree(str(tmp_path), ORIN.spec).build(ORIN.state)
    assert _layout(tmp_path) == layout


def test_only_online_cores_appear_in_proc_stat(tmp_path: Path) -> None:
    model = MODELS["orin-nano-jp6"]
    write_tree(str(tmp_path), model.spec, model.state)
    lines = (tmp_path / "proc/stat").read_text().splitlines()
    assert [line.split()[0] for line in lines[:6]] == ["cpu", "cpu0", "cpu1", "cpu2", "cpu3", "intr"]
    assert (tmp_path / "sys/devices/system/cpu/online").read_text() == "0-3\n"
    assert (tmp_path / "sys/devices/system/cpu/offline").read_text() == "4-5\n"
    assert not (tmp_path / "sys/devices/system/cpu/cpu0/online").exists()

