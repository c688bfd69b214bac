"""Parse YAML documents into plain data with one-line errors (PyYAML: no ops dependency needed)."""

from __future__ import annotations

from typing import Any, Optional, Tuple

import yaml


def parse_yaml(text: str, where: str) -> Tuple[Optional[Any], Optional[str]]:
    """(data, None) or (None, "WHERE is not valid YAML at line N: PROBLEM")."""
    try:
        return yaml.safe_load(text), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        at = f" at line {mark.line + 1}" if mark is not None else ""
        return None, f"{where} is not valid YAML{at}: {problem}"
