"""Every reader meets the faults real boards produce: a missing, empty or garbled file, EAGAIN,
permission denied, a file vanishing between discovery and reading, a sensor appearing later.

The exporter never crashes and never exports a made-up value: the value is absent, and where a
file exists but cannot be read or parsed the collector reports failure and says which file.
Root-only debugfs files are the exception by design: unreadable there means unavailable.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Tuple

import pytest

from jetson_exporter.readers import READERS
from jetson_exporter.simulate.devicetree import DeviceTree, write_tree
from jetson_exporter.simulate.models import MODELS, FanSpec, FanState, ZoneSpec

if TYPE_CHECKING:
    from readers.conftest import Exporter, Faults, Scrape, Tree

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SELF_METRICS = ("jetson_exporter_",)


@dataclass(frozen=True)
class Target:
    """One value file a reader reads, and the series it feeds."""

    model: str
    collector: str
    file: str  # relative to the tree, as the reader reaches it
    metric: str
    labels: Tuple[Tuple[str, str], ...] = ()
    privileged: bool = False  # root-only (debugfs and actmon): unreadable is unavailable, not a failure

    @property
    def id(self) -> str:
        return f"{self.collector}:{self.model}:{os.path.basename(self.file)}"

    def value(self, scrape: Scrape) -> object:
        return scrape.value(self.metric, **dict(self.labels))


TARGETS = [
    Target("agx-orin-jp6", "cpu", "sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq",
           "jetson_cpu_frequency_hertz", (("cpu", "0"),)),
    Target("agx-orin-jp6", "cpu", "proc/stat", "jetson_cpu_seconds_total", (("cpu", "3"), ("mode", "user"))),
    Target("agx-orin-jp6", "gpu", "sys/devices/platform/bus@0/17000000.gpu/load", "jetson_gpu_utilization_ratio"),
    Target("nano-jp4", "gpu", "sys/class/devfreq/57000000.gpu/cur_freq", "jetson_gpu_frequency_hertz"),
    Target("agx-orin-jp6", "gpu", "sys/kernel/debug/bpmp/debug/clk/nafll_gpc1/pto_counter",
           "jetson_gpu_gpc_frequency_hertz", (("gpc", "1"),), privileged=True),
    Target("agx-orin-jp6", "emc", "sys/kernel/debug/bpmp/debug/clk/emc/rate", "jetson_emc_frequency_hertz",
           privileged=True),
    Target("thor-jp7", "emc", "sys/class/devfreq/bwmgr/cur_freq", "jetson_emc_frequency_hertz", privileged=True),
    Target("nano-jp4", "emc", "sys/kernel/actmon_avg_activity/mc_all", "jetson_emc_utilization_ratio",
           privileged=True),
    Target("agx-orin-jp6", "memory", "proc/meminfo", "jetson_memory_total_bytes"),
    Target("orin-nano-jp6", "memory", "proc/buddyinfo", "jetson_memory_lfb_blocks"),
    Target("nano-jp4", "memory", "sys/kernel/debug/nvmap/iram/size", "jetson_memory_iram_total_bytes",
           privileged=True),
    Target("agx-orin-jp6", "engines", "sys/kernel/debug/clk/vic/clk_rate", "jetson_engine_frequency_hertz",
           (("engine", "VIC"),), privileged=True),
    Target("agx-orin-jp6", "thermal", "sys/class/thermal/thermal_zone0/temp", "jetson_temperature_celsius",
           (("zone", "cpu"),)),
    Target("agx-orin-jp6", "power", "sys/class/hwmon/hwmon1/curr1_input", "jetson_current_amperes",
           (("rail", "VDD_GPU_SOC"),)),
    Target("xavier-nx-jp5", "power", "sys/bus/i2c/devices/7-0040/hwmon/hwmon1/in1_input", "jetson_voltage_volts",
           (("rail", "VDD_IN"),)),
    Target("nano-jp4", "power", "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0/in_current0_input",
           "jetson_current_amperes", (("rail", "POM_5V_IN"),)),
    Target("thor-jp7", "power", "sys/class/hwmon/hwmon1/curr1_input", "jetson_current_amperes", (("rail", "VIN"),)),
    Target("agx-orin-jp6", "fan", "sys/class/hwmon/hwmon2/pwm1", "jetson_fan_speed_ratio", (("fan", "pwm-fan"),)),
    Target("agx-orin-jp6", "fan", "sys/class/hwmon/hwmon0/rpm", "jetson_fan_rpm", (("fan", "pwm-fan"),)),
    Target("nano-jp4", "fan", "sys/devices/pwm-fan/target_pwm", "jetson_fan_speed_ratio", (("fan", "pwm-fan"),)),
    Target("agx-orin-jp6", "powermode", "var/lib/nvpmodel/status", "jetson_power_mode_info",
           (("id", "0"), ("name", "MAXN"))),
]
TARGET_IDS = [t.id for t in TARGETS]


def _assert_failed_naming(scrape: Scrape, target: Target, words: str = "") -> None:
    assert not scrape.success(target.collector)
    error = scrape.error(target.collector) or ""
    assert os.path.basename(target.file) in error, error
    assert words in error, error


def _assert_others_fine(scrape: Scrape, target: Target) -> None:
    """One reader's fault never takes another reader down."""
    for name in READERS:
        if name != target.collector:
            assert scrape.success(name), (name, scrape.error(name))


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_the_value_is_there_before_any_fault(target: Target, fixture_scrape: Callable[[str], Scrape]) -> None:
    assert target.value(fixture_scrape(target.model)) is not None


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_a_missing_file_means_an_absent_value_not_an_error(
    target: Target, tree: Callable[[str], Tree], exporter: Callable[..., Exporter]
) -> None:
    t = tree(target.model)
    t.remove(target.file)
    scrape = exporter(t.root).scrape()
    assert target.value(scrape) is None
    assert scrape.success(target.collector), scrape.error(target.collector)
    _assert_others_fine(scrape, target)


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_an_empty_file_is_absent_and_an_error(
    target: Target, tree: Callable[[str], Tree], exporter: Callable[..., Exporter]
) -> None:
    t = tree(target.model)
    t.write(target.file, b"")
    scrape = exporter(t.root).scrape()
    assert target.value(scrape) is None
    if target.privileged:
        assert scrape.success(target.collector), scrape.error(target.collector)
    else:
        _assert_failed_naming(scrape, target)
    _assert_others_fine(scrape, target)


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_garbage_is_absent_and_an_error_naming_the_file(
    target: Target, tree: Callable[[str], Tree], exporter: Callable[..., Exporter]
) -> None:
    t = tree(target.model)
    t.write(target.file, b"garbage\n")
    scrape = exporter(t.root).scrape()
    assert target.value(scrape) is None
    _assert_failed_naming(scrape, target, "unexpected content")
    _assert_others_fine(scrape, target)


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_eagain_means_no_value_right_now_not_an_error(
    target: Target, faults: Faults, exporter: Callable[..., Exporter]
) -> None:
    root = FIXTURES / target.model
    faults.fail_with_eagain(root / target.file)
    scrape = exporter(root).scrape()
    assert target.value(scrape) is None
    assert scrape.success(target.collector), scrape.error(target.collector)
    _assert_others_fine(scrape, target)


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_permission_denied_is_absent_and_an_error_except_for_root_only_files(
    target: Target, faults: Faults, exporter: Callable[..., Exporter]
) -> None:
    root = FIXTURES / target.model
    faults.deny(root / target.file)
    scrape = exporter(root).scrape()
    assert target.value(scrape) is None
    if target.privileged:
        assert scrape.success(target.collector), scrape.error(target.collector)
    else:
        _assert_failed_naming(scrape, target, "permission denied")
    _assert_others_fine(scrape, target)


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_a_file_vanishing_after_discovery_is_absent_then_rediscovered_away(
    target: Target, tree: Callable[[str], Tree], exporter: Callable[..., Exporter]
) -> None:
    t = tree(target.model)
    board = exporter(t.root)
    assert target.value(board.scrape()) is not None
    t.remove(target.file)
    for _ in range(3):  # the read that finds it gone, the rediscovery, and one more
        scrape = board.scrape()
        assert target.value(scrape) is None
        assert scrape.success(target.collector), scrape.error(target.collector)


