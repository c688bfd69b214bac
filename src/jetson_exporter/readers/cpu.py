"""CPU cores: online state, clocks and governor per cpufreq policy, time counters from /proc/stat."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Mapping, Optional, Tuple

from jetson_exporter.paths import Paths
from jetson_exporter.readers.base import Reader
from jetson_exporter.readers.files import listdir
from jetson_exporter.snapshot import CPU_MODES, CpuCore, Snapshot

_CPU_DIR = re.compile(r"cpu(\d+)$")
_CLK_TCK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


def parse_cpu_list(text: str) -> List[int]:
    """Kernel range list (`0-3,6,8-11`) to indices; garbage raises ValueError."""
    cpus: List[int] = []
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            cpus.extend(range(int(lo), int(hi) + 1))
        else:
            cpus.append(int(part))
    return cpus


def parse_proc_stat(text: str) -> Dict[int, Dict[str, float]]:
    """Per-core cumulative seconds by mode from /proc/stat `cpuN` lines."""
    result: Dict[int, Dict[str, float]] = {}
    modes = len(CPU_MODES)
    for line in text.splitlines():
        if not line.startswith("cpu"):
            if result:
                break  # the cpuN lines come first; the rest (intr, ctxt, ...) can be long
            continue
        fields = line.split(None, modes + 1)
        if fields[0] == "cpu":
            continue  # the all-cores total
        try:
            index = int(fields[0][3:])
            result[index] = dict(zip(CPU_MODES, [int(v) / _CLK_TCK for v in fields[1 : 1 + modes]]))
        except (ValueError, IndexError):
            continue
    return result


def cpu_utilization(prev: Optional[Mapping[str, float]], cur: Optional[Mapping[str, float]]) -> Optional[float]:
    """Busy share of one core between two /proc/stat readings."""
    if not prev or not cur:
        return None
    total = sum(cur.values()) - sum(prev.values())
    if total <= 0:
        return None
    idle = (cur.get("idle", 0.0) - prev.get("idle", 0.0)) + (cur.get("iowait", 0.0) - prev.get("iowait", 0.0))
    return min(max(1.0 - idle / total, 0.0), 1.0)


_Clocks = Tuple[Optional[float], Optional[float], Optional[float], Optional[str]]
_NO_CLOCKS: _Clocks = (None, None, None, None)


@dataclass(frozen=True)
class _Policy:
    directory: str
    cpus: FrozenSet[int]
    # cur (scaling_cur_freq, or cpuinfo_cur_freq where the former is missing), min, max, governor
    files: Tuple[str, str, str, str]


@dataclass(frozen=True)
class _Plan:
    cpus: Tuple[int, ...]
    policies: Tuple[_Policy, ...]
    per_cpu_online: bool  # no global `online` file: read cpuN/online
    online_files: FrozenSet[int]  # cores with a cpuN/online file (cpu0 usually has none: always online)


class CpuReader(Reader[_Plan]):
    name = "cpu"
    description = "per-core online state, frequency, governor and /proc/stat time"
    settled_rediscover_every = 300
    settings_read = "scaling_min_freq, scaling_max_freq, scaling_governor"

    def found(self, plan: _Plan) -> bool:
        return bool(plan.cpus and plan.policies)

    def _cpu_root(self, *parts: str) -> str:
        return self.paths.sys("devices", "system", "cpu", *parts)

    def discover(self) -> _Plan:
        cpus: List[int] = []
        present = self.files.text(self._cpu_root("present")) or self.files.text(self._cpu_root("possible"))
        if present:
            try:
                cpus = parse_cpu_list(present)
            except ValueError:
                self.files.errors.append(f"unexpected content in {self._cpu_root('present')}: {present[:40]!r}")
        if not cpus:
            cpus = sorted(int(m.group(1)) for m in map(_CPU_DIR.match, listdir(self._cpu_root())) if m)
        policies: List[_Policy] = []
        policy_root = self._cpu_root("cpufreq")
        for entry in listdir(policy_root):
            if not entry.startswith("policy"):
                continue
            directory = os.path.join(policy_root, entry)
            related = self.files.text(os.path.join(directory, "related_cpus"))
            try:
                members = frozenset(int(c) for c in related.split()) if related else frozenset()
            except ValueError:
                continue
            if members:
                policies.append(_Policy(directory, members, self._policy_files(directory)))
        if not policies:  # older kernels: one cpufreq directory per core
            for cpu in cpus:
                directory = self._cpu_root(f"cpu{cpu}", "cpufreq")
                if os.path.isdir(directory):
                    policies.append(_Policy(directory, frozenset({cpu}), self._policy_files(directory)))
        per_cpu_online = not os.path.exists(self._cpu_root("online"))
        online_files = frozenset(c for c in cpus if os.path.exists(self._cpu_root(f"cpu{c}", "online")))
        return _Plan(tuple(cpus), tuple(policies), per_cpu_online, online_files)

    @staticmethod
    def _policy_files(directory: str) -> Tuple[str, str, str, str]:
        scaling = os.path.join(directory, "scaling_cur_freq")
        cur = scaling if os.path.exists(scaling) else os.path.join(directory, "cpuinfo_cur_freq")
        return (cur, os.path.join(directory, "scaling_min_freq"), os.path.join(directory, "scaling_max_freq"),
                os.path.join(directory, "scaling_governor"))

    def _online(self, plan: _Plan) -> Tuple[FrozenSet[int], FrozenSet[int]]:
        """(online cores, cores whose state could not be read)."""
        if not plan.per_cpu_online:
            path = self._cpu_root("online")
            text = self.files.text(path)
            if text:
                try:
                    return frozenset(parse_cpu_list(text)), frozenset()
                except ValueError:
                    pass
            if text is not None:  # cpu0 is always online, so an empty list is as broken as garbage
                self.files.errors.append(f"unexpected content in {path}: {text[:40]!r}")
        online = set()
        unknown = set()
        for cpu in plan.cpus:
            if cpu not in plan.online_files:
                online.add(cpu)  # a core without an `online` file cannot be switched off
                continue
            path = self._cpu_root(f"cpu{cpu}", "online")
            flag = self.files.text(path)
            if flag == "1":
                online.add(cpu)
            elif flag != "0":
                unknown.add(cpu)  # unreadable: neither state is known, so the core is left out
                if flag is not None:
                    self.files.errors.append(f"unexpected content in {path}: {flag[:40]!r}")
        return frozenset(online), frozenset(unknown)

    def __init__(self, paths: Paths, keep_open: bool = False) -> None:
        super().__init__(paths, keep_open)
        # Per policy directory: scaling_min_freq, scaling_max_freq (kHz), governor.
        self._settings: Dict[str, Tuple[Optional[int], Optional[int], Optional[str]]] = {}
        # The last /proc/stat reading per core: utilization is the busy share since then.
        self._prev_times: Mapping[int, Mapping[str, float]] = {}

    def sample(self, plan: _Plan) -> Snapshot:
        online, unknown = self._online(plan)
        stat_path = self.paths.proc("stat")
        stat_text = self.files.text(stat_path)
        times = parse_proc_stat(stat_text) if stat_text else {}
        if stat_text is not None and not times:  # every /proc/stat has cpuN lines for online cores
            self.files.errors.append(f"unexpected content in {stat_path}: {stat_text[:40]!r}")
        clocks: Dict[int, _Clocks] = {}
        for policy in plan.policies:
            if not (policy.cpus & online):
                continue  # offline cores have no usable cpufreq data
            cur_file, min_file, max_file, governor_file = policy.files
            cur = self.files.integer(cur_file)
            settings = self._settings.get(policy.directory)
            if settings is None or self.settings_due():
                errors = len(self.files.errors)
                settings = (self.files.integer(min_file), self.files.integer(max_file), self.files.text(governor_file))
                if len(self.files.errors) == errors:  # an unreadable setting is tried again next time
                    self._settings[policy.directory] = settings
                else:
                    self._settings.pop(policy.directory, None)
            lo, hi, governor = settings
            entry = (
                cur * 1000.0 if cur is not None else None,
                lo * 1000.0 if lo is not None else None,
                hi * 1000.0 if hi is not None else None,
                governor or None,
            )
            for cpu in policy.cpus:
                clocks[cpu] = entry
        cores = []
        prev_times = self._prev_times
        for cpu in plan.cpus:
            if cpu in unknown:
                continue
            is_online = cpu in online
            freq_hz, min_hz, max_hz, gov = clocks.get(cpu, _NO_CLOCKS) if is_online else _NO_CLOCKS
            core_times = times.get(cpu)
            cores.append(
                CpuCore(
                    index=cpu,
                    online=is_online,
                    freq_hz=freq_hz,
                    min_freq_hz=min_hz,
                    max_freq_hz=max_hz,
                    governor=gov,
                    times_s=core_times,
                    utilization=cpu_utilization(prev_times.get(cpu), core_times) if is_online else None,
                )
            )
        self._prev_times = times
        return Snapshot(cpus=tuple(cores))
