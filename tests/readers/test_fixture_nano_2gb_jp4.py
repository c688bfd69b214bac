"""Jetson Nano 2GB, JetPack 4.6.4, 5W mode: a board without a power monitor or a fan.

Expected values are written from the files in tests/fixtures/nano-2gb-jp4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pytest

from jetson_exporter.readers import READERS

if TYPE_CHECKING:
    from readers.conftest import Scrape

KIB = 1024


@pytest.fixture(scope="module")
def nano2gb(fixture_scrape: Callable[[str], Scrape]) -> Scrape:
    return fixture_scrape("nano-2gb-jp4")


def test_a_board_without_power_monitor_or_fan_is_fully_successful(nano2gb: Scrape) -> None:
    assert {name: nano2gb.success(name) for name in READERS} == {name: True for name in READERS}


def test_no_rail_board_power_or_fan_series_exist(nano2gb: Scrape) -> None:
    absent = {"jetson_power_watts", "jetson_voltage_volts", "jetson_current_amperes", "jetson_energy_joules_total",
              "jetson_board_power_watts", "jetson_board_energy_joules_total", "jetson_fan_speed_ratio",
              "jetson_fan_rpm", "jetson_current_limit_amperes"}
    assert absent & nano2gb.names() == set()


def test_identity(nano2gb: Scrape) -> None:
    assert nano2gb.series("jetson_info") == [(
        {"model": "NVIDIA Jetson Nano 2GB Developer Kit", "module": "p3448-0003", "soc": "tegra210",
         "l4t": "32.7.4", "jetpack": "4.6.4", "cuda_arch": "5.3"}, 1.0)]
    assert nano2gb.series("jetson_board_info") == [({"carrier": "p3542-0000", "serial": "1423121004877"}, 1.0)]


def test_two_cores_switched_off_by_the_5w_mode_have_no_clock_or_time(nano2gb: Scrape) -> None:
    # online "0-1", cpu2/online and cpu3/online "0"; /proc/stat lists cpu0 and cpu1 only
    assert nano2gb.by("jetson_cpu_online", "cpu") == {"0": 1.0, "1": 1.0, "2": 0.0, "3": 0.0}
    assert nano2gb.by("jetson_cpu_frequency_hertz", "cpu") == {"0": 918e6, "1": 918e6}
    assert nano2gb.by("jetson_cpu_frequency_max_hertz", "cpu") == {"0": 918e6, "1": 918e6}
    assert {labels["cpu"] for labels, _ in nano2gb.series("jetson_cpu_seconds_total")} == {"0", "1"}
    assert nano2gb.by("jetson_cpu_seconds_total", "mode", cpu="1") == pytest.approx({
        "user": 3402.95, "nice": 0.75, "system": 1215.34, "idle": 6134.71, "iowait": 13.5, "irq": 0.0,
        "softirq": 3.75, "steal": 0.0})


def test_a_railgated_gpu_reads_zero_load(nano2gb: Scrape) -> None:
    assert nano2gb.value("jetson_gpu_utilization_ratio") == 0.0
    assert nano2gb.value("jetson_gpu_railgated") == 1.0  # is_railgated: "yes"
    assert nano2gb.value("jetson_gpu_frequency_hertz") == 76.8e6
    assert nano2gb.value("jetson_gpu_frequency_max_hertz") == 640e6


def test_memory(nano2gb: Scrape) -> None:
    assert nano2gb.value("jetson_memory_total_bytes") == 2027940 * KIB
    assert nano2gb.value("jetson_memory_used_bytes") == (2027940 - 211332 - 38244 - 702108) * KIB
    assert nano2gb.value("jetson_memory_gpu_shared_bytes") == 98304 * KIB
    assert nano2gb.value("jetson_swap_used_bytes") == (5062644 - 4716532) * KIB
    assert nano2gb.value("jetson_memory_lfb_blocks") == 4 + 9


def test_zones_and_power_mode(nano2gb: Scrape) -> None:
    assert nano2gb.by("jetson_temperature_celsius", "zone") == {
        "ao": 40.5, "cpu": 44.5, "gpu": 41.0, "pll": 39.0, "thermal": 42.8}
    assert nano2gb.series("jetson_power_mode_info") == [({"id": "1", "name": "5W"}, 1.0)]
    assert nano2gb.value("jetson_emc_utilization_ratio") == pytest.approx(0.11)