# -- faults with their own outcomes ------------------------------------------------------------


def test_an_unreadable_release_file_keeps_the_rest_of_the_identity(
    faults: Faults, exporter: Callable[..., Exporter]
) -> None:
    root = FIXTURES / "agx-orin-jp6"
    faults.deny(root / "etc/nv_tegra_release")
    scrape = exporter(root).scrape()
    assert scrape.series("jetson_info") == [(
        {"model": "NVIDIA Jetson AGX Orin Developer Kit", "module": "p3701-0005", "soc": "tegra234", "l4t": "",
         "jetpack": "", "cuda_arch": "8.7"}, 1.0)]
    assert not scrape.success("board")
    assert "permission denied" in (scrape.error("board") or "")


@pytest.mark.parametrize("content, success", [(None, True), (b"", False), (b"# R36 but not a release\n", False)])
def test_a_missing_or_garbled_release_file_leaves_l4t_and_jetpack_empty(
    content: bytes, success: bool, tree: Callable[[str], Tree], exporter: Callable[..., Exporter]
) -> None:
    t = tree("nano-jp4")
    if content is None:
        t.remove("etc/nv_tegra_release")
    else:
        t.write("etc/nv_tegra_release", content)
    scrape = exporter(t.root).scrape()
    [(labels, _)] = scrape.series("jetson_info")
    assert (labels["l4t"], labels["jetpack"], labels["soc"]) == ("", "", "tegra210")
    assert scrape.success("board") is success


