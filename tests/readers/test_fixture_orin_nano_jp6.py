"""Jetson Orin Nano 8GB (Super), JetPack 6.2, 7W mode: exact values exported from orin-nano-jp6.

Expected values are written from the files in tests/fixtures/orin-nano-jp6.
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
    return fixture_scrape("orin-nano-jp6")


def test_every_collector_succeeds(nano: Scrape) -> None:
    assert {name: nano.success(name) for name in READERS} == {name: True for name in READERS}


def test_identity(nano: Scrape) -> None:
    assert nano.series("jetson_info") == [(
        {"model": "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", "module": "p3767-0005",
         "soc": "tegra234", "l4t": "36.4.3", "jetpack": "6.2", "cuda_arch": "8.7"}, 1.0)]
    assert nano.series("jetson_board_info") == [({"carrier": "p3768-0000", "serial": "1423723051776"}, 1.0)]


def test_two_of_six_cores_off(nano: Scrape) -> None:
    assert nano.by("jetson_cpu_online", "cpu") == {"0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0, "4": 0.0, "5": 0.0}
    assert nano.by("jetson_cpu_frequency_hertz", "cpu") == {c: 960e6 for c in "0123"}
    assert nano.by("jetson_cpu_frequency_max_hertz", "cpu") == {c: 960e6 for c in "0123"}
    assert nano.series("jetson_cpu_governor_info") == [({"cpu": c, "governor": "schedutil"}, 1.0) for c in "0123"]


def test_gpu(nano: Scrape) -> None:
    assert nano.value("jetson_gpu_utilization_ratio") == pytest.approx(0.062)
    assert nano.value("jetson_gpu_frequency_hertz") == 306e6
    assert nano.value("jetson_gpu_frequency_min_hertz") == 306e6
    assert nano.value("jetson_gpu_frequency_max_hertz") == 408e6
    assert nano.by("jetson_gpu_gpc_frequency_hertz", "gpc") == {"0": 306e6, "1": 305.9e6}


def test_emc(nano: Scrape) -> None:
    assert nano.value("jetson_emc_frequency_hertz") == 2133e6
    assert nano.value("jetson_emc_utilization_ratio") == pytest.approx(0.05)


def test_memory_with_2mb_largest_free_blocks(nano: Scrape) -> None:
    assert nano.value("jetson_memory_total_bytes") == 7802124 * KIB
    assert nano.value("jetson_memory_gpu_shared_bytes") == 305172 * KIB
    assert nano.value("jetson_swap_used_bytes") == (3901044 - 3899508) * KIB
    # buddyinfo with 10 orders: the largest block is 2 MB
    assert nano.value("jetson_memory_lfb_blocks") == 310 + 1184
    assert nano.value("jetson_memory_lfb_block_bytes") == 2 * 1024 * 1024


def test_cv_zones_reading_minus_256_are_absent(nano: Scrape) -> None:
    assert nano.by("jetson_temperature_celsius", "zone") == {
        "cpu": 43.218, "gpu": 42.031, "soc0": 41.562, "soc1": 41.875, "soc2": 41.343, "tj": 43.218}


def test_rails_with_the_fixed_7784_ma_limit_and_no_sum_channel(nano: Scrape) -> None:
    assert nano.by("jetson_voltage_volts", "rail") == pytest.approx(
        {"VDD_IN": 5.032, "VDD_CPU_GPU_CV": 5.032, "VDD_SOC": 5.032})
    assert nano.by("jetson_current_amperes", "rail") == pytest.approx(
        {"VDD_IN": 1.424, "VDD_CPU_GPU_CV": 0.296, "VDD_SOC": 0.392})
    assert nano.by("jetson_power_watts", "rail") == pytest.approx(
        {"VDD_IN": 5.032 * 1.424, "VDD_CPU_GPU_CV": 5.032 * 0.296, "VDD_SOC": 5.032 * 0.392})
    # curr1_crit and curr1_max 7784 mA
    assert nano.value("jetson_current_limit_amperes", rail="VDD_IN", level="crit") == pytest.approx(7.784)
    assert nano.value("jetson_current_limit_amperes", rail="VDD_IN", level="warn") == pytest.approx(7.784)
    assert nano.value("jetson_board_power_watts") == pytest.approx(5.032 * 1.424)


def test_fan(nano: Scrape) -> None:
    assert nano.by("jetson_fan_speed_ratio", "fan") == pytest.approx({"pwm-fan": 153 / 255})
    assert nano.by("jetson_fan_rpm", "fan") == {"pwm-fan": 2520.0}


def test_power_mode(nano: Scrape) -> None:
    assert nano.series("jetson_power_mode_info") == [({"id": "3", "name": "7W"}, 1.0)]
    assert nano.value("jetson_clocks_enabled") == 0.0


def test_engines_without_nvenc_dla_or_pva(nano: Scrape) -> None:
    assert nano.by("jetson_engine_active", "engine") == {
        "APE": 1.0, "NVDEC": 0.0, "NVJPG": 0.0, "NVJPG1": 0.0, "OFA": 0.0, "SE": 1.0, "VIC": 0.0}
