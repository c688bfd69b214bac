"""RAM, NvMap GPU allocations, swap, largest free block (buddyinfo) and IRAM (tegra210, root)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from jetson_exporter.readers.base import Reader
from jetson_exporter.readers.files import read_str
from jetson_exporter.snapshot import Memory, Snapshot

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# The /proc/meminfo keys the reader uses; matching only these halves the parse of ~55 lines.
MEMINFO_KEYS = ("MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "SwapTotal", "SwapFree",
                "SReclaimable", "NvMapMemUsed")
_MEMINFO_LINE = re.compile("^(" + "|".join(MEMINFO_KEYS) + r"):\s+(\d+) kB$", re.M)


def parse_meminfo(text: str) -> Dict[str, float]:
    """The `MEMINFO_KEYS` of `/proc/meminfo`, in bytes (the file says kB)."""
    return {key: int(value) * 1024.0 for key, value in _MEMINFO_LINE.findall(text)}


def parse_buddyinfo(text: str, page_size: int = _PAGE_SIZE) -> Optional[Tuple[float, float]]:
    """(free blocks, block bytes) at the highest order the allocator has, summed over zones."""
    orders = None
    total = 0
    for line in text.splitlines():
        fields = line.split()
        if "zone" not in fields:
            continue
        counts = fields[fields.index("zone") + 2 :]
        try:
            values = [int(v) for v in counts]
        except ValueError:
            continue
        if not values:
            continue
        orders = max(orders or 0, len(values))
        if len(values) == orders:
            total += values[-1]
    if orders is None:
        return None
    return float(total), float(page_size * 2 ** (orders - 1))


@dataclass(frozen=True)
class _Plan:
    iram_size: Optional[str]  # debugfs nvmap/iram/size, hex bytes, root only


class MemoryReader(Reader[_Plan]):
    name = "memory"
    description = "RAM, GPU-shared (NvMap) memory, swap, largest free block and IRAM"

    def discover(self) -> _Plan:
        iram = self.paths.debug("nvmap", "iram", "size")
        try:
            readable = bool(read_str(iram))
        except Exception:
            readable = False
        return _Plan(iram if readable else None)

    def sample(self, plan: _Plan) -> Snapshot:
        meminfo = self.paths.proc("meminfo")
        text = self.files.text(meminfo)
        if text is None:
            return Snapshot()
        info = parse_meminfo(text)
        if "MemTotal" not in info:  # empty or not meminfo at all: nothing in it can be trusted
            self.files.errors.append(f"unexpected content in {meminfo}: {text[:40]!r}")
            return Snapshot()
        total = info.get("MemTotal")
        free = info.get("MemFree")
        buffers = info.get("Buffers")
        page_cache = info.get("Cached")
        cached = None
        if page_cache is not None:
            cached = page_cache + info.get("SReclaimable", 0.0)
        used = None
        if None not in (total, free, buffers, page_cache):
            used = max(total - free - buffers - page_cache, 0.0)  # type: ignore[operator]
        swap_total = info.get("SwapTotal")
        swap_free = info.get("SwapFree")
        swap_used = swap_total - swap_free if swap_total is not None and swap_free is not None else None
        lfb = None
        buddyinfo = self.paths.proc("buddyinfo")
        buddy = self.files.text(buddyinfo)
        if buddy is not None:
            lfb = parse_buddyinfo(buddy)
            if lfb is None:
                self.files.errors.append(f"unexpected content in {buddyinfo}: {buddy[:40]!r}")
        iram_total = None
        if plan.iram_size:
            # Hexadecimal bytes, with or without 0x; root-only, so unreadable means unavailable.
            iram_text = self.files.privileged_text(plan.iram_size)
            if iram_text:
                try:
                    iram_total = int(iram_text, 16)
                except ValueError:
                    self.files.errors.append(f"unexpected content in {plan.iram_size}: {iram_text[:40]!r}")
        return Snapshot(
            memory=Memory(
                total_bytes=total,
                used_bytes=used,
                free_bytes=free,
                available_bytes=info.get("MemAvailable"),
                buffers_bytes=buffers,
                cached_bytes=cached,
                gpu_shared_bytes=info.get("NvMapMemUsed"),
                swap_total_bytes=swap_total,
                swap_used_bytes=swap_used,
                swap_cached_bytes=info.get("SwapCached"),
                lfb_blocks=lfb[0] if lfb else None,
                lfb_block_bytes=lfb[1] if lfb else None,
                iram_total_bytes=float(iram_total) if iram_total is not None else None,
            )
        )
