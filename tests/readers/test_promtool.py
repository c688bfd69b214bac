"""`promtool check metrics` has nothing to say about a full scrape of any fixture."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

from jetson_exporter.simulate.models import MODELS

if TYPE_CHECKING:
    from readers.conftest import Exporter

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package `prometheus`)")
@pytest.mark.parametrize("model", sorted(MODELS))
def test_promtool_prints_nothing_for_a_full_scrape(model: str, exporter: Callable[..., Exporter]) -> None:
    board = exporter(FIXTURES / model)
    board.scrape()
    board.scrape()  # the second tick fills the counters
    text = board.text()
    assert "jetson_board_energy_joules_total" in text or model == "nano-2gb-jp4"
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
