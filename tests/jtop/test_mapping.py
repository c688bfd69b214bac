"""jtop frames -> Snapshot: units, absent values and names, on frames recorded from the real
jetson-stats 4.3.2 and 7.2.2 services (harness, fake AGX Orin and Xavier NX) and on a hand-built
7.x AGX Thor frame."""

from __future__ import annotations

from typing import Callable, Dict

import pytest

from jetson_exporter.catalog import BY_NAME
from jetson_exporter.snapshot import PowerMode, Snapshot
from jetson_exporter.sources.jtop import snapshot_from_frame

Frame = Dict[str, object]
RECORDED = ["jetson-stats-4.3.2-agx-orin", "jetson-stats-7.2.2-agx-orin", "jetson-stats-4.3.2-xavier-nx",
            "jetson-stats-7.2.2-xavier-nx"]
ORIN = ["jetson-stats-4.3.2-agx-orin", "jetson-stats-7.2.2-agx-orin"]
XAVIER_NX = ["jetson-stats-4.3.2-xavier-nx", "jetson-stats-7.2.2-xavier-nx"]


def mapped(frame: Frame) -> Snapshot:
    snapshot, errors = snapshot_from_frame(frame)
    assert errors == []
    return snapshot


@pytest.mark.parametrize("name", RECORDED)
def test_every_recorded_frame_maps_without_errors_to_catalog_metrics(
        name: str, load_frame: Callable[[str], Frame], exposition: Callable[[Snapshot], object]) -> None:
    metrics = exposition(mapped(load_frame(name)))
    assert isinstance(metrics, dict)
    for sample in metrics:
        family = sample[: -len("_total")] if sample.endswith("_total") else sample
        assert sample in BY_NAME or family + "_total" in BY_NAME or family in BY_NAME


@pytest.mark.parametrize("name", ORIN)
def test_agx_orin_frame_in_si_units(name: str, load_frame: Callable[[str], Frame]) -> None:
    frame = load_frame(name)
    s = mapped(frame)
    cpu0 = frame["cpu"]["cpu"][0]  # type: ignore[index]
    assert len(s.cpus) == 12 and all(c.online for c in s.cpus)
    core = s.cpus[0]
    assert core.freq_hz == cpu0["freq"]["cur"] * 1000  # kHz -> Hz
    assert (core.min_freq_hz, core.max_freq_hz) == (115_200_000, 2_201_600_000)
    assert core.utilization == pytest.approx(1 - cpu0["idle"] / 100)
    assert core.governor == "schedutil"

    assert s.gpu is not None and s.gpu.name == "ga10b"
    assert s.gpu.utilization == pytest.approx(frame["gpu"]["ga10b"]["status"]["load"] / 100)  # type: ignore[index]
    assert (s.gpu.min_freq_hz, s.gpu.max_freq_hz) == (306_000_000, 1_300_500_000)
    assert s.gpu.min_freq_hz <= (s.gpu.freq_hz or 0) <= s.gpu.max_freq_hz
    assert s.gpu.railgate_enabled is True and s.gpu.scaling_3d_enabled is True

    assert s.emc is not None
    assert (s.emc.freq_hz, s.emc.min_freq_hz, s.emc.max_freq_hz) == (2_133_000_000, 204_000_000, 3_199_000_000)
    assert 0 < (s.emc.utilization or 0) < 1

    m = s.memory
    assert m is not None
    assert m.total_bytes == 64308224 * 1024  # kB -> bytes
    assert m.gpu_shared_bytes == 312000 * 1024
    assert m.swap_total_bytes == 32153600 * 1024
    assert m.used_bytes is not None and 0 < m.used_bytes < m.total_bytes


