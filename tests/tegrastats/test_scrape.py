"""A scrape of every sample line is clean: `promtool check metrics` has nothing to say."""

from __future__ import annotations

import shutil
import subprocess
from typing import Dict

import pytest

from jetson_exporter.exporter import Exporter
from jetson_exporter.sources.tegrastats_parser import parse_line
from testkit.core import FakeClock, FakeCollector


def test_promtool_check_metrics_is_silent_for_every_sample(all_samples: Dict[str, str]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    for comment, line in all_samples.items():
        collector = FakeCollector("tegrastats", parse_line(line).snapshot)
        exporter = Exporter([collector], "tegrastats")
        clock = FakeClock()
        exporter.sampler.clock = clock
        exporter.sampler.tick()
        clock.advance(1.0)
        exporter.sampler.tick()  # counters have a value
        text = exporter.exposition_text()
        assert b"jetson_memory_total_bytes" in text
        check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
        assert (check.returncode, check.stdout + check.stderr) == (0, b""), comment