def test_an_unreadable_device_tree_model_leaves_only_that_label_empty(
    faults: Faults, exporter: Callable[..., Exporter]
) -> None:
    root = FIXTURES / "thor-jp7"
    faults.deny(root / "sys/firmware/devicetree/base/model")
    scrape = exporter(root).scrape()
    [(labels, _)] = scrape.series("jetson_info")
    assert (labels["model"], labels["module"], labels["l4t"]) == ("", "p3834-0008", "38.2.0")
    assert not scrape.success("board")


@pytest.mark.parametrize("content", [b"", b"garbage\n"])
def test_a_broken_global_online_list_falls_back_to_the_per_core_files(
    content: bytes, tree: Callable[[str], Tree], exporter: Callable[..., Exporter]
) -> None:
    t = tree("xavier-nx-jp5")
    t.write("sys/devices/system/cpu/online", content)
    scrape = exporter(t.root).scrape()
    # Not "all offline" from an empty list: cpu1..5/online say 1 1 1 0 0, cpu0 cannot go offline.
    assert scrape.by("jetson_cpu_online", "cpu") == {"0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0, "4": 0.0, "5": 0.0}
    assert not scrape.success("cpu")
    assert "cpu/online" in (scrape.error("cpu") or "")


@pytest.mark.parametrize("fault", ["garbage", "eagain", "denied"])
def test_a_core_whose_online_state_is_unreadable_is_left_out(
    fault: str, tree: Callable[[str], Tree], faults: Faults, exporter: Callable[..., Exporter]
) -> None:
    t = tree("orin-nano-jp6")
    t.remove("sys/devices/system/cpu/online")  # read each core's own online file
    core5 = "sys/devices/system/cpu/cpu5/online"
    if fault == "garbage":
        t.write(core5, b"maybe\n")
    elif fault == "eagain":
        faults.fail_with_eagain(t.path(core5))
    else:
        faults.deny(t.path(core5))
    scrape = exporter(t.root).scrape()
    # Neither online nor offline is known for cpu5: it is not reported either way.
    assert scrape.by("jetson_cpu_online", "cpu") == {"0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0, "4": 0.0}
    assert scrape.success("cpu") is (fault == "eagain")
    if fault != "eagain":
        assert "cpu5/online" in (scrape.error("cpu") or "")


def test_an_orin_cv_zone_failing_with_eagain_is_absent_and_not_an_error(
    faults: Faults, exporter: Callable[..., Exporter]
) -> None:
    root = FIXTURES / "agx-orin-jp6"
    faults.fail_with_eagain(root / "sys/devices/virtual/thermal/thermal_zone2/temp")  # cv0-thermal
    scrape = exporter(root).scrape()
    zones = scrape.by("jetson_temperature_celsius", "zone")
    assert "cv0" not in zones and "cv1" not in zones
    assert zones["cv2"] == 44.593
    assert scrape.success("thermal")


def test_one_unreadable_summed_rail_leaves_board_power_absent_not_low(
    faults: Faults, exporter: Callable[..., Exporter]
) -> None:
    root = FIXTURES / "agx-orin-jp6"
    faults.deny(root / "sys/class/hwmon/hwmon1/curr3_input")  # VIN_SYS_5V0's current
    scrape = exporter(root).scrape()
    assert scrape.value("jetson_board_power_watts") is None
    assert scrape.value("jetson_power_watts", rail="VIN_SYS_5V0") is None
    assert scrape.value("jetson_voltage_volts", rail="VIN_SYS_5V0") == pytest.approx(4.976)
    assert scrape.value("jetson_power_watts", rail="VDD_GPU_SOC") == pytest.approx(4.984 * 0.480)
    assert not scrape.success("power")


def test_an_unreadable_gpu_node_name_is_an_error_not_a_crash(
    faults: Faults, exporter: Callable[..., Exporter]
) -> None:
    root = FIXTURES / "agx-orin-jp6"
    faults.deny(root / "sys/firmware/devicetree/base/bus@0/gpu@17000000/name")
    scrape = exporter(root).scrape()
    assert {n for n in scrape.names() if n.startswith("jetson_gpu_")} == set()
    assert not scrape.success("gpu")
    assert "permission denied" in (scrape.error("gpu") or "")


def test_unreadable_iram_keeps_the_rest_of_memory(faults: Faults, exporter: Callable[..., Exporter]) -> None:
    root = FIXTURES / "nano-jp4"
    board = exporter(root)
    board.scrape()
    faults.deny(root / "sys/kernel/debug/nvmap/iram/size")  # debugfs becomes unreadable after discovery
    scrape = board.scrape()
    assert scrape.value("jetson_memory_iram_total_bytes") is None
    assert scrape.value("jetson_memory_total_bytes") == 4059240 * 1024
    assert scrape.success("memory")


def test_with_every_file_denied_nothing_is_made_up(faults: Faults, exporter: Callable[..., Exporter]) -> None:
    root = FIXTURES / "agx-orin-jp6"
    faults.deny_everything_under(root)
    scrape = exporter(root).scrape()
    device = {n for n in scrape.names() if not n.startswith(SELF_METRICS)}
    assert device == {"jetson_cpu_online"}
    assert scrape.by("jetson_cpu_online", "cpu") == {"0": 1.0}  # cpu0 has no online file: it is always on
    failed = {name for name in READERS if not scrape.success(name)}
    # The debugfs readers treat unreadable as unavailable (it is root-only); every other one fails.
    assert failed == set(READERS) - {"emc", "engines"}


def test_with_garbage_in_every_file_nothing_is_made_up(
    fresh_tree: Callable[[str], Path], exporter: Callable[..., Exporter]
) -> None:
    root = fresh_tree("thor-jp7")
    for directory, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                Path(path).write_bytes(b"garbage\n")
    board = exporter(root)
    board.scrape()
    scrape = board.scrape()
    device = {n for n in scrape.names() if not n.startswith(SELF_METRICS)}
    # Text is text (a device tree model may well say "garbage"); no number is invented.
    assert device <= {"jetson_info", "jetson_board_info", "jetson_cpu_online", "jetson_cpu_governor_info",
                      "jetson_gpu_governor_info"}
    assert scrape.by("jetson_cpu_online", "cpu") == {"0": 1.0}
    # Every reader that found something to read says what was wrong. The power and fan readers
    # find no chip named ina3221/pwmfan any more, so they have nothing to read.
    failed = {name for name in READERS if not scrape.success(name)}
    assert failed == set(READERS) - {"power", "fan", "engines"}


# -- sensors appearing later -------------------------------------------------------------------


def test_a_thermal_zone_that_appears_later_is_found_at_rediscovery(
    fresh_tree: Callable[[str], Path], exporter: Callable[..., Exporter]
) -> None:
    model = MODELS["agx-orin-jp6"]
    root = fresh_tree("agx-orin-jp6")
    board = exporter(root, ["thermal"])
    board.reader("thermal").rediscover_every = 2
    assert "ssd" not in board.scrape().by("jetson_temperature_celsius", "zone")
    spec = dataclasses.replace(model.spec, thermal=(*model.spec.thermal, ZoneSpec("ssd-thermal")))
    state = dataclasses.replace(model.state, temps_c={**model.state.temps_c, "ssd-thermal": 38.5})
    DeviceTree(str(root), spec).build(state)
    assert "ssd" not in board.scrape().by("jetson_temperature_celsius", "zone")  # discovery is cached
    assert board.scrape().by("jetson_temperature_celsius", "zone")["ssd"] == 38.5


def test_a_power_monitor_that_appears_later_brings_its_rails_and_the_board_power(
    tmp_path: Path, exporter: Callable[..., Exporter]
) -> None:
    model = MODELS["thor-jp7"]
    without_input = dataclasses.replace(model.spec, power=tuple(p for p in model.spec.power if p.chip != "ina238"))
    rails = {k: v for k, v in model.state.rails.items() if k != "VIN"}
    write_tree(str(tmp_path), without_input, dataclasses.replace(model.state, rails=rails))
    board = exporter(tmp_path, ["power"])
    board.reader("power").rediscover_every = 2
    before = board.scrape()
    assert set(before.by("jetson_power_watts", "rail")) == {"VDD_GPU", "VDD_CPU_SOC_MSS", "VIN_SYS_5V0"}
    assert before.value("jetson_board_power_watts") is None  # no input rail and no known disjoint set
    DeviceTree(str(tmp_path), model.spec).build(model.state)
    board.scrape()
    after = board.scrape()
    assert after.value("jetson_power_watts", rail="VIN") == pytest.approx(44.826624)
    assert after.value("jetson_board_power_watts") == pytest.approx(44.826624)


def test_a_fan_that_appears_later_is_found_at_rediscovery(
    fresh_tree: Callable[[str], Path], exporter: Callable[..., Exporter]
) -> None:
    model = MODELS["nano-2gb-jp4"]
    root = fresh_tree("nano-2gb-jp4")
    board = exporter(root, ["fan"])
    board.reader("fan").rediscover_every = 2
    assert board.scrape().series("jetson_fan_rpm") == []
    spec = dataclasses.replace(model.spec, fans=(FanSpec("pwm-fan", "pwm-fan", pwm_hwmon=None),))
    DeviceTree(str(root), spec).build(dataclasses.replace(model.state, fans={"pwm-fan": FanState(0.4, 1800)}))
    board.scrape()
    after = board.scrape()
    assert after.by("jetson_fan_rpm", "fan") == {"pwm-fan": 1800.0}
    assert after.by("jetson_fan_speed_ratio", "fan") == pytest.approx({"pwm-fan": 102 / 255})
