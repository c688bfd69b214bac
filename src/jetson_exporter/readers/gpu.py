"""The integrated GPU, found through devfreq: load, clocks, governor, rail-gating, GPC clocks."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from jetson_exporter.paths import Paths
from jetson_exporter.readers.base import Reader
from jetson_exporter.readers.files import listdir
from jetson_exporter.snapshot import Gpu, Snapshot

# Device-tree node names of Jetson GPUs (TX2, Xavier, Orin JP5, Thor); Nano and Orin JP6 say "gpu".
GPU_NODE_NAMES = frozenset({"gp10b", "gv11b", "ga10b", "gb10b"})
_THOR_GPC = re.compile(r"gpu-gpc-(\d+)$")
_FLAG_FILES = (
    ("railgate_enabled", "railgate_enable"),
    ("railgated", "is_railgated"),
    ("scaling_3d_enabled", "enable_3d_scaling"),
)


def is_gpu(devfreq_name: str, node_name: Optional[str]) -> bool:
    if node_name and (node_name in GPU_NODE_NAMES or "gpu" in node_name):
        return True
    return devfreq_name.startswith("gpu-")


@dataclass(frozen=True)
class _Plan:
    name: Optional[str]
    freq_dir: str
    device_dir: str
    has_load: bool
    gpc_files: Tuple[str, ...]  # per-GPC clock in Hz: Thor devfreq cur_freq, or Orin debugfs counters
    flags: Tuple[Tuple[str, str], ...] = ()  # (Gpu field, file) for the on/off files this GPU has


@dataclass(frozen=True)
class _Settings:
    min_freq: Optional[int]
    max_freq: Optional[int]
    governor: Optional[str]
    flags: Dict[str, Optional[bool]]


class GpuReader(Reader[Optional[_Plan]]):
    name = "gpu"
    description = "GPU load, frequency, governor and rail-gating via devfreq (busy-seconds counter)"
    settled_rediscover_every = 300
    settings_read = "devfreq min_freq, max_freq, governor; rail-gating and 3D-scaling flags"

    def found(self, plan: Optional[_Plan]) -> bool:
        return plan is not None

    def __init__(self, paths: Paths, keep_open: bool = False) -> None:
        super().__init__(paths, keep_open)
        self._settings: Optional[_Settings] = None

    def discover(self) -> Optional[_Plan]:
        root = self.paths.sys("class", "devfreq")
        candidates: List[Tuple[int, str, _Plan]] = []
        thor_gpcs: List[Tuple[int, str]] = []
        for entry in listdir(root):
            link = os.path.join(root, entry)
            device = os.path.realpath(os.path.join(link, "device"))
            # Through self.files: an unreadable name is an error, not a crash of discovery
            # (a missing one is normal: Thor's GPU has no device-tree node).
            node = self.files.text(os.path.join(device, "of_node", "name"))
            if not is_gpu(entry, node):
                continue
            gpc = _THOR_GPC.match(entry)
            if gpc:
                thor_gpcs.append((int(gpc.group(1)), os.path.join(os.path.realpath(link), "cur_freq")))
            elif entry.startswith("gpu-"):
                continue  # Thor's other GPU clock domains (gpu-nvd-0) are not the graphics clock
            has_load = os.path.exists(os.path.join(device, "load"))
            plan = _Plan(node or entry, os.path.realpath(link), device, has_load, ())
            # Prefer the node with a load file, then the first GPC domain, then name order.
            rank = 0 if has_load else (1 if gpc and gpc.group(1) == "0" else 2)
            candidates.append((rank, entry, plan))
        if not candidates:
            return None
        candidates.sort(key=lambda c: (c[0], c[1]))
        plan = candidates[0][2]
        gpc_files = tuple(path for _, path in sorted(thor_gpcs))
        if not gpc_files:
            counters = []
            clk = self.paths.debug("bpmp", "debug", "clk")
            for entry in listdir(clk):
                m = re.fullmatch(r"nafll_gpc(\d+)", entry)
                path = os.path.join(clk, entry, "pto_counter")
                if m and self.files.privileged_integer(path) is not None:
                    counters.append((int(m.group(1)), path))
            gpc_files = tuple(path for _, path in sorted(counters))
        flags = tuple(
            (field, os.path.join(plan.device_dir, filename))
            for field, filename in _FLAG_FILES
            if os.path.exists(os.path.join(plan.device_dir, filename))
        )
        return _Plan(plan.name, plan.freq_dir, plan.device_dir, plan.has_load, gpc_files, flags)

    def _flag(self, path: str) -> Optional[bool]:
        text = self.files.text(path)
        if text is None:
            return None
        if text in ("1", "yes", "on", "Y"):
            return True
        if text in ("0", "no", "off", "N"):
            return False
        self.files.errors.append(f"unexpected content in {path}: {text[:40]!r}")
        return None

    def sample(self, plan: Optional[_Plan]) -> Snapshot:
        if plan is None:
            return Snapshot()
        f = plan.freq_dir
        utilization = None
        if plan.has_load:
            load = self.files.integer(plan.device_dir + "/load")
            if load is not None:
                utilization = min(max(load / 1000.0, 0.0), 1.0)
        cur = self.files.integer(f + "/cur_freq")
        settings = self._settings
        if settings is None or self.settings_due():
            errors = len(self.files.errors)
            settings = _Settings(self.files.integer(f + "/min_freq"), self.files.integer(f + "/max_freq"),
                                 self.files.text(f + "/governor") or None,
                                 {field: self._flag(path) for field, path in plan.flags})
            # an unreadable setting is tried again next time
            self._settings = settings if len(self.files.errors) == errors else None
        lo, hi, flags = settings.min_freq, settings.max_freq, settings.flags
        gpcs = []
        for path in plan.gpc_files:
            value = self.files.privileged_integer(path)
            if value is not None:
                gpcs.append(float(value))
        gpu = Gpu(
            name=plan.name,
            utilization=utilization,
            freq_hz=float(cur) if cur is not None else None,
            min_freq_hz=float(lo) if lo is not None else None,
            max_freq_hz=float(hi) if hi is not None else None,
            governor=settings.governor,
            railgate_enabled=flags.get("railgate_enabled"),
            railgated=flags.get("railgated"),
            scaling_3d_enabled=flags.get("scaling_3d_enabled"),
            gpc_freq_hz=tuple(gpcs) if len(gpcs) == len(plan.gpc_files) else (),
        )
        return Snapshot(gpu=gpu)
