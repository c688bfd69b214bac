"""The README's scrape excerpt is what the exporter serves for the fixture it names."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Tuple

from testkit.core import parse_exposition

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _excerpt() -> Tuple[str, str]:
    """(the fixture tree the README names, the scrape lines it shows)."""
    section = README.read_text().split("## What a scrape looks like", 1)[1]
    match = re.search(r"the `(tests/fixtures/[^`]+)` tree.*?```\n(.*?)```", section, re.S)
    assert match, "the README's scrape excerpt names no fixture tree"
    return match.group(1), match.group(2)


def test_every_gauge_in_the_readme_excerpt_is_served_with_that_value() -> None:
    fixture, body = _excerpt()
    result = subprocess.run([sys.executable, "-m", "jetson_exporter", "--once", "--root", str(ROOT / fixture)],
                            capture_output=True, text=True, timeout=60, check=True)
    served = parse_exposition(result.stdout)
    shown = parse_exposition(body)
    assert len(shown) >= 10
    for series, value in shown.items():
        assert series in served, f"README shows {series}, the exporter does not serve it"
        if series.split("{")[0].endswith("_total"):
            # Counters grow with the time --once takes between its two readings: only their presence is fixed.
            assert served[series] > 0, series
        else:
            assert served[series] == value, f"README shows {series} {value}, the exporter serves {served[series]}"
