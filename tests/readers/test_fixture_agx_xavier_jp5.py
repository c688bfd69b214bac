"""Jetson AGX Xavier, JetPack 5.1.2, MODE_15W with jetson_clocks: exact values from agx-xavier-jp5.

Expected values are written from the files in tests/fixtures/agx-xavier-jp5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pytest

from jetson_exporter.readers import READERS

if TYPE_CHECKING:
    from readers.conftest import Scrape

KIB = 1024


@pytest.fixture(scope="module")
def agx(fixture_scrape: Callable[[str], Scrape]) -> Scrape:
    return fixture_scrape("agx-xavier-jp5")


def test_every_collector_succeeds(agx: Scrape) -> None:
    assert {name: agx.success(name) for name in READERS} == {name: True for name in READERS}


def test_identity(agx: Scrape) -> None:
    assert agx.series("jetson_info") == [(
        {"model": "Jetson-AGX", "module": "p2888-0001", "soc": "tegra194", "l4t": "35.4.1", "jetpack": "5.1.2",
         "cuda_arch": "7.2"}, 1.0)]
    assert agx.series("jetson_board_info") == [({"carrier": "p2822-0000", "serial": "1421019012345"}, 1.0)]


def test_eight_cores_four_off_the_online_ones_pinned(agx: Scrape) -> None:
    assert agx.by("jetson_cpu_online", "cpu") == {
        "0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0, "4": 0.0, "5": 0.0, "6": 0.0, "7": 0.0}
    for metric in ("jetson_cpu_frequency_hertz", "jetson_cpu_frequency_min_hertz", "jetson_cpu_frequency_max_hertz"):
        assert agx.by(metric, "cpu") == {c: 1190.4e6 for c in "0123"}, metric


def test_jetson_clocks_is_on_when_cpu_gpu_and_capped_emc_run_at_their_maximum(agx: Scrape) -> None:
    assert agx.value("jetson_gpu_frequency_hertz") == 675.75e6
    assert agx.value("jetson_gpu_frequency_min_hertz") == 675.75e6
    assert agx.value("jetson_gpu_frequency_max_hertz") == 675.75e6
    # bpmp emc rate 1331200000, max_rate 2133000000, emc_iso_cap 1331200000: the cap is the maximum
    assert agx.value("jetson_emc_frequency_hertz") == 1331.2e6
    assert agx.value("jetson_emc_frequency_max_hertz") == 1331.2e6
    assert agx.value("jetson_emc_utilization_ratio") == pytest.approx(0.1)
    assert agx.value("jetson_clocks_enabled") == 1.0


def test_gpu_load(agx: Scrape) -> None:
    assert agx.value("jetson_gpu_utilization_ratio") == pytest.approx(0.05)


def test_memory(agx: Scrape) -> None:
    assert agx.value("jetson_memory_total_bytes") == 31928720 * KIB
    assert agx.value("jetson_memory_gpu_shared_bytes") == 618496 * KIB
    assert agx.value("jetson_memory_lfb_blocks") == 402 + 5841


def test_zones_with_tboard_and_tdiode(agx: Scrape) -> None:
    assert agx.by("jetson_temperature_celsius", "zone") == {
        "cpu": 43.5, "gpu": 42.0, "aux": 42.5, "ao": 43.0, "tboard": 36.0, "tdiode": 39.25, "thermal": 42.4}


def test_six_rails_on_two_monitors_and_the_board_is_their_sum(agx: Scrape) -> None:
    # 1-0040 (hwmon1): GPU, CPU, SOC; 1-0041 (hwmon2): CV, VDDRQ, SYS5V
    assert agx.by("jetson_voltage_volts", "rail") == pytest.approx(
        {"GPU": 19.072, "CPU": 19.072, "SOC": 19.072, "CV": 19.072, "VDDRQ": 19.072, "SYS5V": 4.992})
    assert agx.by("jetson_current_amperes", "rail") == pytest.approx(
        {"GPU": 0.176, "CPU": 0.096, "SOC": 0.112, "CV": 0.0, "VDDRQ": 0.032, "SYS5V": 0.440})
    expected = {"GPU": 19.072 * 0.176, "CPU": 19.072 * 0.096, "SOC": 19.072 * 0.112, "CV": 0.0,
                "VDDRQ": 19.072 * 0.032, "SYS5V": 4.992 * 0.440}
    assert agx.by("jetson_power_watts", "rail") == pytest.approx(expected)
    assert agx.value("jetson_board_power_watts") == pytest.approx(
        19.072 * (0.176 + 0.096 + 0.112 + 0.0 + 0.032) + 4.992 * 0.440)


def test_fan_at_full_speed(agx: Scrape) -> None:
    assert agx.by("jetson_fan_speed_ratio", "fan") == {"pwm-fan": 1.0}  # pwm1 255
    assert agx.by("jetson_fan_rpm", "fan") == {"pwm-fan": 2760.0}


def test_power_mode(agx: Scrape) -> None:
    assert agx.series("jetson_power_mode_info") == [({"id": "2", "name": "MODE_15W"}, 1.0)]


def test_engines_group_dla_and_pva_families(agx: Scrape) -> None:
    assert agx.by("jetson_engine_active", "engine") == {
        "APE": 1.0, "CVNAS": 0.0, "DLA0": 1.0, "DLA1": 0.0, "NVDEC": 0.0, "NVENC": 0.0, "NVJPG": 0.0,
        "PVA0": 0.0, "PVA1": 0.0, "SE": 1.0, "VIC": 1.0}
    assert agx.value("jetson_engine_frequency_hertz", engine="DLA0") == 1395.2e6
    assert agx.value("jetson_engine_frequency_hertz", engine="PVA1") == 1036.8e6
