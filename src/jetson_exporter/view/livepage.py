"""The exporter's live page: a JSON view of the latest Sample and the static page that draws it."""

from __future__ import annotations

import dataclasses
from importlib import resources
from typing import Any, Dict, List, Optional

from jetson_exporter import __version__
from jetson_exporter.sampler import Sample


def _clean(obj: Any) -> Any:
    return {k: v for k, v in dataclasses.asdict(obj).items() if k != "times_s"} if obj is not None else None


def snapshot_document(sample: Sample, source: str, detected: Optional[bool]) -> Dict[str, Any]:
    """Everything the page shows, in the model's SI units; absent values are null or missing."""
    s = sample.snapshot
    c = sample.counters
    collectors: List[Dict[str, Any]] = [
        {"name": h.name, "success": h.success, "duration_s": h.duration_s, "last_error": h.last_error}
        for h in sample.health
    ]
    return {
        "version": __version__,
        "source": source,
        "device_detected": detected,
        "timestamp": sample.timestamp if sample.generation else None,
        "board": _clean(s.board),
        "power_mode": _clean(s.power_mode),
        "jetson_clocks": s.jetson_clocks,
        "cpus": [_clean(core) for core in s.cpus],
        "gpu": _clean(s.gpu),
        "emc": _clean(s.emc),
        "memory": _clean(s.memory),
        "engines": [_clean(e) for e in s.engines],
        "thermal": [_clean(z) for z in s.thermal],
        "rails": [_clean(r) for r in s.rails],
        "board_power_w": s.board_power_w(),
        "fans": [_clean(f) for f in s.fans],
        "counters": {
            "gpu_busy_s": c.gpu_busy_s,
            "board_energy_j": c.board_energy_j,
            "energy_j": dict(c.energy_j),
            "engine_active_s": dict(c.engine_active_s),
        },
        "collectors": collectors,
    }


_PAGE: Optional[bytes] = None


def page() -> bytes:
    """The page: one self-contained file (no external assets, works offline and behind auth)."""
    global _PAGE
    if _PAGE is None:
        _PAGE = resources.files("jetson_exporter.view").joinpath("assets/live.html").read_bytes()
    return _PAGE
