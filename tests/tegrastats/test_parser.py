"""The tegrastats grammar: every shared sample line parses to the right values, in SI units, with
absent values absent; unknown tokens are skipped and counted, never fatal."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Callable, Dict, Optional, Sequence
from zoneinfo import ZoneInfo

import pytest

from jetson_exporter.snapshot import Engine, Snapshot
from jetson_exporter.sources.tegrastats_parser import ParsedLine, parse_line

MIB = 1024.0 * 1024.0
KIB = 1024.0
MHZ = 1e6
Sample = Callable[..., str]


def utc(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def zones(s: Snapshot) -> Dict[str, float]:
    return {z.name: z.temp_c for z in s.thermal}


def rails(s: Snapshot) -> Dict[str, Optional[float]]:
    return {r.name: r.power_w for r in s.rails}


def engines(s: Snapshot) -> Dict[str, Engine]:
    return {e.name: e for e in s.engines}


def cpu_loads(s: Snapshot) -> Sequence[Optional[float]]:
    return [c.utilization for c in s.cpus]


def check_clean(p: ParsedLine) -> None:
    """Every token of a real line is understood."""
    assert p.unknown_count == 0, p.unknown


def test_every_sample_parses_without_unknown_tokens(all_samples: Dict[str, str]) -> None:
    assert len(all_samples) >= 15
    for comment, line in all_samples.items():
        parsed = parse_line(line)
        assert parsed.unknown_count == 0, (comment, parsed.unknown)
        assert parsed.snapshot.memory is not None and parsed.snapshot.cpus, comment


# -- L4T 28 ----------------------------------------------------------------------------------------

def test_tx1_l4t28_old_lowercase_format_with_one_shared_cpu_clock(sample: Sample) -> None:
    p = parse_line(sample("TX1", "L4T 28.1", "first of two"))
    check_clean(p)
    s = p.snapshot
    assert p.timestamp is None and p.stamp is None
    assert s.memory is not None
    assert s.memory.used_bytes == 3468 * MIB and s.memory.total_bytes == 3983 * MIB
    assert s.memory.lfb_blocks == 48 and s.memory.lfb_block_bytes == 4 * MIB
    assert s.memory.swap_used_bytes == 873 * MIB and s.memory.swap_total_bytes == 8192 * MIB
    assert s.memory.swap_cached_bytes == 295 * MIB
    assert [c.index for c in s.cpus] == [0, 1, 2, 3] and all(c.online for c in s.cpus)
    assert cpu_loads(s) == [approx(0.17), approx(0.13), approx(0.29), approx(0.05)]
    assert {c.freq_hz for c in s.cpus} == {408 * MHZ}
    assert s.emc is not None and s.emc.freq_hz == 408 * MHZ and s.emc.utilization == approx(0.01)
    assert s.gpu is not None and s.gpu.utilization == approx(0.03) and s.gpu.freq_hz == 76 * MHZ
    assert s.gpu.gpc_freq_hz == ()
    assert engines(s) == {"APE": Engine("APE", active=True, freq_hz=25 * MHZ)}
    assert s.thermal == () and s.rails == () and s.board_power_w() is None


def test_tx1_l4t28_second_line(sample: Sample) -> None:
    s = parse_line(sample("TX1", "L4T 28.1", "second of two")).snapshot
    assert cpu_loads(s) == [approx(0.17), approx(0.11), approx(0.65), 0.0]
    assert {c.freq_hz for c in s.cpus} == {1734 * MHZ}
    assert s.emc is not None and s.emc.freq_hz == 1600 * MHZ
    assert s.gpu is not None and s.gpu.utilization == approx(0.39) and s.gpu.freq_hz == 76 * MHZ
    assert s.memory is not None and s.memory.lfb_blocks == 47 and s.memory.swap_cached_bytes == 281 * MIB


# -- JetPack 4 -------------------------------------------------------------------------------------

def test_tx1_jp4_iram_and_pmic_placeholder(sample: Sample) -> None:
    p = parse_line(sample("TX1", "JetPack 4-style"))
    check_clean(p)
    s = p.snapshot
    assert s.memory is not None
    assert s.memory.used_bytes == 1179 * MIB and s.memory.total_bytes == 3983 * MIB
    assert s.memory.iram_used_bytes == 0 and s.memory.iram_total_bytes == 252 * KIB
    assert s.memory.swap_total_bytes is None  # no SWAP token: absent, not 0
    assert cpu_loads(s) == [approx(0.01), approx(0.04), 0.0, 0.0]
    assert {c.freq_hz for c in s.cpus} == {102 * MHZ}
    assert s.emc is not None and s.emc.utilization == approx(0.07) and s.emc.freq_hz == 408 * MHZ
    assert s.gpu is not None and s.gpu.utilization == 0.0 and s.gpu.freq_hz == 76 * MHZ
    assert zones(s) == {"ao": 42.5, "cpu": 37.5, "gpu": 39.0, "pll": 37.0, "tdiode": 42.75, "tboard": 42.0,
                        "thermal": 38.5}  # PMIC@100C is a constant: absent
    assert rails(s) == {"VDD_IN": approx(2.532), "VDD_CPU": approx(0.076), "VDD_GPU": approx(0.019)}
    assert s.board_power_w() == approx(2.532)


def test_tx2_offline_cores_are_absent_not_zero(sample: Sample) -> None:
    p = parse_line(sample("TX2", "two cores off"))
    check_clean(p)
    s = p.snapshot
    assert [c.online for c in s.cpus] == [True, False, False, True, True, True]
    off = s.cpus[1]
    assert off.utilization is None and off.freq_hz is None
    assert cpu_loads(s)[3:] == [approx(0.01), 0.0, approx(0.02)]
    assert s.cpus[0].freq_hz == 345 * MHZ
    assert s.emc is not None and s.emc.utilization == approx(0.04) and s.emc.freq_hz == 1600 * MHZ
    assert s.gpu is not None and s.gpu.freq_hz == 624 * MHZ
    assert engines(s)["APE"].freq_hz == 150 * MHZ
    assert zones(s) == {"pll": 37.5, "mcpu": 37.5, "tboard": 32.0, "gpu": 35.0, "bcpu": 37.5, "thermal": 36.5,
                        "tdiode": 34.25}
    assert rails(s) == {"VDD_SYS_GPU": approx(0.152), "VDD_SYS_SOC": approx(0.687), "VDD_4V0_WIFI": 0.0,
                        "VDD_IN": approx(3.056), "VDD_SYS_CPU": approx(0.152), "VDD_SYS_DDR": approx(0.883)}
    assert s.board_power_w() == approx(3.056)


def test_nano_without_root_has_no_clocks(sample: Sample) -> None:
    p = parse_line(sample("Nano 4GB", "no root"))
    check_clean(p)
    s = p.snapshot
    # `EMC_FREQ 0%` without a clock: tegrastats cannot compute the load without the clock either.
    assert s.emc is None
    assert s.gpu is not None and s.gpu.utilization == 0.0 and s.gpu.freq_hz is None
    assert s.engines == ()
    assert cpu_loads(s) == [approx(0.06), approx(0.05), approx(0.04), approx(0.03)]
    assert zones(s) == {"pll": 28.0, "cpu": 31.5, "gpu": 30.5, "ao": 36.0, "thermal": 31.25}
    assert rails(s) == {"POM_5V_IN": approx(1.388), "POM_5V_GPU": approx(0.122), "POM_5V_CPU": approx(0.163)}
    assert s.board_power_w() == approx(1.388)
    assert s.memory is not None and s.memory.swap_cached_bytes == 3 * MIB


def test_nano_with_root(sample: Sample) -> None:
    s = parse_line(sample("Nano |", "nanoSample")).snapshot
    assert s.memory is not None and s.memory.used_bytes == 534 * MIB and s.memory.iram_total_bytes == 252 * KIB
    assert s.emc is not None and s.emc.utilization == 0.0 and s.emc.freq_hz == 204 * MHZ
    assert s.gpu is not None and s.gpu.freq_hz == 76 * MHZ
    assert cpu_loads(s) == [approx(0.16), approx(0.09), 0.0, 0.0]
    assert rails(s) == {"POM_5V_IN": approx(1.022), "POM_5V_GPU": 0.0, "POM_5V_CPU": approx(0.204)}


def test_nano_jp464_without_gr3d_has_no_gpu(sample: Sample) -> None:
    p = parse_line(sample("Nano", "32.7.4", "GR3D_FREQ absent"))
    check_clean(p)
    s = p.snapshot
    assert s.gpu is None
    assert s.emc is not None and s.emc.utilization == approx(0.02) and s.emc.freq_hz == 1600 * MHZ
    assert {c.freq_hz for c in s.cpus} == {1479 * MHZ}
    assert "pmic" not in zones(s) and zones(s)["ao"] == 47.0  # PMIC@50C: the newer constant
    # The first value is the reading; the second is tegrastats' average since it started.
    assert rails(s) == {"POM_5V_IN": approx(2.765), "POM_5V_GPU": 0.0, "POM_5V_CPU": approx(0.866)}


def test_agx_xavier_mts_and_rails_named_like_keywords(sample: Sample) -> None:
    p = parse_line(sample("AGX Xavier 32GB"))
    check_clean(p)  # `MTS fg 0% bg 0%` is recognized (and not modelled)
    s = p.snapshot
    assert [c.online for c in s.cpus] == [True] * 4 + [False] * 4
    assert s.memory is not None and s.memory.lfb_blocks == 7291
    assert s.emc is not None and s.emc.freq_hz == 665 * MHZ
    assert s.gpu is not None and s.gpu.freq_hz == 318 * MHZ
    assert zones(s) == {"ao": 37.5, "gpu": 37.5, "tdiode": 40.0, "aux": 36.0, "cpu": 37.5, "thermal": 36.9,
                        "tboard": 37.0}
    # `CPU 311/311` and `GPU 0/0` are rails here, not the CPU list.
    assert rails(s) == {"GPU": 0.0, "CPU": approx(0.311), "SOC": approx(0.932), "CV": 0.0,
                        "VDDRQ": approx(0.621), "SYS5V": approx(1.482)}
    assert s.board_power_w() == approx(0.311 + 0.932 + 0.621 + 1.482)  # no input rail: the six disjoint rails


def test_xavier_nx_jp4(sample: Sample) -> None:
    s = parse_line(sample("Xavier NX", "JetPack 4")).snapshot
    assert s.gpu is not None and s.gpu.utilization == approx(0.62) and s.gpu.freq_hz == 306 * MHZ
    assert s.emc is not None and s.emc.utilization == approx(0.10)
    assert s.cpus[5].freq_hz == 1267 * MHZ and s.cpus[5].utilization == approx(0.08)
    assert rails(s) == {"VDD_IN": approx(4.067), "VDD_CPU_GPU_CV": approx(0.738), "VDD_SOC": approx(1.353)}
    assert zones(s)["thermal"] == 42.55


# -- JetPack 5 -------------------------------------------------------------------------------------

def test_xavier_nx_jp512_timestamp_bracketed_gpc_and_milliwatts(sample: Sample) -> None:
    p = parse_line(sample("Xavier NX", "JetPack 5.1.2"))
    check_clean(p)
    s = p.snapshot
    assert p.timestamp == utc("2024-07-09 13:31:31") and p.stamp == "07-09-2024 13:31:31"
    assert s.gpu is not None and s.gpu.utilization == 0.0
    assert s.gpu.gpc_freq_hz == (114 * MHZ,) and s.gpu.freq_hz == 114 * MHZ
    assert engines(s) == {"VIC": Engine("VIC", active=True, freq_hz=115 * MHZ),
                          "APE": Engine("APE", active=True, freq_hz=150 * MHZ)}
    assert rails(s) == {"VDD_IN": approx(2.763), "VDD_CPU_GPU_CV": approx(0.65), "VDD_SOC": approx(0.65)}
    assert s.memory is not None and s.memory.lfb_blocks == 2 and s.memory.swap_used_bytes == 161 * MIB
    assert cpu_loads(s)[0] == approx(0.23) and s.cpus[0].freq_hz == 1397 * MHZ


def test_agx_orin_jp5_switched_off_zones_and_nc_rails_are_absent(sample: Sample) -> None:
    p = parse_line(sample("AGX Orin 64GB", "JetPack 5 (L4T 35.x)"))
    check_clean(p)
    s = p.snapshot
    assert p.timestamp == utc("2025-04-11 10:36:27")
    assert len(s.cpus) == 12 and {c.freq_hz for c in s.cpus} == {729 * MHZ}
    assert s.gpu is not None and s.gpu.gpc_freq_hz == (0.0, 0.0) and s.gpu.freq_hz == 0.0
    # CV0-2 and GPU read -256C (off); none of them is a temperature.
    assert zones(s) == {"cpu": 44.562, "tboard": 32.0, "soc2": 40.093, "tdiode": 33.0, "soc0": 41.093,
                        "tj": 44.343, "soc1": 41.25}
    # `NC` (unconnected channels, printed twice) is not a rail.
    assert rails(s) == {"VDD_GPU_SOC": approx(2.34), "VDD_CPU_CV": approx(0.39), "VIN_SYS_5V0": approx(4.025),
                        "VDDQ_VDD2_1V8AO": approx(0.301)}
    # VIN_SYS_5V0 feeds VDDQ_VDD2_1V8AO: the board total leaves it out.
    assert s.board_power_w() == approx(2.34 + 0.39 + 4.025)
    assert engines(s)["VIC"].freq_hz == 729 * MHZ and engines(s)["APE"].freq_hz == 174 * MHZ
    assert s.emc is not None and s.emc.freq_hz == 2133 * MHZ


# -- JetPack 6 -------------------------------------------------------------------------------------

def test_agx_orin_jp6_engines_with_load_and_off(sample: Sample) -> None:
    p = parse_line(sample("AGX Orin 64GB", "JetPack 6.2.1"))
    check_clean(p)
    s = p.snapshot
    assert p.timestamp == utc("2026-05-09 18:42:06")
    assert s.memory is not None
    assert s.memory.used_bytes == 18207 * MIB and s.memory.total_bytes == 62841 * MIB
    assert s.memory.lfb_blocks == 466 and s.memory.swap_used_bytes == 86 * MIB and s.memory.swap_cached_bytes == 0
    assert cpu_loads(s) == [approx(v / 100) for v in (14, 5, 8, 14, 46, 47, 2, 10, 4, 5, 6, 10)]
    assert [c.freq_hz for c in s.cpus] == [f * MHZ for f in (2188, 2112, 2035, 2201, 1267, 1267, 1267, 1267,
                                                              1036, 1036, 1036, 1036)]
    assert s.emc is not None and s.emc.utilization == approx(0.03) and s.emc.freq_hz == 2133 * MHZ
    assert s.gpu is not None and s.gpu.utilization == 0.0 and s.gpu.gpc_freq_hz == (0.0, 0.0)
    e = engines(s)
    assert e["NVENC"] == Engine("NVENC", active=True, freq_hz=166 * MHZ, utilization=approx(0.79))
    assert e["VIC"] == Engine("VIC", active=True, freq_hz=115 * MHZ, utilization=approx(0.36))
    for name in ("NVDEC", "NVJPG", "NVJPG1", "OFA", "DLA0", "DLA1", "PVA0"):
        assert e[name] == Engine(name, active=False), name  # off: no clock, no load
    assert e["APE"] == Engine("APE", active=True, freq_hz=174 * MHZ)
    assert list(e) == ["NVENC", "NVDEC", "NVJPG", "NVJPG1", "VIC", "OFA", "DLA0", "DLA1", "PVA0", "APE"]
    assert zones(s) == {"cpu": 52.562, "soc2": 48.437, "soc0": 49.093, "tj": 52.562, "soc1": 49.656}
    assert rails(s) == {"VDD_GPU_SOC": approx(2.412), "VDD_CPU_CV": approx(1.607), "VIN_SYS_5V0": approx(4.707)}
    assert s.board_power_w() == approx(2.412 + 1.607 + 4.707)


def test_agx_orin_jp6_without_root(sample: Sample) -> None:
    p = parse_line(sample("AGX Orin 64GB class", "no root"))
    check_clean(p)
    s = p.snapshot
    assert p.timestamp is None
    assert s.emc is None and s.engines == ()
    assert s.gpu is not None and s.gpu.utilization == 0.0 and s.gpu.freq_hz is None and s.gpu.gpc_freq_hz == ()
    assert {c.freq_hz for c in s.cpus} == {2201 * MHZ}
    assert zones(s) == {"cpu": 42.0, "soc2": 37.843, "soc0": 39.187, "gpu": 37.75, "tj": 42.0, "soc1": 37.937}
    assert s.board_power_w() == approx(4.94 + 0.988 + 4.442)
    assert s.memory is not None and s.memory.lfb_blocks == 2


# -- JetPack 7 -------------------------------------------------------------------------------------

def test_agx_orin_jp72_double_temperatures_triple_rails_numbered_engines(sample: Sample) -> None:
    p = parse_line(sample("AGX Orin 64GB Developer Kit", "JetPack 7.2"))
    check_clean(p)
    s = p.snapshot
    assert p.timestamp == utc("2026-07-25 09:08:28")
    assert s.memory is not None and s.memory.swap_total_bytes is None and s.memory.swap_used_bytes is None
    assert s.memory.lfb_blocks == 1 and s.memory.lfb_block_bytes == 2 * MIB
    assert s.gpu is not None and s.gpu.utilization == approx(0.12)
    assert s.gpu.gpc_freq_hz == (1300 * MHZ, 1300 * MHZ) and s.gpu.freq_hz == 1300 * MHZ
    assert s.emc is not None and s.emc.freq_hz == 3199 * MHZ
    e = engines(s)
    # NVENC0 / NVDEC0 / NVJPG0 are JetPack 6's NVENC / NVDEC / NVJPG: one series whatever the release.
    assert list(e) == ["NVENC", "NVDEC", "NVJPG", "NVJPG1", "VIC", "OFA", "DLA0", "DLA1", "PVA0", "APE"]
    assert all(not x.active for name, x in e.items() if name != "APE")
    assert zones(s) == {"cpu": 52.968, "soc2": 48.406, "soc0": 49.531, "gpu": 47.625}  # the first value
    assert rails(s) == {"VDD_GPU_SOC": approx(5.139), "VDD_CPU_CV": approx(3.268), "VIN_SYS_5V0": approx(5.5)}


def test_thor_gpc_clocks_without_load_and_freq_engines(sample: Sample) -> None:
    p = parse_line(sample("AGX Thor", "38.4"))
    check_clean(p)
    s = p.snapshot
    assert p.timestamp == utc("2026-05-17 10:00:32")
    assert len(s.cpus) == 14 and {c.freq_hz for c in s.cpus} == {972 * MHZ}
    assert s.memory is not None and s.memory.total_bytes == 125773 * MIB and s.memory.swap_total_bytes == 2048 * MIB
    # `GR3D_FREQ @[0,0,0]`: three GPC clocks and no load at all (absent, not 0).
    assert s.gpu is not None and s.gpu.utilization is None
    assert s.gpu.gpc_freq_hz == (0.0, 0.0, 0.0) and s.gpu.freq_hz == 0.0
    assert s.emc is not None and s.emc.utilization == 0.0 and s.emc.freq_hz == 665 * MHZ
    e = engines(s)
    assert list(e) == ["NVENC", "NVENC1", "NVDEC", "NVDEC1", "NVJPG", "VIC", "OFA", "PVA0", "APE"]
    assert e["NVENC1"] == Engine("NVENC1", active=False, freq_hz=0.0)  # `@0`: clocked at 0 Hz, i.e. off
    assert e["VIC"] == Engine("VIC", active=False) and e["PVA0"] == Engine("PVA0", active=False)
    assert e["APE"] == Engine("APE", active=True, freq_hz=300 * MHZ)
    assert zones(s) == {"cpu": 34.468, "tj": 34.5, "soc012": 33.781, "soc345": 34.5}
    assert rails(s) == {"VDD_GPU": 0.0, "VDD_CPU_SOC_MSS": approx(4.165), "VIN_SYS_5V0": approx(4.126)}
    assert s.board_power_w() is None  # no input rail on this line, and Thor's rails are not a known disjoint set


# -- the grammar beyond the samples (lines written here, after JETSON.md section 15) ----------------

def test_blanks_inside_brackets_as_the_r39_documentation_prints_them() -> None:
    p = parse_line("RAM 1/2MB (lfb 1x4MB) CPU [1%@729, off, 3%@729] GR3D_FREQ 12 %@[1300, 1300]")
    check_clean(p)
    s = p.snapshot
    assert [c.online for c in s.cpus] == [True, False, True]
    assert s.gpu is not None and s.gpu.utilization == approx(0.12) and s.gpu.gpc_freq_hz == (1300 * MHZ,) * 2


def test_gr3d2_is_the_second_gpc_clock_of_one_gpu() -> None:
    s = parse_line("RAM 1/2MB GR3D_FREQ 5%@624 GR3D2_FREQ 5%@612").snapshot
    assert s.gpu is not None and s.gpu.utilization == approx(0.05)
    assert s.gpu.gpc_freq_hz == (624 * MHZ, 612 * MHZ) and s.gpu.freq_hz == 624 * MHZ


def test_gr3d_pci_and_bare_engine_off_are_understood() -> None:
    p = parse_line("RAM 1/2MB GR3D 3%@76 GR3D_PCI 0%@76 NVDEC_FREQ off MSENC off")
    check_clean(p)
    assert engines(p.snapshot) == {"NVDEC": Engine("NVDEC", active=False), "NVENC": Engine("NVENC", active=False)}


def test_old_per_core_clock_format_and_cpu_without_clocks() -> None:
    s = parse_line("RAM 1/2MB cpu [10%@204,off,20%@1734]").snapshot
    assert [(c.online, c.utilization, c.freq_hz) for c in s.cpus] == [
        (True, approx(0.1), 204 * MHZ), (False, None, None), (True, approx(0.2), 1734 * MHZ)]
    s = parse_line("RAM 1/2MB CPU [10%,20%]").snapshot
    assert [c.freq_hz for c in s.cpus] == [None, None] and cpu_loads(s) == [approx(0.1), approx(0.2)]


def test_units_are_converted_and_optional_per_value() -> None:
    p = parse_line("RAM 1000/2000MB (lfb 512x256kB) IRAM 10/252kB(lfb 200kB) VDD_IN 4771mW/4771 VDD_SOC 1.5W/1.4W "
                   "VIN 28548mW")
    check_clean(p)
    s = p.snapshot
    assert s.memory is not None and s.memory.lfb_block_bytes == 256 * KIB and s.memory.lfb_blocks == 512
    assert s.memory.iram_used_bytes == 10 * KIB
    assert rails(s) == {"VDD_IN": approx(4.771), "VDD_SOC": 1.5, "VIN": approx(28.548)}


def test_temperatures_negative_decimal_limit_suffix_and_repeated_names() -> None:
    p = parse_line("CPU@-5.5C tj@41.843C/105C cpu@40C PMIC@100C thermal@-256C GPU@-256.000C")
    check_clean(p)
    assert zones(p.snapshot) == {"cpu": -5.5, "tj": 41.843, "cpu1": 40.0}


def test_repeated_rail_names_are_numbered_like_the_sysfs_source() -> None:
    s = parse_line("VDD_IN 1000/1000 NC 0/0 VDD_IN 2000/2000 NC 5/5").snapshot
    assert rails(s) == {"VDD_IN": 1.0, "VDD_IN_2": 2.0}


def test_unknown_tokens_are_skipped_and_counted() -> None:
    p = parse_line("RAM 1/2MB FUTURE_TOKEN value CPU@banana VDD_IN 2532/ ??? GR3D_FREQ 50%@[1,x] VIC_FREQ 115")
    s = p.snapshot
    assert s.memory is not None and s.memory.total_bytes == 2 * MIB
    assert engines(s) == {"VIC": Engine("VIC", active=True, freq_hz=115 * MHZ)}
    assert s.rails == () and s.gpu is None  # a cut-off rail value and a garbled GPC list are not data
    assert p.unknown == ("FUTURE_TOKEN", "value", "CPU@banana", "VDD_IN", "2532/", "???", "GR3D_FREQ",
                         "50%@[1,x]")
    assert p.unknown_count == 8 and p.fields == 2


def test_unknown_tokens_are_reported_up_to_a_limit_but_all_counted() -> None:
    p = parse_line("RAM 1/2MB " + " ".join(f"junk{i}" for i in range(5000)))
    assert p.unknown_count == 5000 and len(p.unknown) == 8 and p.fields == 1


def test_non_numbers_are_not_values() -> None:
    p = parse_line("RAM nan/2MB CPU [inf%@1] VDD_IN 1_000/1 GR3D_FREQ NaN%")
    assert p.fields == 0 and p.snapshot == Snapshot()


def test_timestamps_in_the_boards_time_zone() -> None:
    line = "07-09-2024 13:31:31 RAM 1/2MB"
    assert parse_line(line, ZoneInfo("Europe/Berlin")).timestamp == utc("2024-07-09 11:31:31")  # CEST
    assert parse_line(line, ZoneInfo("America/New_York")).timestamp == utc("2024-07-09 17:31:31")
    assert parse_line("01-09-2024 13:31:31 RAM 1/2MB", ZoneInfo("Europe/Berlin")).timestamp == \
        utc("2024-01-09 12:31:31")  # CET


def test_an_invalid_timestamp_is_not_one() -> None:
    p = parse_line("13-45-2024 25:61:00 RAM 1/2MB")
    assert p.timestamp is None and p.unknown == ("13-45-2024", "25:61:00") and p.fields == 1


def test_empty_and_blank_lines_have_no_fields() -> None:
    for line in ("", "   ", "\t\n"):
        p = parse_line(line)
        assert p.fields == 0 and p.unknown_count == 0 and p.snapshot == Snapshot()


def test_whitespace_runs_and_trailing_blanks_are_separators(sample: Sample) -> None:
    line = sample("AGX Orin 64GB", "JetPack 6.2.1")
    spaced = "  " + line.replace(" ", "    ").replace("VDD_CPU_CV", "\tVDD_CPU_CV") + "   "
    assert parse_line(spaced) == parse_line(line)


def test_no_input_crashes_the_parser() -> None:
    """Random mixes of real fragments, garbage and cut-offs: always a ParsedLine, never an exception."""
    rng = random.Random(20240709)
    fragments = ["RAM", "SWAP", "IRAM", "CPU", "cpu", "MTS", "fg", "bg", "EMC", "EMC_FREQ", "GR3D_FREQ", "GR3D2_FREQ",
                 "GR3D_PCI", "APE", "VIC_FREQ", "NVENC", "off", "@", "[", "]", "%", "/", "(lfb", "(cached", ")",
                 "1/2MB", "3%@76", "@[1,2]", "x4MB)", "12", "-256C", "CPU@", "mW", "0/0", "nan", "\x00", "\ufffd",
                 "[1%@2,off", "07-09-2024", "13:31:31", "1e400", "--", "@@", "%%", "//"]
    glue = ["", " ", "  ", ",", "@", "/"]
    for _ in range(3000):
        text = "".join(rng.choice(fragments) + rng.choice(glue) for _ in range(rng.randint(0, 30)))
        parsed = parse_line(text)
        assert isinstance(parsed.snapshot, Snapshot)