@pytest.mark.parametrize("name", ORIN)
def test_agx_orin_rails_board_power_and_no_jtop_total(name: str, load_frame: Callable[[str], Frame]) -> None:
    frame = load_frame(name)
    s = mapped(frame)
    rails = {r.name: r for r in s.rails}
    # 4.x also lists the unpowered USB-PD port `1-00081` as an offline rail: not a measurement.
    assert set(rails) == {"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"}
    raw = frame["power"]["rail"]["VDD_GPU_SOC"]  # type: ignore[index]
    gpu = rails["VDD_GPU_SOC"]
    assert gpu.power_w == pytest.approx(raw["power"] / 1000)  # mW -> W
    assert gpu.voltage_v == pytest.approx(19.2) and gpu.current_a == pytest.approx(raw["curr"] / 1000)
    assert gpu.warn_current_a == pytest.approx(7.784) and gpu.crit_current_a == pytest.approx(7.784)
    # VIN_SYS_5V0 feeds VDDQ_VDD2_1V8AO: jtop's `Power TOT` counts it twice, the board power does not.
    expected = sum(rails[n].power_w or 0 for n in ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"))
    assert s.board_power_w() == pytest.approx(expected)
    assert s.board_power_w() != pytest.approx(frame["power"]["tot"]["power"] / 1000)  # type: ignore[index]


@pytest.mark.parametrize("name", ORIN)
def test_agx_orin_switched_off_zones_are_absent_and_names_match_sysfs(
        name: str, load_frame: Callable[[str], Frame]) -> None:
    frame = load_frame(name)
    assert frame["temperature"]["CV0"]["temp"] == -256  # type: ignore[index]
    s = mapped(frame)
    zones = {z.name: z.temp_c for z in s.thermal}
    assert set(zones) == {"cpu", "gpu", "soc0", "soc1", "soc2", "tj", "tboard", "tdiode"}
    assert all(20 < t < 100 for t in zones.values())


@pytest.mark.parametrize("name", ORIN)
def test_agx_orin_engines_fans_mode_and_board(name: str, load_frame: Callable[[str], Frame]) -> None:
    s = mapped(load_frame(name))
    engines = {e.name: e for e in s.engines}
    # DLA0_CORE + DLA0_FALCON are one engine; NVJPG and NVJPG1 (one jtop group) are two.
    assert set(engines) == {"APE", "DLA0", "DLA1", "NVDEC", "NVENC", "NVJPG", "NVJPG1", "OFA", "PVA0", "SE", "VIC"}
    assert engines["VIC"].active is True and engines["VIC"].freq_hz == 729_600_000
    assert engines["NVENC"].active is False
    assert [f.name for f in s.fans] == ["pwm-fan"]
    assert 0 <= (s.fans[0].speed_ratio or 0) <= 1 and (s.fans[0].rpm or 0) > 0
    assert s.power_mode == PowerMode(id=0, name="MAXN")
    assert s.jetson_clocks is False
    assert s.board is not None
    assert (s.board.model, s.board.l4t, s.board.jetpack) == ("Jetson AGX Orin Developer Kit", "35.5.0", "5.1.3")
    assert s.board.serial == "1421822000001"
    # The harness leaves EEPROM / device-tree values empty: absent, not "".
    assert (s.board.module, s.board.soc, s.board.cuda_arch) == (None, None, None)


@pytest.mark.parametrize("name", XAVIER_NX)
def test_xavier_nx_input_rail_is_kept_and_is_the_board_power(name: str, load_frame: Callable[[str], Frame]) -> None:
    frame = load_frame(name)
    # jtop moves VDD_IN out of the rails into `tot` (named); it is a real rail, the board's input.
    assert "VDD_IN" not in frame["power"]["rail"]  # type: ignore[index]
    s = mapped(frame)
    rails = {r.name: r for r in s.rails}
    assert set(rails) == {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}
    assert rails["VDD_IN"].power_w == pytest.approx(frame["power"]["tot"]["power"] / 1000)  # type: ignore[index]
    assert s.board_power_w() == rails["VDD_IN"].power_w


@pytest.mark.parametrize("name", XAVIER_NX)
def test_xavier_nx_zones_and_mode(name: str, load_frame: Callable[[str], Frame]) -> None:
    s = mapped(load_frame(name))
    # PMIC-Die (a constant) is no zone; thermal-fan-est is `thermal`, as the sysfs source names it.
    assert {z.name for z in s.thermal} == {"ao", "aux", "cpu", "gpu", "thermal"}
    assert s.power_mode == PowerMode(id=8, name="MODE_20W_6CORE")
    assert len(s.cpus) == 6
    assert {e.name for e in s.engines} >= {"CVNAS", "DLA0", "DLA1", "PVA0", "PVA1"}


def test_offline_cores_are_offline_without_values(load_frame: Callable[[str], Frame],
                                                   exposition: Callable[[Snapshot], Dict[str, Dict]]) -> None:
    frame = load_frame("jetson-stats-4.3.2-agx-orin")
    cores = frame["cpu"]["cpu"]  # type: ignore[index]
    for i in (8, 9, 10, 11):  # what jtop reports for a core nvpmodel switched off
        cores[i] = {"online": False}
    s = mapped(frame)
    assert [c.online for c in s.cpus] == [True] * 8 + [False] * 4
    assert s.cpus[9].freq_hz is None and s.cpus[9].utilization is None
    metrics = exposition(s)
    online = {dict(k)["cpu"]: v for k, v in metrics["jetson_cpu_online"].items()}
    assert online["9"] == 0.0 and online["0"] == 1.0
    assert "9" not in {dict(k)["cpu"] for k in metrics["jetson_cpu_utilization_ratio"]}


def test_unreadable_and_placeholder_temperatures_are_absent(load_frame: Callable[[str], Frame]) -> None:
    frame = load_frame("jetson-stats-4.3.2-agx-orin")
    temps = frame["temperature"]
    assert isinstance(temps, dict)
    temps["GPU"] = {"online": True, "temp": -256.0}  # rail-gated GPU, online flag not (yet) updated
    temps["PMIC"] = {"online": True, "temp": 50.0}  # the constant PMIC-Die value
    temps["CPU"] = {"online": False, "temp": 41.0}
    temps["Tboard"] = {"online": True, "temp": -1.0}  # a cold board: a real reading, not a sentinel
    zones = {z.name: z.temp_c for z in mapped(frame).thermal}
    assert "gpu" not in zones and "pmic" not in zones and "cpu" not in zones
    assert zones["tboard"] == -1.0


def test_hand_built_thor_frame(load_frame: Callable[[str], Frame]) -> None:
    s = mapped(load_frame("thor-7.x-handbuilt"))
    assert s.board is not None
    assert (s.board.module, s.board.soc, s.board.cuda_arch, s.board.l4t, s.board.jetpack) == (
        "p3834-0008", "tegra264", "11.0", "38.2.0", "7.0")
    assert sum(c.online for c in s.cpus) == 12 and len(s.cpus) == 14
    # NVML path: load is kept; clocks are not (jtop mixes NVML MHz and devfreq kHz in that field).
    assert s.gpu is not None and s.gpu.utilization == pytest.approx(0.12)
    assert (s.gpu.freq_hz, s.gpu.min_freq_hz, s.gpu.max_freq_hz, s.gpu.gpc_freq_hz) == (None, None, None, ())
    assert s.gpu.railgate_enabled is None and s.gpu.scaling_3d_enabled is None
    # "VRAM" is NVML memory, not NvMap allocations: no gpu_shared value.
    assert s.memory is not None and s.memory.gpu_shared_bytes is None
    assert s.memory.swap_total_bytes == 0
    zones = {z.name for z in s.thermal}
    assert zones == {"cpu", "gpu", "nvme_composite", "soc012", "soc345", "tj"}
    assert {r.name for r in s.rails} == {"VIN", "VDD_GPU", "VDD_CPU_SOC_MSS", "VIN_SYS_5V0"}
    assert s.board_power_w() == pytest.approx(40.95)  # the INA238 input rail, not a sum
    engines = {e.name: e.active for e in s.engines}
    assert engines == {"NVENC": False, "NVENC1": True, "NVDEC": False, "NVJPG": False, "OFA": False,
                       "VIC": False, "PVA0": False}
    assert s.jetson_clocks is True and s.power_mode == PowerMode(id=1, name="120W")


def test_stats_fill_only_what_the_properties_lack(load_frame: Callable[[str], Frame]) -> None:
    frame = load_frame("jetson-stats-4.3.2-agx-orin")
    del frame["memory"]["RAM"]["used"]  # type: ignore[attr-defined]
    del frame["jetson_clocks"]
    frame["nvpmodel"] = {}
    frame["stats"] = {"RAM": 0.25, "jetson_clocks": "ON", "nvp model": "MODE_30W"}
    s = mapped(frame)
    assert s.memory is not None and s.memory.used_bytes == pytest.approx(0.25 * 64308224 * 1024)
    assert s.jetson_clocks is True
    assert s.power_mode == PowerMode(id=None, name="MODE_30W")


def test_missing_sections_are_absent_not_zero() -> None:
    s = mapped({"cpu": {"cpu": []}, "power": {}, "memory": {"RAM": {"tot": 0}}, "gpu": {}})
    assert s.cpus == () and s.rails == () and s.gpu is None and s.emc is None
    assert s.memory is not None and s.memory.total_bytes is None  # 0 total: meminfo unreadable
    assert s.board is None and s.power_mode is None and s.jetson_clocks is None


def test_a_part_with_an_unknown_shape_is_reported_and_the_rest_still_maps(
        load_frame: Callable[[str], Frame]) -> None:
    frame = load_frame("jetson-stats-7.2.2-agx-orin")
    frame["temperature"] = {7: {"online": True, "temp": 40.0}}  # a key that is no name
    snapshot, errors = snapshot_from_frame(frame)
    assert len(errors) == 1 and errors[0].startswith("cannot map jtop `temperature`: ")
    assert snapshot.thermal == ()
    assert snapshot.gpu is not None and len(snapshot.rails) == 4


@pytest.mark.parametrize(("hardware", "expected"), [
    ({"Model": "NVIDIA Jetson Nano Developer Kit", "BoardIDs": "p3448-0000-400", "SoC": "tegra210\x00",
      "L4T": "32.7.4", "Jetpack": "4.6.4", "CUDA Arch BIN": "5.3", "Module": "NVIDIA Jetson Nano (4 GB ram)"},
     ("NVIDIA Jetson Nano Developer Kit", "p3448-0000", "tegra210", "32.7.4", "4.6.4", "5.3")),
    # jtop takes the last compatible entry, `tegra23x` on Orin JetPack 6 (not a SoC name); the
    # JetPack label comes from the exporter's own L4T table, as in the sysfs source.
    ({"Model": "NVIDIA Jetson AGX Orin Developer Kit", "P-Number": "p3701-0005", "SoC": "tegra23x",
      "L4T": "36.4.4", "Jetpack": "", "CUDA Arch BIN": ""},
     ("NVIDIA Jetson AGX Orin Developer Kit", "p3701-0005", None, "36.4.4", "6.2.1", None)),
    ({"Model": "", "L4T": "N.A.", "Jetpack": "UNKNOWN", "SoC": "tegra234"},
     (None, None, "tegra234", None, None, "8.7")),
])
def test_board_identity_keeps_only_well_formed_values(hardware: Dict[str, str], expected: tuple) -> None:
    board = mapped({"board": {"hardware": hardware}}).board
    assert board is not None
    assert (board.model, board.module, board.soc, board.l4t, board.jetpack, board.cuda_arch) == expected
