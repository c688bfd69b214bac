"""nvpmodel power mode from its status file and configuration: no binary, no root."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, Optional

from jetson_exporter.readers.base import Reader
from jetson_exporter.readers.files import resolve_in_root
from jetson_exporter.snapshot import PowerMode, Snapshot

_POWER_MODEL = re.compile(r"<\s*POWER_MODEL\s+ID\s*=\s*(\d+)\s+NAME\s*=\s*([^\s>]+)\s*>")
_PMODE = re.compile(r"pmode:\s*(\d+)")


def parse_nvpmodel_conf(text: str) -> Dict[int, str]:
    """Mode id -> name from `< POWER_MODEL ID=2 NAME=MODE_30W >` lines."""
    return {int(m.group(1)): m.group(2) for m in _POWER_MODEL.finditer(text)}


def parse_status(text: str) -> Optional[int]:
    """`pmode:0002` -> 2 (the file may carry other tokens: only `pmode:` is trusted)."""
    m = _PMODE.search(text)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class _Plan:
    status: Optional[str]  # None until nvpmodel has written its status file
    names: Dict[int, str]


class PowerModeReader(Reader[_Plan]):
    name = "powermode"
    description = "nvpmodel power mode (id, name) and whether jetson_clocks pins the clocks"

    def discover(self) -> _Plan:
        conf = resolve_in_root(self.paths.rootfs, self.paths.root("etc", "nvpmodel.conf"))
        text = self.files.text(conf) if conf else None
        names = parse_nvpmodel_conf(text) if text else {}
        status = self.paths.root("var", "lib", "nvpmodel", "status")
        # Missing: nvpmodel has never run here and the mode is unknown; periodic rediscovery
        # notices when it appears.
        return _Plan(status if os.path.exists(status) else None, names)

    def sample(self, plan: _Plan) -> Snapshot:
        if plan.status is None:
            return Snapshot()
        text = self.files.text(plan.status)
        if text is None:
            return Snapshot()
        mode_id = parse_status(text)
        if mode_id is None:
            self.files.errors.append(f"unexpected content in {plan.status}: {text[:40]!r}")
            return Snapshot()
        return Snapshot(power_mode=PowerMode(id=mode_id, name=plan.names.get(mode_id)))
