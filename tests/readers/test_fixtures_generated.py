"""The checked-in fixture trees are exactly what the simulator's device-tree writer produces."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Tuple

import pytest

from jetson_exporter.simulate.devicetree import write_fixtures
from jetson_exporter.simulate.models import MODELS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REGENERATE = "python -m jetson_exporter.simulate.devicetree tests/fixtures"


def _entries(root: Path) -> Dict[str, Tuple[str, bytes]]:
    """Every file (content) and symlink (target) under root; directories are implied, as in git."""
    entries: Dict[str, Tuple[str, bytes]] = {}
    for directory, dirnames, filenames in os.walk(root):  # does not descend into linked directories
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                entries[rel] = ("link", os.readlink(path).encode())
            elif os.path.isfile(path):
                entries[rel] = ("file", Path(path).read_bytes())
    return entries


@pytest.mark.parametrize("model", sorted(MODELS))
def test_the_checked_in_tree_is_what_the_generator_writes(model: str, tmp_path: Path) -> None:
    write_fixtures(str(tmp_path), [model])
    generated = _entries(tmp_path / model)
    checked_in = _entries(FIXTURES / model)
    missing = sorted(set(generated) - set(checked_in))
    extra = sorted(set(checked_in) - set(generated))
    changed = sorted(p for p in set(generated) & set(checked_in) if generated[p] != checked_in[p])
    assert (missing, extra, changed) == ([], [], []), f"tests/fixtures/{model} is stale: run `{REGENERATE}`"
    # Git keeps no empty directory: a generated one would be missing from a checkout.
    empty = [d for d, dirnames, filenames in os.walk(tmp_path / model) if not dirnames and not filenames]
    assert empty == []


def test_the_fixtures_readme_names_the_command() -> None:
    assert REGENERATE in (FIXTURES / "README.md").read_text()
