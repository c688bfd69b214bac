"""Jetson Xavier NX, JetPack 5.1.3, MODE_10W_4CORE: exact values exported from xavier-nx-jp5.

Expected values are written from the files in tests/fixtures/xavier-nx-jp5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pytest

from jetson_exporter.readers import READERS

if TYPE_CHECKING:
    from readers.conftest import Scrape

KIB = 1024


@pytest.fixture(scope="module")
def nx(fixture_scrape: Callable[[str], Scrape]) -> Scrape:
    return fixture_scrape("xavier-nx-jp5")


def test_every_collector_succeeds(nx: Scrape) -> None:
    assert {name: nx.success(name) for name in READERS} == {name: True for name in READERS}


def test_identity(nx: Scrape) -> None:
    assert nx.series("jetson_info") == [(
        {"model": "NVIDIA Jetson Xavier NX Developer Kit", "module": "p3668-0000", "soc": "tegra194",
         "l4t": "35.5.0", "jetpack": "5.1.3", "cuda_arch": "7.2"}, 1.0)]
    assert nx.series("jetson_board_info") == [({"carrier": "p3509-0000", "serial": "1420921043218"}, 1.0)]


def test_six_cores_in_three_clusters_two_of_them_off(nx: Scrape) -> None:
    # online "0-3"; policy0 (cpus 0 1) at 1190400 kHz, policy2 (2 3) at 1113600, policy4 (4 5) offline
    assert nx.by("jetson_cpu_online", "cpu") == {"0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0, "4": 0.0, "5": 0.0}
    assert nx.by("jetson_cpu_frequency_hertz", "cpu") == {"0": 1190.4e6, "1": 1190.4e6, "2": 1113.6e6,
                                                          "3": 1113.6e6}
    assert nx.by("jetson_cpu_frequency_min_hertz", "cpu") == {c: 115.2e6 for c in "0123"}
    assert nx.by("jetson_cpu_frequency_max_hertz", "cpu") == {c: 1190.4e6 for c in "0123"}
    assert {labels["cpu"] for labels, _ in nx.series("jetson_cpu_seconds_total")} == {"0", "1", "2", "3"}


def test_gv11b_gpu_found_by_its_device_tree_name(nx: Scrape) -> None:
    assert nx.value("jetson_gpu_utilization_ratio") == pytest.approx(0.48)  # load 480
    assert nx.value("jetson_gpu_frequency_hertz") == 510e6
    assert nx.value("jetson_gpu_frequency_min_hertz") == 114.75e6
    assert nx.value("jetson_gpu_frequency_max_hertz") == 510e6
    assert nx.value("jetson_gpu_railgated") is None  # only the Nano has is_railgated


def test_emc_from_bpmp_debugfs_and_sysfs_actmon(nx: Scrape) -> None:
    # bpmp clk/emc rate 1600000000, max_rate 1866000000; emc_iso_cap 0 (no cap); mc_all 24000000
    assert nx.value("jetson_emc_frequency_hertz") == 1600e6
    assert nx.value("jetson_emc_frequency_max_hertz") == 1866e6
    assert nx.value("jetson_emc_utilization_ratio") == pytest.approx(0.15)


def test_memory(nx: Scrape) -> None:
    assert nx.value("jetson_memory_total_bytes") == 7765852 * KIB
    assert nx.value("jetson_memory_used_bytes") == (7765852 - 3820144 - 120332 - 1834216) * KIB
    assert nx.value("jetson_memory_gpu_shared_bytes") == 351924 * KIB
    assert nx.value("jetson_swap_used_bytes") == 0.0
    assert nx.value("jetson_memory_lfb_blocks") == 180 + 602


def test_zones_without_pmic(nx: Scrape) -> None:
    assert nx.by("jetson_temperature_celsius", "zone") == {
        "ao": 38.5, "aux": 39.0, "cpu": 41.5, "gpu": 40.0, "thermal": 40.1}


def test_hwmon_rails_without_the_sum_channel(nx: Scrape) -> None:
    # hwmon1 at 7-0040: in1..3_label VDD_IN, VDD_CPU_GPU_CV, VDD_SOC; in7_label "sum of shunt voltages"
    assert nx.by("jetson_voltage_volts", "rail") == pytest.approx(
        {"VDD_IN": 5.096, "VDD_CPU_GPU_CV": 5.096, "VDD_SOC": 5.096})
    assert nx.by("jetson_current_amperes", "rail") == pytest.approx(
        {"VDD_IN": 1.120, "VDD_CPU_GPU_CV": 0.352, "VDD_SOC": 0.280})
    assert nx.by("jetson_power_watts", "rail") == pytest.approx(
        {"VDD_IN": 5.096 * 1.120, "VDD_CPU_GPU_CV": 5.096 * 0.352, "VDD_SOC": 5.096 * 0.280})
    assert nx.by("jetson_current_alarm", "rail", level="crit") == {"VDD_IN": 0.0, "VDD_CPU_GPU_CV": 0.0,
                                                                    "VDD_SOC": 0.0}
    assert nx.value("jetson_board_power_watts") == pytest.approx(5.096 * 1.120)  # VDD_IN, no sum


def test_fan_pairs_the_pwmfan_and_pwm_tach_hwmon_nodes(nx: Scrape) -> None:
    # hwmon2 (pwmfan) pwm1 51; hwmon0 (pwm_tach) rpm 1460
    assert nx.by("jetson_fan_speed_ratio", "fan") == pytest.approx({"pwm-fan": 51 / 255})
    assert nx.by("jetson_fan_rpm", "fan") == {"pwm-fan": 1460.0}


def test_power_mode_through_the_absolute_nvpmodel_conf_link(nx: Scrape) -> None:
    # status "pmode:0004 fmode:quiet"; /etc/nvpmodel.conf -> /etc/nvpmodel/nvpmodel_t194_p3668.conf
    assert nx.series("jetson_power_mode_info") == [({"id": "4", "name": "MODE_10W_4CORE"}, 1.0)]
    assert nx.value("jetson_clocks_enabled") == 0.0


def test_engines(nx: Scrape) -> None:
    assert nx.by("jetson_engine_active", "engine") == {
        "APE": 1.0, "CVNAS": 0.0, "DLA0": 0.0, "DLA1": 0.0, "NVDEC": 1.0, "NVENC": 0.0, "NVJPG": 0.0,
        "PVA0": 0.0, "SE": 1.0, "VIC": 1.0}
    assert nx.value("jetson_engine_frequency_hertz", engine="DLA0") == 1100.8e6  # dla0_core, not the falcon
