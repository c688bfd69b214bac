"""Jetson AGX Orin 64GB, JetPack 6.2.1, MAXN: exact values exported from agx-orin-jp6.

Expected values are written from the files in tests/fixtures/agx-orin-jp6.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pytest

from jetson_exporter.readers import READERS

if TYPE_CHECKING:
    from readers.conftest import Scrape

KIB = 1024
CORES = [str(c) for c in range(12)]


@pytest.fixture(scope="module")
def orin(fixture_scrape: Callable[[str], Scrape]) -> Scrape:
    return fixture_scrape("agx-orin-jp6")


def test_every_collector_succeeds(orin: Scrape) -> None:
    assert {name: orin.success(name) for name in READERS} == {name: True for name in READERS}


def test_identity_with_the_soc_found_anywhere_in_compatible(orin: Scrape) -> None:
    # compatible ends "nvidia,tegra234 \0 nvidia,tegra23x": the SoC is tegra234, not the last entry
    assert orin.series("jetson_info") == [(
        {"model": "NVIDIA Jetson AGX Orin Developer Kit", "module": "p3701-0005", "soc": "tegra234",
         "l4t": "36.4.4", "jetpack": "6.2.1", "cuda_arch": "8.7"}, 1.0)]
    assert orin.series("jetson_board_info") == [({"carrier": "p3737-0000", "serial": "1424322006417"}, 1.0)]


def test_twelve_cores_in_three_clusters(orin: Scrape) -> None:
    assert orin.by("jetson_cpu_online", "cpu") == {c: 1.0 for c in CORES}
    # policy0 1728000 kHz, policy4 2201600, policy8 729600
    expected = {c: 1728e6 for c in CORES[0:4]}
    expected.update({c: 2201.6e6 for c in CORES[4:8]})
    expected.update({c: 729.6e6 for c in CORES[8:12]})
    assert orin.by("jetson_cpu_frequency_hertz", "cpu") == expected
    assert orin.by("jetson_cpu_frequency_min_hertz", "cpu") == {c: 115.2e6 for c in CORES}
    assert orin.by("jetson_cpu_frequency_max_hertz", "cpu") == {c: 2201.6e6 for c in CORES}
    # cpu11 113746 325 40624 923930 2350 0 875 0
    assert orin.by("jetson_cpu_seconds_total", "mode", cpu="11") == pytest.approx({
        "user": 1137.46, "nice": 3.25, "system": 406.24, "idle": 9239.30, "iowait": 23.5, "irq": 0.0,
        "softirq": 8.75, "steal": 0.0})


def test_gpu_under_bus0_with_per_gpc_clocks(orin: Scrape) -> None:
    # devfreq 17000000.gpu (found by of_node name "gpu", not the 15340000.vic devfreq beside it)
    assert orin.value("jetson_gpu_utilization_ratio") == pytest.approx(0.137)
    assert orin.value("jetson_gpu_frequency_hertz") == 918e6
    assert orin.value("jetson_gpu_frequency_min_hertz") == 306e6
    assert orin.value("jetson_gpu_frequency_max_hertz") == 1300.5e6
    # debugfs bpmp/debug/clk/nafll_gpc{0,1}/pto_counter
    assert orin.by("jetson_gpu_gpc_frequency_hertz", "gpc") == {"0": 916.8e6, "1": 918.1e6}
    assert orin.value("jetson_gpu_railgate_enabled") == 1.0


def test_emc_from_bpmp_debugfs_and_cactmon(orin: Scrape) -> None:
    assert orin.value("jetson_emc_frequency_hertz") == 3199e6
    assert orin.value("jetson_emc_frequency_min_hertz") == 204e6
    assert orin.value("jetson_emc_frequency_max_hertz") == 3199e6
    assert orin.value("jetson_emc_utilization_ratio") == pytest.approx(0.12)  # cactmon/mc_all 38388000


def test_memory(orin: Scrape) -> None:
    assert orin.value("jetson_memory_total_bytes") == 64335836 * KIB
    assert orin.value("jetson_memory_used_bytes") == (64335836 - 55112984 - 220512 - 4613724) * KIB
    assert orin.value("jetson_memory_cached_bytes") == (4613724 + 305996) * KIB
    assert orin.value("jetson_memory_gpu_shared_bytes") == 1180032 * KIB
    assert orin.value("jetson_swap_total_bytes") == 32167900 * KIB
    assert orin.value("jetson_memory_lfb_blocks") == 235 + 13010
    assert orin.value("jetson_memory_lfb_block_bytes") == 4 * 1024 * 1024


def test_every_zone_by_name_and_the_switched_off_cv1_is_absent(orin: Scrape) -> None:
    # thermal_zone3 (cv1-thermal) reads -256000
    assert orin.by("jetson_temperature_celsius", "zone") == {
        "cpu": 47.468, "gpu": 45.312, "cv0": 44.781, "cv2": 44.593, "soc0": 44.937, "soc1": 45.218,
        "soc2": 44.906, "tj": 47.468}
    assert orin.by("jetson_temperature_trip_point_celsius", "type", zone="tj") == {
        "active": 46.0, "passive": 99.0, "critical": 104.5}
    assert "cv1" not in orin.by("jetson_temperature_trip_point_celsius", "zone")


def test_rails_without_nc_channels_sum_channels_or_the_usb_pd_supply(orin: Scrape) -> None:
    # 1-0040: VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0; 1-0041: NC, VDDQ_VDD2_1V8AO, NC; both with in7
    assert orin.by("jetson_voltage_volts", "rail") == pytest.approx(
        {"VDD_GPU_SOC": 4.984, "VDD_CPU_CV": 4.984, "VIN_SYS_5V0": 4.976, "VDDQ_VDD2_1V8AO": 4.976})
    assert orin.by("jetson_current_amperes", "rail") == pytest.approx(
        {"VDD_GPU_SOC": 0.480, "VDD_CPU_CV": 0.160, "VIN_SYS_5V0": 0.648, "VDDQ_VDD2_1V8AO": 0.081})
    assert orin.by("jetson_power_watts", "rail") == pytest.approx(
        {"VDD_GPU_SOC": 4.984 * 0.480, "VDD_CPU_CV": 4.984 * 0.160, "VIN_SYS_5V0": 4.976 * 0.648,
         "VDDQ_VDD2_1V8AO": 4.976 * 0.081})
    assert orin.by("jetson_current_limit_amperes", "rail", level="warn") == pytest.approx(
        {"VDD_GPU_SOC": 32.76, "VDD_CPU_CV": 32.76, "VIN_SYS_5V0": 32.76, "VDDQ_VDD2_1V8AO": 32.76})


def test_board_power_does_not_count_vddq_twice(orin: Scrape) -> None:
    # VIN_SYS_5V0 feeds VDDQ_VDD2_1V8AO: the board is the three 1-0040 rails only.
    board = 4.984 * 0.480 + 4.984 * 0.160 + 4.976 * 0.648
    assert orin.value("jetson_board_power_watts") == pytest.approx(board)
    assert orin.value("jetson_board_energy_joules_total") == pytest.approx(board)  # one second


def test_fan_pairs_pwm_fan_with_the_tachometer(orin: Scrape) -> None:
    # hwmon2 (pwmfan, /sys/devices/platform/pwm-fan) pwm1 87; hwmon0 (pwm_tach, 39c0000.tachometer) rpm 1640
    assert orin.by("jetson_fan_speed_ratio", "fan") == pytest.approx({"pwm-fan": 87 / 255})
    assert orin.by("jetson_fan_rpm", "fan") == {"pwm-fan": 1640.0}


def test_power_mode(orin: Scrape) -> None:
    assert orin.series("jetson_power_mode_info") == [({"id": "0", "name": "MAXN"}, 1.0)]
    assert orin.value("jetson_clocks_enabled") == 0.0


def test_engines_prefer_the_core_clock_of_a_family(orin: Scrape) -> None:
    assert orin.by("jetson_engine_active", "engine") == {
        "APE": 1.0, "DLA0": 0.0, "DLA1": 0.0, "NVDEC": 1.0, "NVENC": 0.0, "NVJPG": 0.0, "NVJPG1": 0.0,
        "OFA": 0.0, "PVA0": 0.0, "SE": 1.0, "VIC": 1.0}
    assert orin.value("jetson_engine_frequency_hertz", engine="DLA0") == 1600e6  # dla0_core, not dla0_falcon
    assert orin.value("jetson_engine_frequency_hertz", engine="PVA0") == 1216e6
    assert orin.value("jetson_engine_frequency_hertz", engine="VIC") == 729.6e6
    assert orin.value("jetson_engine_active_seconds_total", engine="VIC") == pytest.approx(1.0)
