"""How often readers read what: values every tick, settings every `settings_every` reads, and
discovery again for hardware that was not there (see docs/METRICS.md, "How often the files are
read")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Tuple

import pytest

if TYPE_CHECKING:
    from readers.conftest import Exporter, Tree


@dataclass(frozen=True)
class Setting:
    collector: str
    file: str  # relative to the AGX Orin tree
    data: bytes
    metric: str
    labels: Tuple[Tuple[str, str], ...]
    expected: float

    @property
    def id(self) -> str:
        return f"{self.collector}:{os.path.basename(self.file)}"


SETTINGS = [
    Setting("cpu", "sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq", b"1497600\n",
            "jetson_cpu_frequency_max_hertz", (("cpu", "0"),), 1497600e3),
    Setting("gpu", "sys/devices/platform/bus@0/17000000.gpu/devfreq/17000000.gpu/max_freq", b"612000000\n",
            "jetson_gpu_frequency_max_hertz", (), 612e6),
    Setting("emc", "sys/kernel/debug/bpmp/debug/clk/emc/max_rate", b"2133000000\n",
            "jetson_emc_frequency_max_hertz", (), 2133e6),
    # NVENC is off in the fixture (clk_enable_count 0): its rate is the one it will start at.
    Setting("engines", "sys/kernel/debug/clk/nvenc/clk_rate", b"396800000\n",
            "jetson_engine_frequency_hertz", (("engine", "NVENC"),), 396.8e6),
]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.id)
def test_a_changed_setting_shows_on_the_next_settings_read_and_not_before(
    tree: Callable[[str], Tree], exporter: Callable[..., Exporter], setting: Setting
) -> None:
    orin = tree("agx-orin-jp6")
    board = exporter(orin.root, [setting.collector])
    labels = dict(setting.labels)
    before = board.scrape().value(setting.metric, **labels)
    assert before is not None and before != setting.expected
    orin.write(setting.file, setting.data)
    every = board.reader(setting.collector).settings_every
    for _ in range(every - 1):
        assert board.scrape().value(setting.metric, **labels) == before  # kept between settings reads
    assert board.scrape().value(setting.metric, **labels) == pytest.approx(setting.expected)


def test_the_clock_of_an_engine_that_is_on_is_read_every_tick(
    tree: Callable[[str], Tree], exporter: Callable[..., Exporter]
) -> None:
    orin = tree("agx-orin-jp6")
    board = exporter(orin.root, ["engines"])
    assert board.scrape().value("jetson_engine_active", engine="VIC") == 1.0
    orin.write("sys/kernel/debug/clk/vic/clk_rate", b"115200000\n")
    assert board.scrape().value("jetson_engine_frequency_hertz", engine="VIC") == pytest.approx(115.2e6)


def test_a_gpu_whose_driver_probes_late_is_found_within_a_rediscovery_period(
    fresh_tree: Callable[[str], Path], exporter: Callable[..., Exporter]
) -> None:
    root = fresh_tree("agx-orin-jp6")
    link = root / "sys/class/devfreq/17000000.gpu"
    target = os.readlink(link)
    link.unlink()
    board = exporter(root, ["gpu"])
    assert board.scrape().value("jetson_gpu_frequency_hertz") is None
    os.symlink(target, link)
    period = board.reader("gpu").rediscover_every
    seen_at = next((n for n in range(1, period + 1) if board.scrape().value("jetson_gpu_frequency_hertz")), None)
    assert seen_at is not None, f"the GPU was not found within {period} reads"
    assert board.scrape().value("jetson_gpu_frequency_hertz") == 918e6  # the fixture's cur_freq
