"""Jetson AGX Thor, JetPack 7.0 (L4T 38.2): exact values exported from thor-jp7.

Expected values are written from the files in tests/fixtures/thor-jp7.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pytest

from jetson_exporter.readers import READERS

if TYPE_CHECKING:
    from readers.conftest import Scrape

KIB = 1024


@pytest.fixture(scope="module")
def thor(fixture_scrape: Callable[[str], Scrape]) -> Scrape:
    return fixture_scrape("thor-jp7")


def test_every_collector_succeeds(thor: Scrape) -> None:
    assert {name: thor.success(name) for name in READERS} == {name: True for name in READERS}


def test_identity_without_dtsfilename_or_boardids(thor: Scrape) -> None:
    assert thor.series("jetson_info") == [(
        {"model": "NVIDIA Jetson AGX Thor Developer Kit", "module": "p3834-0008", "soc": "tegra264",
         "l4t": "38.2.0", "jetpack": "7.0", "cuda_arch": "11.0"}, 1.0)]
    assert thor.series("jetson_board_info") == [({"carrier": "p4071-0000", "serial": "1425025000318"}, 1.0)]


def test_fourteen_cores_each_with_its_own_policy(thor: Scrape) -> None:
    khz = (2601000, 1716000, 972000, 2088000, 972000, 1530000, 2601000, 972000, 1344000, 972000, 2274000, 972000,
           1158000, 972000)
    assert thor.by("jetson_cpu_online", "cpu") == {str(c): 1.0 for c in range(14)}
    assert thor.by("jetson_cpu_frequency_hertz", "cpu") == {str(c): f * 1000.0 for c, f in enumerate(khz)}
    assert thor.by("jetson_cpu_frequency_max_hertz", "cpu") == {str(c): 2601e6 for c in range(14)}


def test_gpu_without_a_load_file_exports_clocks_but_no_utilization(thor: Scrape) -> None:
    # devfreq gpu-gpc-0 is the graphics clock; gpu-nvd-0 is another domain and is not exported.
    names = thor.names()
    assert "jetson_gpu_utilization_ratio" not in names
    assert "jetson_gpu_busy_seconds_total" not in names
    assert thor.value("jetson_gpu_frequency_hertz") == 1575e6
    assert thor.value("jetson_gpu_frequency_min_hertz") == 360e6
    assert thor.value("jetson_gpu_frequency_max_hertz") == 1575e6
    assert thor.by("jetson_gpu_gpc_frequency_hertz", "gpc") == {"0": 1575e6}
    assert "jetson_gpu_railgate_enabled" not in names


def test_emc_from_the_bwmgr_devfreq_and_bpmp_actmon(thor: Scrape) -> None:
    assert thor.value("jetson_emc_frequency_hertz") == 4266e6
    assert thor.value("jetson_emc_frequency_min_hertz") == 2133e6
    assert thor.value("jetson_emc_frequency_max_hertz") == 4266e6
    assert thor.value("jetson_emc_utilization_ratio") == pytest.approx(0.08)


def test_memory_without_nvmap(thor: Scrape) -> None:
    assert thor.value("jetson_memory_total_bytes") == 128024900 * KIB
    assert thor.value("jetson_memory_gpu_shared_bytes") is None
    assert thor.value("jetson_swap_total_bytes") == 0.0


def test_thor_zone_names(thor: Scrape) -> None:
    assert thor.by("jetson_temperature_celsius", "zone") == {
        "cpu": 46.2, "gpu": 44.1, "tj": 48.3, "soc012": 45.5, "soc345": 45.9}


def test_rails_and_the_ina238_input_which_is_the_board_power(thor: Scrape) -> None:
    # INA238 (1-0044, hwmon1): in1_input 19456 mV, curr1_input 2304 mA, power1_input 44826624 uW
    assert thor.by("jetson_voltage_volts", "rail") == pytest.approx(
        {"VDD_GPU": 19.456, "VDD_CPU_SOC_MSS": 19.456, "VIN_SYS_5V0": 5.008, "VIN": 19.456})
    assert thor.by("jetson_current_amperes", "rail") == pytest.approx(
        {"VDD_GPU": 0.640, "VDD_CPU_SOC_MSS": 0.896, "VIN_SYS_5V0": 1.120, "VIN": 2.304})
    assert thor.by("jetson_power_watts", "rail") == pytest.approx(
        {"VDD_GPU": 19.456 * 0.640, "VDD_CPU_SOC_MSS": 19.456 * 0.896, "VIN_SYS_5V0": 5.008 * 1.120,
         "VIN": 44.826624})
    assert thor.value("jetson_board_power_watts") == pytest.approx(44.826624)


def test_fan(thor: Scrape) -> None:
    assert thor.by("jetson_fan_speed_ratio", "fan") == pytest.approx({"pwm-fan": 76 / 255})
    assert thor.by("jetson_fan_rpm", "fan") == {"pwm-fan": 1350.0}


def test_power_mode_120w_is_id_1(thor: Scrape) -> None:
    assert thor.series("jetson_power_mode_info") == [({"id": "1", "name": "120W"}, 1.0)]
    assert thor.value("jetson_clocks_enabled") == 0.0


def test_no_debugfs_engine_clocks_means_no_engine_series(thor: Scrape) -> None:
    assert {n for n in thor.names() if n.startswith("jetson_engine_")} == set()
