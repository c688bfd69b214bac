"""Sensor dropout in the device tree: a sensor's value files are removed and put back, the layout stays."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from jetson_exporter.simulate.devicetree import write_tree
from jetson_exporter.simulate.models import MODELS

ORIN = MODELS["agx-orin-jp6"]
NANO = MODELS["nano-jp4"]


def test_hidden_files_stay_away_while_the_state_changes_and_come_back_current(tmp_path: Path) -> None:
    tree = write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    files = tree.sensor_files("zone:gpu-thermal")
    assert files == ["sys/devices/virtual/thermal/thermal_zone1/temp"]
    tree.hide(files)
    assert not (tmp_path / files[0]).exists() and tree.hidden == set(files)
    warmer = dataclasses.replace(ORIN.state, temps_c={**ORIN.state.temps_c, "gpu-thermal": 61.25})
    tree.write_state(warmer)
    assert not (tmp_path / files[0]).exists()  # a new state does not bring a dropped sensor back
    tree.show(files)
    assert (tmp_path / files[0]).read_text() == "61250\n" and tree.hidden == set()


def test_a_rail_drops_out_with_all_its_readings_but_keeps_its_label(tmp_path: Path) -> None:
    tree = write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    files = tree.sensor_files("rail:VDD_CPU_CV")
    hwmon = "sys/devices/platform/bus@0/c240000.i2c/i2c-1/1-0040/hwmon/hwmon1"
    assert files == [f"{hwmon}/in2_input", f"{hwmon}/curr2_input", f"{hwmon}/in5_input",
                     f"{hwmon}/curr2_max_alarm", f"{hwmon}/curr2_crit_alarm"]
    tree.hide(files)
    assert (tmp_path / hwmon / "in2_label").read_text() == "VDD_CPU_CV\n"
    assert not any((tmp_path / f).exists() for f in files)
    # JetPack 4's IIO monitor and the legacy fan have their own files.
    nano = write_tree(str(tmp_path / "nano"), NANO.spec, NANO.state)
    assert [f.rsplit("/", 1)[1] for f in nano.sensor_files("rail:POM_5V_GPU")] == [
        "in_voltage1_input", "in_current1_input", "in_power1_input"]
    assert [f.rsplit("/", 1)[1] for f in nano.sensor_files("fan:pwm-fan")] == [
        "target_pwm", "cur_pwm", "rpm_measured"]


def test_unknown_sensors_and_files_are_refused(tmp_path: Path) -> None:
    tree = write_tree(str(tmp_path), ORIN.spec, ORIN.state)
    with pytest.raises(KeyError, match="no sensor"):
        tree.sensor_files("rail:VDD_IN")
    with pytest.raises(KeyError, match="no sensor"):
        tree.sensor_files("rail:NC")
    with pytest.raises(KeyError, match="not a value file"):
        tree.hide(["sys/devices/virtual/thermal/thermal_zone1/type"])
