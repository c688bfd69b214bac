"""`--source=jtop` against the real jetson-stats service (4.3.2 and 7.2.2) on a fake Jetson.

The harness (../shared/jtop-harness) runs the service as root and serves /run/jtop.sock; the exporter
runs from the venv that holds the matching jetson-stats client. The sysfs source reads the same fake
device files (through a symlink view), so both sources can be compared series by series.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, Callable, Dict, FrozenSet, Optional, Set, Tuple

import pytest

from jetson_exporter.catalog import CATALOG

pytestmark = pytest.mark.root

Metrics = Dict[str, Dict[FrozenSet[Tuple[str, str]], float]]
INTERVAL = "--sampler.interval=0.5s"
CORE = {m.name for m in CATALOG if m.core}
# Core metrics the jtop source cannot have: jtop keeps no /proc/stat counters.
ONLY_SYSFS_CORE = {"jetson_cpu_seconds_total"}
# Series whose label values must be the same whichever source reads the board.
SAME_LABELS = {
    "jetson_cpu_online": "cpu",
    "jetson_temperature_celsius": "zone",
    "jetson_power_watts": "rail",
    "jetson_engine_active": "engine",
    "jetson_fan_speed_ratio": "fan",
    "jetson_fan_rpm": "fan",
}


@pytest.fixture(scope="session")
def jtop_once(harness: Any, tools: SimpleNamespace) -> Metrics:
    code, out, err = tools.run_once(harness.venv, "--source=jtop", INTERVAL)
    assert code == 0, err
    assert "Traceback" not in err, err
    metrics: Metrics = tools.parse_metrics(out)
    return metrics


@pytest.fixture(scope="session")
def sysfs_once(harness: Any, tools: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Metrics:
    """The default source on the same fake device, from the project's own venv."""
    profile = json.loads((harness.fake_root / "state" / "profile.json").read_text())
    view = tools.build_sysfs_view(harness.fake_root, tmp_path_factory.mktemp(f"sysfs-{harness.profile}"), profile)
    code, out, err = tools.run_once(None, "--root", str(view))
    assert code == 0, err
    metrics: Metrics = tools.parse_metrics(out)
    return metrics


def names(metrics: Metrics) -> Set[str]:
    return {name for name in metrics if not name.startswith("jetson_exporter_")}


def collector_success(tools: SimpleNamespace, metrics: Metrics) -> Optional[float]:
    result: Optional[float] = tools.value(metrics, "jetson_exporter_collector_success", collector="jtop")
    return result


def test_jtop_source_serves_the_core_metrics_the_sysfs_source_serves_on_the_same_board(
        jtop_once: Metrics, sysfs_once: Metrics, tools: SimpleNamespace) -> None:
    assert collector_success(tools, jtop_once) == 1.0
    sysfs_core = names(sysfs_once) & CORE
    assert sysfs_core - ONLY_SYSFS_CORE <= names(jtop_once), sysfs_core - ONLY_SYSFS_CORE - names(jtop_once)
    # No jtop-only names. (The sysfs source's `--once` has CPU loads only if the fake /proc/stat, which
    # the harness moves once a second, changed between its two readings 0.25 s apart.)
    sysfs_names = names(sysfs_once) | {"jetson_cpu_utilization_ratio"}
    assert names(jtop_once) <= sysfs_names, names(jtop_once) - sysfs_names
    for metric, label in SAME_LABELS.items():
        assert tools.labels_of(jtop_once[metric], label) == tools.labels_of(sysfs_once[metric], label), metric
    assert set(jtop_once["jetson_power_mode_info"]) == set(sysfs_once["jetson_power_mode_info"])


def test_board_identity_matches_and_what_the_harness_leaves_empty_stays_empty(
        jtop_once: Metrics, sysfs_once: Metrics) -> None:
    (jtop_info,) = jtop_once["jetson_info"]
    (sysfs_info,) = sysfs_once["jetson_info"]
    j, s = dict(jtop_info), dict(sysfs_info)
    assert (j["model"], j["l4t"], j["jetpack"]) == (s["model"], s["l4t"], s["jetpack"])
    # jtop reads module, SoC and CUDA arch from the EEPROM / device tree, empty on the harness.
    assert (j["module"], j["soc"], j["cuda_arch"]) == ("", "", "")


