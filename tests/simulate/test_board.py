"""A simulated board as the exporter sees it: the real readers over its live tree give back exactly
what it measured, counters integrate it, faults show as absence, and ground truth is served."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Callable

import pytest

from jetson_exporter.readers.thermal import is_placeholder, zone_name
from jetson_exporter.simulate.models import MODELS
from jetson_exporter.simulate.scenarios import SCENARIOS, dropout, dropout_rail, dropout_zone
from testkit.simboard import Driven

Make = Callable[..., Driven]


def test_the_exporter_serves_exactly_what_the_board_measured(driven: Make) -> None:
    d = driven("agx-orin-jp6", "waves")
    for _ in range(20):
        truth = d.step(1.0)
        scrape = d.scrape()
        assert scrape["jetson_gpu_utilization_ratio"] == truth.gpu_load
        assert scrape["jetson_gpu_busy_seconds_total"] == pytest.approx(truth.gpu_busy_s, rel=1e-12)
        for zone, temp in truth.temps_c.items():
            assert scrape[f'jetson_temperature_celsius{{zone="{zone_name(zone)}"}}'] == temp
        for rail, watts in truth.power_w.items():
            assert scrape[f'jetson_power_watts{{rail="{rail}"}}'] == pytest.approx(watts, abs=1e-9)
            assert scrape[f'jetson_energy_joules_total{{rail="{rail}"}}'] == pytest.approx(
                truth.energy_j[rail], rel=1e-9)
        assert scrape["jetson_board_power_watts"] == pytest.approx(truth.board_power_w, abs=1e-9)
        assert scrape["jetson_board_energy_joules_total"] == pytest.approx(truth.board_energy_j, rel=1e-9)
        for cpu, util in truth.cpu_util.items():
            assert scrape[f'jetson_cpu_utilization_ratio{{cpu="{cpu}"}}'] == pytest.approx(util, abs=1e-9)
        (ratio, rpm), = truth.fans.values()
        assert scrape['jetson_fan_speed_ratio{fan="pwm-fan"}'] == pytest.approx(ratio, abs=1e-12)
        assert scrape['jetson_fan_rpm{fan="pwm-fan"}'] == rpm
    assert truth.gpu_busy_s is not None and truth.gpu_busy_s > 1.0  # twenty seconds of real load


def test_the_counters_are_the_integral_of_what_was_measured(driven: Make) -> None:
    d = driven("xavier-nx-jp5", "inference")
    records = [d.step(dt) for dt in (1.0, 0.5, 2.0, 1.0, 1.5, 1.0, 1.0)]
    expected = sum((a.gpu_load + b.gpu_load) / 2 * (b.time - a.time)  # type: ignore[operator]
                   for a, b in zip([d.board.truth()[0], *records], records))
    assert d.value("jetson_gpu_busy_seconds_total") == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_is_served_in_every_scenario_with_every_collector_succeeding(driven: Make, model: str) -> None:
    for name in SCENARIOS:
        d = driven(model, name)
        d.step()
        d.step()
        scrape = d.scrape()
        failing = {k for k, v in scrape.items() if k.startswith("jetson_exporter_collector_success") and v != 1}
        assert failing == set(), (model, name)
        assert scrape["jetson_exporter_device_detected"] == 1
        measuring = {zone_name(z) for z in d.board.latest.temps_c if not is_placeholder(z)}
        exported = {k.split('"')[1] for k in scrape if k.startswith("jetson_temperature_celsius{")}
        assert exported == measuring


def test_a_dropped_sensor_is_absent_never_stale_and_is_found_again(driven: Make) -> None:
    d = driven("orin-nano-jp6", dropout(period_s=100.0, zone_gap=(3.0, 8.0), rail_gap=(3.0, 8.0)))
    zone, rail = dropout_zone(d.board.info), dropout_rail(d.board.info)
    assert (zone, rail) == ("gpu-thermal", "VDD_CPU_GPU_CV")
    temp_key, power_key = 'jetson_temperature_celsius{zone="gpu"}', f'jetson_power_watts{{rail="{rail}"}}'
    seen_after = None
    for i in range(60):
        truth = d.step(1.0)
        scrape = d.scrape()
        if f"zone:{zone}" in truth.absent:
            assert temp_key not in scrape and power_key not in scrape  # gone at once, no last value kept
            assert d.board.tree.hidden  # the files are really gone
        elif temp_key in scrape:
            assert scrape[temp_key] == truth.temps_c[zone]  # whenever shown, the current reading
            assert scrape[power_key] == pytest.approx(truth.power_w[rail], abs=1e-9)
            if i > 8 and seen_after is None:
                seen_after = i
    # Readers look for new sensors every 30 reads: the sensor is back within that.
    assert seen_after is not None and seen_after <= 8 + 31
    assert d.board.tree.hidden == set()


def test_a_board_off_the_network_keeps_counting_and_an_exporter_restart_counts_from_zero(driven: Make) -> None:
    d = driven("agx-orin-jp6", "waves")
    for _ in range(3):
        d.step()
    with urllib.request.urlopen(d.board.url(), timeout=5) as response:
        assert b"jetson_gpu_busy_seconds_total" in response.read()
    d.board.disconnect()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(d.board.url(), timeout=5)
    for _ in range(3):
        d.step()
    busy = d.board.latest.gpu_busy_s
    d.board.reconnect()
    with urllib.request.urlopen(d.board.url(), timeout=5) as response:
        served = {line.split()[0]: float(line.split()[1]) for line in response.read().decode().splitlines()
                  if line.startswith("jetson_gpu_busy_seconds_total")}
    assert served["jetson_gpu_busy_seconds_total"] == pytest.approx(busy, rel=1e-12)  # counted all along

    d.board.stop_exporter()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(d.board.url(), timeout=5)
    assert d.step().gpu_busy_s is None  # nobody is counting
    d.clock.advance(1.0)
    d.board.start_exporter()
    assert d.board.latest.epoch == 2 and d.board.latest.gpu_busy_s == 0.0
    d.step()
    assert 0 < (d.value("jetson_gpu_busy_seconds_total") or 0) < 1.0


def test_ground_truth_is_served_as_json_on_the_boards_port(driven: Make) -> None:
    d = driven("xavier-nx-jp5", "fan-failure")
    first = d.step()
    d.step()
    with urllib.request.urlopen(d.board.url(f"/truth?since={first.time - 0.001}"), timeout=5) as response:
        page = json.load(response)
    assert (page["name"], page["model"], page["scenario"], page["epoch"]) == (
        d.board.name, "xavier-nx-jp5", "fan-failure", 1)
    assert [r["time"] for r in page["records"]] == [first.time, d.board.latest.time]
    assert page["records"][-1]["fans"]["pwm-fan"]["rpm"] == 0
    with urllib.request.urlopen(d.board.url("/truth"), timeout=5) as response:
        assert [r["time"] for r in json.load(response)["records"]] == [d.board.latest.time]
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(d.board.url("/truth?since=yesterday"), timeout=5)
    assert bad.value.code == 400


def test_the_fan_failure_and_overheating_conditions_are_what_the_exporter_shows(driven: Make) -> None:
    stalled, hot = driven("xavier-nx-jp5", "fan-failure"), driven("orin-nano-jp6", "overheating")
    for _ in range(30):
        stalled.step()
        hot.step()
    fan = stalled.scrape()
    assert fan['jetson_fan_rpm{fan="pwm-fan"}'] == 0 and fan['jetson_fan_speed_ratio{fan="pwm-fan"}'] > 0.2
    temps = hot.scrape()
    passive = {re.search(r'zone="([^"]+)"', k).group(1): v for k, v in temps.items()  # type: ignore[union-attr]
               if k.startswith("jetson_temperature_trip_point_celsius") and 'type="passive"' in k}
    near = [z for z, trip in passive.items() if temps[f'jetson_temperature_celsius{{zone="{z}"}}'] >= trip - 5]
    assert near  # what JetsonTemperatureNearThrottling looks for
    assert temps["jetson_gpu_frequency_hertz"] < temps["jetson_gpu_frequency_max_hertz"]  # throttled
