"""Jetson Nano, JetPack 4.6.4: exact values exported from the nano-jp4 fixture.

Expected values are written from the files in tests/fixtures/nano-jp4 (quoted in comments).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pytest

from jetson_exporter.readers import READERS

if TYPE_CHECKING:
    from readers.conftest import Scrape

KIB = 1024


@pytest.fixture(scope="module")
def nano(fixture_scrape: Callable[[str], Scrape]) -> Scrape:
    return fixture_scrape("nano-jp4")


def test_every_collector_succeeds(nano: Scrape) -> None:
    assert {name: nano.success(name) for name in READERS} == {name: True for name in READERS}


def test_identity_comes_from_the_release_file_and_the_device_tree(nano: Scrape) -> None:
    # nv_tegra_release: "# R32 (release), REVISION: 7.4, ..."; compatible:
    # nvidia,p3449-0000-b00+p3448-0000-b00 \0 nvidia,jetson-nano \0 nvidia,tegra210
    assert nano.series("jetson_info") == [(
        {"model": "NVIDIA Jetson Nano Developer Kit", "module": "p3448-0000", "soc": "tegra210", "l4t": "32.7.4",
         "jetpack": "4.6.4", "cuda_arch": "5.3"}, 1.0)]
    assert nano.series("jetson_board_info") == [({"carrier": "p3449-0000", "serial": "1422919052431"}, 1.0)]


def test_four_cores_share_one_clock_in_hertz(nano: Scrape) -> None:
    assert nano.by("jetson_cpu_online", "cpu") == {"0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0}
    # policy0: scaling_cur_freq 1428000, scaling_min_freq 102000, scaling_max_freq 1479000 (kHz)
    assert nano.by("jetson_cpu_frequency_hertz", "cpu") == {c: 1428e6 for c in "0123"}
    assert nano.by("jetson_cpu_frequency_min_hertz", "cpu") == {c: 102e6 for c in "0123"}
    assert nano.by("jetson_cpu_frequency_max_hertz", "cpu") == {c: 1479e6 for c in "0123"}
    assert nano.by("jetson_cpu_governor_info", "cpu", governor="schedutil") == {c: 1.0 for c in "0123"}


def test_cpu_time_comes_from_proc_stat_ticks(nano: Scrape) -> None:
    # cpu0 226800 50 81000 767200 1250 0 325 0 (USER_HZ = 100)
    assert nano.by("jetson_cpu_seconds_total", "mode", cpu="0") == pytest.approx({
        "user": 2268.0, "nice": 0.5, "system": 810.0, "idle": 7672.0, "iowait": 12.5, "irq": 0.0,
        "softirq": 3.25, "steal": 0.0})


def test_gpu_load_is_per_mille_and_clocks_are_hertz(nano: Scrape) -> None:
    assert nano.value("jetson_gpu_utilization_ratio") == pytest.approx(0.253)  # load: 253
    assert nano.value("jetson_gpu_frequency_hertz") == 614400000.0
    assert nano.value("jetson_gpu_frequency_min_hertz") == 76800000.0
    assert nano.value("jetson_gpu_frequency_max_hertz") == 921600000.0
    assert nano.series("jetson_gpu_governor_info") == [({"governor": "nvhost_podgov"}, 1.0)]
    assert nano.value("jetson_gpu_railgate_enabled") == 1.0
    assert nano.value("jetson_gpu_railgated") == 0.0  # is_railgated: "no"
    assert nano.value("jetson_gpu_3d_scaling_enabled") == 1.0
    assert nano.series("jetson_gpu_gpc_frequency_hertz") == []  # no per-GPC counters before Orin
    # Two ticks one second apart at 25.3 %.
    assert nano.value("jetson_gpu_busy_seconds_total") == pytest.approx(0.253)


def test_emc_comes_from_the_tegra210_debugfs_clock_and_sysfs_actmon(nano: Scrape) -> None:
    # clk/override.emc/clk_rate 1600000000; tegra_bwmgr/emc_{min,max}_rate; actmon mc_all 11200000
    assert nano.value("jetson_emc_frequency_hertz") == 1600e6
    assert nano.value("jetson_emc_frequency_min_hertz") == 204e6
    assert nano.value("jetson_emc_frequency_max_hertz") == 1600e6
    assert nano.value("jetson_emc_utilization_ratio") == pytest.approx(0.07)  # 11200000 / 1600000 kHz = 7 %


def test_memory_is_bytes_from_kilobytes(nano: Scrape) -> None:
    assert nano.value("jetson_memory_total_bytes") == 4059240 * KIB
    assert nano.value("jetson_memory_free_bytes") == 1125016 * KIB
    assert nano.value("jetson_memory_available_bytes") == 2617452 * KIB
    assert nano.value("jetson_memory_buffers_bytes") == 97448 * KIB
    assert nano.value("jetson_memory_cached_bytes") == (1316540 + 86160) * KIB  # Cached + SReclaimable
    assert nano.value("jetson_memory_used_bytes") == (4059240 - 1125016 - 97448 - 1316540) * KIB
    assert nano.value("jetson_memory_gpu_shared_bytes") == 212444 * KIB  # NvMapMemUsed
    assert nano.value("jetson_swap_total_bytes") == 2029620 * KIB
    assert nano.value("jetson_swap_used_bytes") == (2029620 - 2025780) * KIB
    assert nano.value("jetson_swap_cached_bytes") == 148 * KIB
    assert nano.value("jetson_memory_lfb_blocks") == 23 + 136  # highest of 11 orders, DMA + Normal
    assert nano.value("jetson_memory_lfb_block_bytes") == 4096 * 2**10
    assert nano.value("jetson_memory_iram_total_bytes") == 0x3F000  # debugfs nvmap/iram/size "3f000"


def test_zones_by_short_name_without_the_pmic_constant(nano: Scrape) -> None:
    assert nano.by("jetson_temperature_celsius", "zone") == {
        "ao": 37.5, "cpu": 41.0, "gpu": 38.5, "pll": 36.0, "thermal": 39.2}
    assert nano.by("jetson_temperature_trip_point_celsius", "type", zone="cpu") == {
        "passive": 97.0, "critical": 102.0}
    assert nano.by("jetson_temperature_trip_point_celsius", "type", zone="thermal") == {"active": 51.0}


def test_iio_rails_report_the_chips_own_power_figure(nano: Scrape) -> None:
    # iio:device0: in_voltageN_input (mV), in_currentN_input (mA), in_powerN_input (mW)
    assert nano.by("jetson_voltage_volts", "rail") == pytest.approx(
        {"POM_5V_IN": 4.968, "POM_5V_GPU": 4.976, "POM_5V_CPU": 4.960})
    assert nano.by("jetson_current_amperes", "rail") == pytest.approx(
        {"POM_5V_IN": 1.016, "POM_5V_GPU": 0.040, "POM_5V_CPU": 0.388})
    # in_power0_input is 5047 mW: the chip's figure, not 4.968 V x 1.016 A = 5.047488 W.
    assert nano.by("jetson_power_watts", "rail") == pytest.approx(
        {"POM_5V_IN": 5.047, "POM_5V_GPU": 0.199, "POM_5V_CPU": 1.924}, rel=1e-12)
    assert nano.by("jetson_current_limit_amperes", "rail", level="crit") == pytest.approx(
        {"POM_5V_IN": 32.76, "POM_5V_GPU": 32.76, "POM_5V_CPU": 32.76})
    assert nano.series("jetson_current_alarm") == []  # the IIO driver has no alarm files


def test_board_power_is_the_input_rail_alone(nano: Scrape) -> None:
    assert nano.value("jetson_board_power_watts") == pytest.approx(5.047)
    assert nano.value("jetson_board_energy_joules_total") == pytest.approx(5.047)  # 1 s at 5.047 W
    assert nano.value("jetson_energy_joules_total", rail="POM_5V_GPU") == pytest.approx(0.199)


def test_the_jetpack4_fan_reads_target_pwm_and_rpm_measured(nano: Scrape) -> None:
    # /sys/devices/pwm-fan/target_pwm 102, rpm_measured 2050
    assert nano.by("jetson_fan_speed_ratio", "fan") == pytest.approx({"pwm-fan": 102 / 255})
    assert nano.by("jetson_fan_rpm", "fan") == {"pwm-fan": 2050.0}


def test_power_mode_from_a_copied_nvpmodel_conf(nano: Scrape) -> None:
    # status "pmode:0000"; /etc/nvpmodel.conf is a regular file on JetPack 4
    assert nano.series("jetson_power_mode_info") == [({"id": "0", "name": "MAXN"}, 1.0)]
    assert nano.value("jetson_clocks_enabled") == 0.0  # scaling_min_freq 102000 != max 1479000


def test_engines_from_debugfs_clocks(nano: Scrape) -> None:
    # vic03 is VIC; emc, gpcclk, tsec and the dotted vic03.cbus are not engines.
    assert nano.by("jetson_engine_active", "engine") == {
        "APE": 1.0, "NVDEC": 0.0, "NVENC": 0.0, "NVJPG": 0.0, "SE": 1.0, "VIC": 1.0}
    assert nano.by("jetson_engine_frequency_hertz", "engine") == {
        "APE": 499.2e6, "NVDEC": 716.8e6, "NVENC": 716.8e6, "NVJPG": 627.2e6, "SE": 627.2e6, "VIC": 140.8e6}