def test_values_are_in_si_units_and_plausible(jtop_once: Metrics, sysfs_once: Metrics, harness: Any,
                                               tools: SimpleNamespace) -> None:
    jtop = jtop_once
    # Values that do not move must equal what the sysfs source reads from the same files.
    for metric in ("jetson_memory_total_bytes", "jetson_swap_total_bytes", "jetson_gpu_frequency_min_hertz",
                   "jetson_gpu_frequency_max_hertz", "jetson_emc_frequency_hertz", "jetson_emc_frequency_max_hertz",
                   "jetson_cpu_frequency_min_hertz", "jetson_cpu_frequency_max_hertz", "jetson_voltage_volts",
                   "jetson_current_limit_amperes", "jetson_engine_frequency_hertz", "jetson_engine_active"):
        assert jtop[metric] == pytest.approx(sysfs_once[metric]), metric
    for metric in ("jetson_gpu_utilization_ratio", "jetson_emc_utilization_ratio", "jetson_cpu_utilization_ratio",
                   "jetson_fan_speed_ratio"):
        assert jtop[metric] and all(0.0 <= v <= 1.0 for v in jtop[metric].values()), metric
    gpu = tools.value(jtop, "jetson_gpu_frequency_hertz")
    assert tools.value(jtop, "jetson_gpu_frequency_min_hertz") <= gpu <= tools.value(
        jtop, "jetson_gpu_frequency_max_hertz")
    assert all(20.0 < t < 110.0 for t in jtop["jetson_temperature_celsius"].values())
    rails: Dict[str, float] = {dict(k)["rail"]: v for k, v in jtop["jetson_power_watts"].items()}
    assert all(0.0 <= w < 100.0 for w in rails.values())
    board = tools.value(jtop, "jetson_board_power_watts")
    if harness.profile == "agx-orin":  # no input rail; VIN_SYS_5V0 already feeds VDDQ_VDD2_1V8AO
        assert board == pytest.approx(rails["VDD_GPU_SOC"] + rails["VDD_CPU_CV"] + rails["VIN_SYS_5V0"])
    else:
        assert board == rails["VDD_IN"]
    assert tools.value(jtop, "jetson_clocks_enabled") == 0.0


def with_values(tools: SimpleNamespace, exporter: Any) -> Optional[Metrics]:
    metrics: Metrics = exporter.scrape()
    ok = collector_success(tools, metrics) == 1.0
    return metrics if ok and "jetson_gpu_utilization_ratio" in metrics else None


def only_on_agx_orin(harness: Any) -> None:
    if harness.profile != "agx-orin":
        pytest.skip("a serving exporter is tested on the agx-orin profile (the time budget)")


def test_values_move_with_the_device(harness: Any, serve: Callable[..., Any], tools: SimpleNamespace) -> None:
    only_on_agx_orin(harness)
    exporter = serve(harness.venv, "--source=jtop", INTERVAL)
    first = tools.poll(lambda: with_values(tools, exporter), 20.0, "values")

    def moved() -> bool:
        now = exporter.scrape()
        return bool(
            tools.value(now, "jetson_gpu_utilization_ratio") != tools.value(first, "jetson_gpu_utilization_ratio")
            and now["jetson_temperature_celsius"] != first["jetson_temperature_celsius"]
            and tools.value(now, "jetson_gpu_busy_seconds_total") > tools.value(first, "jetson_gpu_busy_seconds_total"))

    tools.poll(moved, 20.0, "GPU load, temperatures and GPU busy time to move")


def test_a_service_restart_fails_the_collector_meanwhile_and_values_come_back(
        harness: Any, serve: Callable[..., Any], tools: SimpleNamespace) -> None:
    only_on_agx_orin(harness)
    exporter = serve(harness.venv, "--source=jtop", INTERVAL)
    tools.poll(lambda: with_values(tools, exporter), 20.0, "values")
    harness.stop()
    try:
        down = tools.poll(lambda: (lambda m: m if collector_success(tools, m) == 0.0 else None)(exporter.scrape()),
                          20.0, "the collector to report failure")
        assert names(down) == set(), f"values served while the service is down: {sorted(names(down))}"
    finally:
        harness.start()
    tools.poll(lambda: with_values(tools, exporter), 45.0, "values after the restart")
    failures = [line for line in exporter.lines if "collector jtop:" in line]
    assert any("lost the connection to the jtop service" in line or "it is not running" in line
               for line in failures), exporter.lines
    assert any("reconnected to the jtop service" in line for line in exporter.lines), exporter.lines
    assert not any("Traceback" in line for line in exporter.lines), exporter.lines


def test_a_client_of_another_series_gets_one_clear_line_naming_both_versions(
        harness: Any, tools: SimpleNamespace) -> None:
    other = next(v for v in tools.venvs if v != harness.version)
    venv = tools.venvs[other]
    if not (venv / "bin" / "jetson-exporter").exists():
        pytest.skip(f"no client venv for jetson-stats {other}")
    code, out, err = tools.run_once(venv, "--source=jtop", INTERVAL)
    assert code == 0 and "Traceback" not in err, err
    series = ".".join(harness.version.split(".")[:2])
    expected = (f"jtop service is {harness.version} but this exporter has jetson-stats {other} installed: "
                f"install jetson-stats=={series}.* beside the exporter")
    assert len([line for line in err.splitlines() if expected in line]) == 1, err
    metrics = tools.parse_metrics(out)
    assert collector_success(tools, metrics) == 0.0
    assert names(metrics) == set()
